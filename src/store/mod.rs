//! The loader's bookkeeping in the course database: every statement that is not a row of a loaded
//! table. Preparing the databases and taking the load lock ([`connect`]), what the server allows
//! ([`server`]), the ledger of loaded files, lines and rejects ([`ledger`]), the state carried from
//! file to file ([`carried_state`]), the dictionaries earlier loads wrote ([`known_entries`]) and
//! what `moocdb status` reports ([`status`]).

pub mod carried_state;
pub mod connect;
pub mod known_entries;
pub mod ledger;
pub mod server;
pub mod status;

pub use connect::{LoadLock, lock, prepare, unlock};

use crate::error::LoadError;

/// The error for a failed bookkeeping statement: `what` says what the loader was doing.
fn query_error(what: &str) -> impl Fn(sqlx::Error) -> LoadError + '_ {
    move |e| LoadError::query(what, e)
}
