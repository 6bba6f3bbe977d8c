//! The loader's bookkeeping in the course database: the ledger of loaded files, lines and rejects
//! ([`ledger`]), the state carried from file to file ([`carried_state`]) and what `moocdb status`
//! reports ([`status`]).

pub mod carried_state;
pub mod ledger;
pub mod status;

use crate::error::LoadError;

/// The error for a failed bookkeeping statement: `what` says what the loader was doing.
fn query_error(what: &str) -> impl Fn(sqlx::Error) -> LoadError + '_ {
    move |e| LoadError::query(what, e)
}
