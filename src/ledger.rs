//! The loader's bookkeeping: one ledger row per loaded file (`moocdb_loader_files`) and every
//! rejected line (`moocdb_loader_rejects`).

use std::collections::BTreeMap;
use std::io::Write;

use sqlx::Row;
use sqlx::mysql::MySqlPool;

use crate::error::LoadError;

/// Raw bytes of a rejected line are kept up to this size.
pub const REJECT_RAW_LIMIT: usize = 64 * 1024;

/// A line that could not be loaded.
#[derive(Debug, Clone)]
pub struct Reject {
    /// 1-based line number.
    pub line_number: u64,
    /// Byte offset of the line in the decompressed file.
    pub byte_offset: u64,
    /// Why it was rejected.
    pub reason: String,
    /// The line's full length in bytes.
    pub raw_length: u64,
    /// The line's first bytes (at most [`REJECT_RAW_LIMIT`]).
    pub raw: Vec<u8>,
}

/// Per-file counts recorded in the ledger.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct FileCounts {
    /// Lines read.
    pub lines: u64,
    /// Lines accepted as events.
    pub events: u64,
    /// Lines rejected.
    pub rejected: u64,
    /// Lines identical to an event already loaded.
    pub duplicates: u64,
    /// Blank and comment lines.
    pub skipped: u64,
    /// Decompressed bytes read.
    pub bytes: u64,
    /// Rows produced per table.
    pub rows: BTreeMap<String, u64>,
}

fn query_error(what: &'static str) -> impl Fn(sqlx::Error) -> LoadError {
    move |e| LoadError::Query {
        what: what.to_string(),
        message: e.to_string(),
    }
}

/// The ledger id of a file with this content that is already fully loaded.
pub async fn already_loaded(
    pool: &MySqlPool,
    content_hash: &str,
) -> Result<Option<i64>, LoadError> {
    let row = sqlx::query(
        "SELECT file_id FROM moocdb_loader_files WHERE content_hash = ? AND status = 'loaded' LIMIT 1",
    )
    .bind(content_hash)
    .fetch_optional(pool)
    .await
    .map_err(query_error("checking the ledger"))?;
    Ok(row.map(|r| r.get::<i64, _>(0)))
}

/// Records the start of a file's load; returns its ledger id.
pub async fn start_file(
    pool: &MySqlPool,
    path: &str,
    content_hash: &str,
    size: u64,
    load_info_id: &str,
) -> Result<i64, LoadError> {
    let result = sqlx::query(
        "INSERT INTO moocdb_loader_files (path, content_hash, size_bytes, bytes_loaded, lines_read, \
         events, rejected, duplicates, skipped, row_counts, status, started_at, tool_version, load_info_id) \
         VALUES (?, ?, ?, 0, 0, 0, 0, 0, 0, '{}', 'loading', UTC_TIMESTAMP(6), ?, ?)",
    )
    .bind(path)
    .bind(content_hash)
    .bind(size as i64)
    .bind(env!("CARGO_PKG_VERSION"))
    .bind(load_info_id)
    .execute(pool)
    .await
    .map_err(query_error("recording the file in the ledger"))?;
    Ok(result.last_insert_id() as i64)
}

/// Records the end of a file's load with its counts and final status (`loaded` or `failed`).
pub async fn finish_file(
    pool: &MySqlPool,
    file_id: i64,
    counts: &FileCounts,
    status: &str,
) -> Result<(), LoadError> {
    let rows = serde_json::to_string(&counts.rows).unwrap_or_else(|_| "{}".into());
    sqlx::query(
        "UPDATE moocdb_loader_files SET bytes_loaded = ?, lines_read = ?, events = ?, rejected = ?, \
         duplicates = ?, skipped = ?, row_counts = ?, status = ?, finished_at = UTC_TIMESTAMP(6) \
         WHERE file_id = ?",
    )
    .bind(counts.bytes as i64)
    .bind(counts.lines as i64)
    .bind(counts.events as i64)
    .bind(counts.rejected as i64)
    .bind(counts.duplicates as i64)
    .bind(counts.skipped as i64)
    .bind(rows)
    .bind(status)
    .bind(file_id)
    .execute(pool)
    .await
    .map_err(query_error("updating the ledger"))?;
    Ok(())
}

/// Stores rejected lines (raw bytes as a hex literal, so any bytes are kept exactly).
pub async fn write_rejects(
    pool: &MySqlPool,
    file_id: i64,
    file: &str,
    rejects: &[Reject],
) -> Result<(), LoadError> {
    if rejects.is_empty() {
        return Ok(());
    }
    let mut sql = b"INSERT IGNORE INTO moocdb_loader_rejects \
        (file_id, byte_offset, line_number, file, reason, raw_length, raw) VALUES "
        .to_vec();
    for (i, r) in rejects.iter().enumerate() {
        if i > 0 {
            sql.push(b',');
        }
        let _ = write!(sql, "({file_id},{},{},'", r.byte_offset, r.line_number);
        crate::sink::escape_sql(&mut sql, file.as_bytes());
        sql.extend_from_slice(b"','");
        crate::sink::escape_sql(&mut sql, r.reason.as_bytes());
        let _ = write!(sql, "',{},", r.raw_length);
        if r.raw.is_empty() {
            sql.extend_from_slice(b"''");
        } else {
            let _ = write!(sql, "X'{}'", hex::encode(&r.raw));
        }
        sql.push(b')');
    }
    let sql = String::from_utf8(sql).expect("escaped SQL is UTF-8");
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(pool)
        .await
        .map_err(query_error("storing rejected lines"))?;
    Ok(())
}
