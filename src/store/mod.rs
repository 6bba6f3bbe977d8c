//! The loader's bookkeeping in the course database: every statement that is not a row of a loaded
//! table. Preparing the databases and taking the load lock ([`connect`]), what the server allows
//! ([`server`]), the ledger of loaded files, lines and rejects ([`ledger`]), the state carried from
//! file to file ([`carried_state`]), the course databases of a split ([`course_databases`]), the dictionaries earlier loads wrote ([`known_entries`]) and
//! what `moocdb status` reports ([`status`]).

pub mod carried_state;
pub mod connect;
pub mod course_databases;
pub mod known_entries;
pub mod ledger;
pub mod server;
pub mod status;

pub use connect::{LoadLock, PreparedDatabase, lock, prepare, prepare_course_database, unlock};

use crate::error::LoadError;

/// The error for a failed bookkeeping statement: `what` says what the loader was doing.
fn query_error(what: &str) -> impl Fn(sqlx::Error) -> LoadError + '_ {
    move |e| LoadError::query(what, e)
}

/// The value of the setting `name` in `moocdb_loader_settings`, if the database has it.
async fn setting(pool: &sqlx::mysql::MySqlPool, name: &str) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT value FROM moocdb_loader_settings WHERE name = ?")
        .bind(name)
        .fetch_optional(pool)
        .await
}

/// Runs `statements` in one transaction on `pool`; an error says the loader was doing `what`.
async fn in_one_transaction(
    pool: &sqlx::mysql::MySqlPool,
    statements: impl IntoIterator<Item = String>,
    what: &str,
) -> Result<(), LoadError> {
    let e = query_error(what);
    let mut tx = pool.begin().await.map_err(&e)?;
    for statement in statements {
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
            .execute(&mut *tx)
            .await
            .map_err(&e)?;
    }
    tx.commit().await.map_err(&e)?;
    Ok(())
}

/// Appends `s` as a single-quoted SQL literal. The loader's sessions never set
/// `NO_BACKSLASH_ESCAPES` and speak utf8mb4, so backslash escapes are exact.
fn push_literal(sql: &mut Vec<u8>, s: &str) {
    sql.push(b'\'');
    for &b in s.as_bytes() {
        match b {
            b'\\' => sql.extend_from_slice(b"\\\\"),
            b'\'' => sql.extend_from_slice(b"\\'"),
            b'"' => sql.extend_from_slice(b"\\\""),
            b'\n' => sql.extend_from_slice(b"\\n"),
            b'\r' => sql.extend_from_slice(b"\\r"),
            0 => sql.extend_from_slice(b"\\0"),
            0x1a => sql.extend_from_slice(b"\\Z"),
            _ => sql.push(b),
        }
    }
    sql.push(b'\'');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_escape_every_byte_the_server_would_read_otherwise() {
        let mut sql = Vec::new();
        push_literal(&mut sql, "it's \"x\"\\\n\r\0\u{1a}ü\t");
        assert_eq!(
            String::from_utf8(sql).unwrap(),
            "'it\\'s \\\"x\\\"\\\\\\n\\r\\0\\Zü\t'"
        );
    }
}
