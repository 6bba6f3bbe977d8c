//! moocdb-loader: streams edX / Open edX tracking logs into a MySQL course database, as
//! json_to_relation's intermediary relations and MOOCdb's tables, in one pass.
//!
//! The pipeline, one module per stage:
//! [`source`] → [`decode`] → [`parse`] → [`relations`] → [`moocdb`] → [`sink`],
//! wired together by [`load`]. [`store`] holds every bookkeeping statement: the databases
//! prepared and locked, the ledger, the state carried from file to file ([`state`]), and the
//! dictionaries earlier loads wrote, read back for the MOOCdb stage.
#![warn(missing_docs)]

pub mod decode;
pub mod error;
pub mod fingerprint;
pub mod generate;
pub mod identity;
pub mod load;
pub mod moocdb;
pub mod parse;
pub mod progress;
pub mod relations;
pub mod report;
pub mod schema;
pub mod sink;
pub mod source;
pub mod state;
pub mod store;
pub mod text_cache;

pub use error::LoadError;
pub use load::{LoadOptions, LoadSummary, MethodChoice, run};
