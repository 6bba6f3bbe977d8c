//! moocdb-loader: streams edX / Open edX tracking logs into a MySQL course database, as
//! json_to_relation's intermediary relations and MOOCdb's tables, in one pass.
//!
//! The pipeline, one module per stage:
//!
//! ```text
//! source ──► decode ──► parse ──► relations ──► moocdb ──► sink ──► MySQL
//! (files,    (prefixes, (one      (EdxTrackEvent, (observed events, (LOAD DATA or
//!  gzip,      repairs)   tracking   Answer, …:      resources,        prepared INSERT,
//!  stdin)                event)     json_to_        submissions,      per table)
//!                                   relation)       collaborations …)
//!                 load: wires the stages per file, commits groups of files; with
//!                       `{course}` in the URL, one transform per course database
//!                 store: ledger, carried state, locks, dictionaries read back
//! ```
//!
//! [`source`] → [`decode`] → [`parse`] → [`relations`] → [`moocdb`] → [`sink`], wired together
//! by [`load`]. A split load (`load::course_databases`) reads each file once and hands each
//! event to its course database's transform; one set of writers serves them all.
//! [`store`] holds every bookkeeping statement: the databases prepared and locked,
//! the ledger, the state carried from file to file ([`state`]), and the dictionaries earlier
//! loads wrote, read back for the MOOCdb stage.
//!
//! # Adding an event type
//!
//! 1. Its relations: give it a family in `relations/handlers.rs` (`family`, then its columns
//!    and side-table rows in `apply`), with a test of `relations_of` in `relations/tests.rs`.
//! 2. Its MOOCdb rows: an observed event comes with every type not in `NOT_OBSERVED`
//!    (`moocdb/observed_events.rs`), on the resource of its page and the module it names
//!    (`moocdb/resources.rs`); a grade is a `Grading` (`moocdb/grading.rs`, written in
//!    `moocdb/submissions.rs`); a forum or wiki contribution a `Contribution`
//!    (`moocdb/collaborations.rs`). Each family tests "events in, rows out" with its `rows_of`.
//! 3. Its line in both tables of `docs/event-types.md`.
//!
//! # Adding a table
//!
//! 1. A migration in `migrations/` (`migrations_private/` for personal data).
//! 2. Its declaration in [`schema`], once, in the `tables!` list: the variant, its SQL name,
//!    its family (which database and model), and its row type with one field per column in the
//!    migration's order. `Table::ALL`, `name`, `columns` and the encoder come from it; the
//!    writers, the crash and batch tests and the column test take it from there.
//! 3. Its rows: `rows.push(&ItsRow { column: value, … })` in the stage that maps it; `grep` for
//!    the row type finds every place it is built.
//! 4. Where it references dictionary rows or events: `store/ledger.rs` (`recover` and
//!    `forget_file`), so that a crashed or reloaded file's rows go with it.
//! 5. `docs/schema.md` (and `docs/deviations.md` for any difference from a reference schema).
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
