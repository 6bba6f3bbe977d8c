//! What the course database holds: `moocdb status`'s report from the ledger and the tables, and
//! the tables' statistics refreshed after a load.

use std::collections::BTreeMap;

use sqlx::Row;
use sqlx::mysql::MySqlPool;

use super::query_error;
use crate::error::LoadError;
use crate::schema::Table;

/// One ledger entry.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FileStatus {
    /// Ledger id.
    pub file_id: i64,
    /// The path as given when loaded.
    pub path: String,
    /// `loaded`, `loading` (interrupted) or `failed`.
    pub status: String,
    /// Lines read.
    pub lines: i64,
    /// Events accepted.
    pub events: i64,
    /// Lines rejected.
    pub rejected: i64,
    /// When the load of this file finished (UTC).
    pub finished_at: Option<String>,
}

/// The state of a course database.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DatabaseStatus {
    /// The database.
    pub database: String,
    /// Every ledger entry, oldest first.
    pub files: Vec<FileStatus>,
    /// Rows per table.
    pub rows: Vec<(String, i64)>,
    /// Rejected lines stored.
    pub rejects: i64,
}

/// Reads the status of the course database `pool` is connected to.
pub async fn read(pool: &MySqlPool, database: &str) -> Result<DatabaseStatus, LoadError> {
    let files = sqlx::query(
        "SELECT file_id, path, status, lines_read, events, rejected, \
         CAST(finished_at AS CHAR) FROM moocdb_loader_files ORDER BY file_id",
    )
    .fetch_all(pool)
    .await
    .map_err(query_error("reading the ledger"))?
    .into_iter()
    .map(|r| FileStatus {
        file_id: r.get(0),
        path: r.get(1),
        status: r.get(2),
        lines: r.get(3),
        events: r.get(4),
        rejected: r.get(5),
        finished_at: r.get(6),
    })
    .collect();
    let mut rows = Vec::new();
    for table in Table::ALL.iter().filter(|t| !t.is_private()) {
        let sql = format!("SELECT COUNT(*) FROM `{}`", table.name());
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_one(pool)
            .await
            .map_err(query_error("counting rows"))?;
        rows.push((table.name().to_string(), n));
    }
    let rejects: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM moocdb_loader_rejects")
        .fetch_one(pool)
        .await
        .map_err(query_error("counting rejects"))?;
    Ok(DatabaseStatus {
        database: database.to_string(),
        files,
        rows,
        rejects,
    })
}

/// Refreshes the statistics of the tables that grew by the `rows` a load wrote (by table name),
/// in one `ANALYZE TABLE` naming them all: a split refreshes a hundred course databases, and one
/// statement each instead of one per table (1,618 statements for 100 courses) spares the server
/// their parsing, opening and commits.
pub async fn refresh_statistics(pool: &MySqlPool, rows: &BTreeMap<String, u64>) {
    // Tables are created with STATS_AUTO_RECALC=0; refresh statistics of the tables that grew.
    let grown: Vec<String> = (Table::ALL.iter())
        .filter(|t| !t.is_private() && rows.get(t.name()).copied().unwrap_or(0) > 0)
        .map(|t| format!("`{}`", t.name()))
        .collect();
    if grown.is_empty() {
        return;
    }
    // The server analyzes each table in turn and reports a table it could not analyze in the
    // statement's result, not as the statement's error.
    let sql = format!("ANALYZE TABLE {}", grown.join(", "));
    if let Err(e) = sqlx::raw_sql(sqlx::AssertSqlSafe(sql.as_str()))
        .execute(pool)
        .await
    {
        tracing::debug!("{sql} failed: {e}");
    }
}
