//! The ledger: one row per loaded file (`moocdb_loader_files`), the lines loaded
//! (`moocdb_loader_lines`) and every rejected line (`moocdb_loader_rejects`); cleaning up after
//! loads that never finished, and removing a file's rows to load it again.

use std::collections::BTreeMap;
use std::io::Write;

use sqlx::Row;
use sqlx::mysql::MySqlPool;

use super::{in_one_transaction, push_literal, query_error, setting};
use crate::error::LoadError;
use crate::identity::{LineIdentity, LineKeys};

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
    /// End of the part of the file loaded, in bytes as stored.
    #[serde(skip)]
    pub raw_end: u64,
    /// Hash of the file's bytes as stored up to `raw_end`.
    #[serde(skip)]
    pub prefix_hash: String,
}

/// Where in a file a load starts: at the beginning, or where an earlier load of a grown live file
/// stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// Offset in the file as stored.
    pub raw_start: u64,
    /// Number of the first line.
    pub first_line: u64,
    /// Offset in the decompressed file.
    pub decoded_start: u64,
}

impl Default for Segment {
    /// The whole file: from its first byte and line 1.
    fn default() -> Self {
        Segment {
            raw_start: 0,
            first_line: 1,
            decoded_start: 0,
        }
    }
}

/// The latest loaded segment of a file, to recognise it grown or changed.
#[derive(Debug, Clone)]
pub struct PreviousLoad {
    /// Ledger id.
    pub file_id: i64,
    /// End of the loaded part, in bytes as stored.
    pub raw_end: u64,
    /// Hash of the bytes up to `raw_end`.
    pub prefix_hash: String,
    /// Where a continuation starts.
    pub next: Segment,
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

/// The latest loaded segment of the file loaded from `path`, if any.
pub async fn previous_load(
    pool: &MySqlPool,
    path: &str,
) -> Result<Option<PreviousLoad>, LoadError> {
    let row = sqlx::query(
        "SELECT file_id, raw_end, prefix_hash, first_line + lines_read, decoded_start + bytes_loaded \
         FROM moocdb_loader_files WHERE path = ? AND status = 'loaded' ORDER BY raw_end DESC, file_id DESC LIMIT 1",
    )
    .bind(path)
    .fetch_optional(pool)
    .await
    .map_err(query_error("checking the ledger"))?;
    Ok(row.map(|r| {
        let raw_end: i64 = r.get(1);
        let next_line: i64 = r.get(3);
        let next_decoded: i64 = r.get(4);
        PreviousLoad {
            file_id: r.get(0),
            raw_end: raw_end as u64,
            prefix_hash: r.get(2),
            next: Segment {
                raw_start: raw_end as u64,
                first_line: next_line as u64,
                decoded_start: next_decoded as u64,
            },
        }
    }))
}

/// Records the start of a file's load; returns its ledger id. `next_ids` are the dictionary ids
/// the load will use first (JSON), so that a crashed load's new dictionary rows can be removed.
pub async fn start_file(
    pool: &MySqlPool,
    path: &str,
    content_hash: &str,
    size: u64,
    load_info_id: &str,
    segment: &Segment,
    next_ids: &str,
) -> Result<i64, LoadError> {
    let result = sqlx::query(
        "INSERT INTO moocdb_loader_files (path, content_hash, size_bytes, bytes_loaded, lines_read, \
         events, rejected, duplicates, skipped, row_counts, status, started_at, tool_version, load_info_id, \
         raw_start, raw_end, first_line, decoded_start, next_ids) \
         VALUES (?, ?, ?, 0, 0, 0, 0, 0, 0, '{}', 'loading', UTC_TIMESTAMP(6), ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(path)
    .bind(content_hash)
    .bind(size as i64)
    .bind(env!("CARGO_PKG_VERSION"))
    .bind(load_info_id)
    .bind(segment.raw_start as i64)
    .bind(segment.raw_start as i64)
    .bind(segment.first_line as i64)
    .bind(segment.decoded_start as i64)
    .bind(next_ids)
    .execute(pool)
    .await
    .map_err(query_error("recording the file in the ledger"))?;
    Ok(result.last_insert_id() as i64)
}

/// Records the end of a file's load with its counts and final status (`loaded` or `failed`).
pub async fn finish_file(
    conn: impl sqlx::MySqlExecutor<'_>,
    file_id: i64,
    counts: &FileCounts,
    status: &str,
) -> Result<(), LoadError> {
    let rows = serde_json::to_string(&counts.rows).unwrap_or_else(|_| "{}".into());
    sqlx::query(
        "UPDATE moocdb_loader_files SET bytes_loaded = ?, lines_read = ?, events = ?, rejected = ?, \
         duplicates = ?, skipped = ?, row_counts = ?, status = ?, finished_at = UTC_TIMESTAMP(6), \
         raw_end = ?, prefix_hash = ? WHERE file_id = ?",
    )
    .bind(counts.bytes as i64)
    .bind(counts.lines as i64)
    .bind(counts.events as i64)
    .bind(counts.rejected as i64)
    .bind(counts.duplicates as i64)
    .bind(counts.skipped as i64)
    .bind(rows)
    .bind(status)
    .bind(counts.raw_end as i64)
    .bind(&counts.prefix_hash)
    .bind(file_id)
    .execute(conn)
    .await
    .map_err(query_error("updating the ledger"))?;
    Ok(())
}

/// Dictionary tables and their id columns: a crashed load's rows are those at or above the ids
/// recorded when it started.
pub const DICTIONARIES: [(&str, &str); 8] = [
    ("urls", "url_id"),
    ("os", "os_id"),
    ("agent", "agent_id"),
    ("resource_types", "resource_type_id"),
    ("resources", "resource_id"),
    ("resources_urls", "resources_urls_id"),
    ("problems", "problem_id"),
    ("problem_types", "problem_type_id"),
];

/// Contributions whose parent row is gone (removed with its file) lose the link, not the row:
/// their parent's forum id stays, and the next commit links them again if the parent returns.
/// (Foreign key checks are off while the loader writes, so `ON DELETE SET NULL` does not fire.)
const UNLINK_REMOVED_PARENTS: &str = "UPDATE collaborations c \
     LEFT JOIN collaborations p ON p.collaboration_id = c.collaboration_parent_id \
     SET c.collaboration_parent_id = NULL, c.collaboration_child_number = NULL \
     WHERE c.collaboration_parent_id IS NOT NULL AND p.collaboration_id IS NULL";

/// Undoes what loads that never finished (killed, interrupted, or failed on --max-bad-ratio)
/// left behind, so that loading their files again gives exactly what one clean load gives: their
/// recorded lines (else they would count as duplicates), their rejects, the dictionary rows they
/// added and the MOOCdb rows that reference those, and their ledger entries. Rows keyed by the
/// line (EdxTrackEvent, side tables) are left: a new load writes them identically. Returns the
/// paths of the files concerned. The bytes of their rejected lines go from `private_database`
/// too.
pub async fn recover(
    pool: &MySqlPool,
    private_database: Option<&str>,
) -> Result<Vec<String>, LoadError> {
    let e = query_error("cleaning up an unfinished load");
    let unfinished: Vec<(i64, String, Option<String>)> = sqlx::query_as(
        "SELECT file_id, path, next_ids FROM moocdb_loader_files WHERE status <> 'loaded' ORDER BY file_id",
    )
    .fetch_all(pool)
    .await
    .map_err(&e)?;
    if unfinished.is_empty() {
        return Ok(Vec::new());
    }
    // The lowest watermark per dictionary over all unfinished loads.
    let mut marks: BTreeMap<String, i64> = BTreeMap::new();
    for (_, _, next_ids) in &unfinished {
        let ids: BTreeMap<String, i64> = next_ids
            .as_deref()
            .and_then(|j| serde_json::from_str(j).ok())
            .unwrap_or_default();
        for (table, id) in ids {
            let m = marks.entry(table).or_insert(id);
            *m = (*m).min(id);
        }
    }
    let mark = |t: &str| marks.get(t).copied();
    let mut sql: Vec<String> = Vec::new();
    // MOOCdb rows that reference a dictionary row about to go.
    let refs = [
        (
            "observed_events",
            vec![
                ("url_id", "resources"),
                ("observed_event_os", "os"),
                ("observed_event_agent", "agent"),
            ],
        ),
        (
            "submissions",
            vec![
                ("problem_id", "problems"),
                ("submission_os", "os"),
                ("submission_agent", "agent"),
            ],
        ),
        (
            "collaborations",
            vec![
                ("resource_id", "resources"),
                ("collaborations_os", "os"),
                ("collaborations_agent", "agent"),
            ],
        ),
    ];
    for (table, columns) in refs {
        let conds: Vec<String> = columns
            .iter()
            .filter_map(|(c, dict)| mark(dict).map(|m| format!("`{c}` >= {m}")))
            .collect();
        if !conds.is_empty() {
            sql.push(format!(
                "DELETE FROM `{table}` WHERE {}",
                conds.join(" OR ")
            ));
        }
    }
    sql.push(
        "DELETE a FROM assessments a LEFT JOIN submissions s ON s.submission_id = a.submission_id \
         WHERE s.submission_id IS NULL"
            .into(),
    );
    sql.push(UNLINK_REMOVED_PARENTS.into());
    for (table, column) in DICTIONARIES {
        if let Some(m) = mark(table) {
            sql.push(format!("DELETE FROM `{table}` WHERE `{column}` >= {m}"));
        }
    }
    for (id, _, _) in &unfinished {
        sql.extend(file_bookkeeping_deletes(*id, private_database));
    }
    in_one_transaction(pool, sql, "cleaning up an unfinished load").await?;
    Ok(unfinished.into_iter().map(|(_, path, _)| path).collect())
}

/// Removes every row a file's loads wrote, in every table, so that the file can be loaded again
/// (`--reload`): its `EdxTrackEvent` rows and everything derived from them (side tables,
/// observed events, submissions, assessments, private `EventIp` and `Account` rows), its
/// recorded lines, rejects and ledger entries, and users left without events. Rows of lines
/// that another file loaded first belong to that file and stay. Dictionary entries stay.
pub async fn forget_file(
    pool: &MySqlPool,
    path: &str,
    load_info_id: &str,
    private_database: Option<&str>,
) -> Result<Forgotten, LoadError> {
    let e = query_error("removing the rows of a file to reload");
    let mut tx = pool.begin().await.map_err(&e)?;
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT _id, CAST(event_type AS CHAR) FROM EdxTrackEvent WHERE load_info_fk = ?",
    )
    .bind(load_info_id)
    .fetch_all(&mut *tx)
    .await
    .map_err(&e)?;
    let ids: Vec<String> = rows.iter().map(|(id, _)| format!("'{id}'")).collect();
    let accounts: Vec<String> = rows
        .iter()
        .filter(|(_, t)| t == "/create_account" || t == "change-email-settings")
        .filter_map(|(id, _)| crate::identity::RowId::parse(id))
        .map(|id| format!("'{}'", id.account_id(0)))
        .collect();
    let fk = |column: &str| {
        format!(
            "SELECT {column} FROM EdxTrackEvent WHERE load_info_fk = '{load_info_id}' AND {column} <> ''"
        )
    };
    let mut sql: Vec<String> = Vec::new();
    for chunk in ids.chunks(5000) {
        let list = chunk.join(",");
        // A removed event must not come back as a user's staged (latest) event.
        sql.push(format!(
            "UPDATE moocdb_loader_user_state SET staged_event_id = NULL, staged_resource_id = NULL, \
             staged_time = NULL, staged_ip = NULL, staged_os = NULL, staged_agent = NULL, \
             staged_event_type = NULL WHERE staged_event_id IN ({list})"
        ));
        // An Open Response Assessment submission's id is ORA's own: found by the event that
        // created it.
        sql.push(format!(
            "DELETE FROM submissions WHERE submission_id IN (SELECT submission_uuid FROM OpenAssessment \
             WHERE event_table_id IN ({list}) AND event_type = 'openassessmentblock.create_submission')"
        ));
        for (table, column) in [
            ("observed_events", "observed_event_id"),
            ("collaborations", "collaboration_id"),
            ("assessments", "assessment_id"),
            ("submissions", "submission_id"),
            ("ABExperiment", "event_table_id"),
            ("OpenAssessment", "event_table_id"),
        ] {
            sql.push(format!(
                "DELETE FROM `{table}` WHERE `{column}` IN ({list})"
            ));
        }
        if let Some(private) = private_database {
            sql.push(format!(
                "DELETE FROM `{private}`.EventIp WHERE event_table_id IN ({list})"
            ));
        }
    }
    if let Some(private) = private_database
        && !accounts.is_empty()
    {
        sql.push(format!(
            "DELETE FROM `{private}`.Account WHERE account_id IN ({})",
            accounts.join(",")
        ));
    }
    let states = fk("state_fk");
    sql.push(format!("DELETE FROM Answer WHERE answer_id IN ({}) OR answer_id IN (SELECT student_answer FROM State WHERE state_id IN ({states}))", fk("answer_fk")));
    sql.push(format!("DELETE FROM CorrectMap WHERE correct_map_id IN ({}) OR correct_map_id IN (SELECT correct_map FROM State WHERE state_id IN ({states}))", fk("correctMap_fk")));
    sql.push(format!("DELETE FROM InputState WHERE input_state_id IN (SELECT input_state FROM State WHERE state_id IN ({states}))"));
    sql.push(format!("DELETE FROM State WHERE state_id IN ({states})"));
    sql.push(format!(
        "DELETE FROM EdxTrackEvent WHERE load_info_fk = '{load_info_id}'"
    ));
    // Contributions of other files whose parent was removed wait for it again.
    sql.push(UNLINK_REMOVED_PARENTS.into());
    // Assessments, of other files' events, of the submissions removed.
    sql.push(
        "DELETE a FROM assessments a LEFT JOIN submissions s ON s.submission_id = a.submission_id \
         WHERE s.submission_id IS NULL"
            .into(),
    );

    let open_submissions: Vec<String> = if ids.is_empty() {
        Vec::new()
    } else {
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT submission_uuid FROM OpenAssessment WHERE event_table_id IN ({}) \
             AND event_type = 'openassessmentblock.create_submission'",
            ids.join(",")
        )))
        .fetch_all(&mut *tx)
        .await
        .map_err(&e)?
    };
    let files: Vec<i64> =
        sqlx::query_scalar("SELECT file_id FROM moocdb_loader_files WHERE path = ?")
            .bind(path)
            .fetch_all(&mut *tx)
            .await
            .map_err(&e)?;
    for id in files {
        sql.extend(file_bookkeeping_deletes(id, private_database));
    }
    for statement in sql {
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
            .execute(&mut *tx)
            .await
            .map_err(&e)?;
    }
    // Users left without any event.
    const ORPHANS: &str = "FROM users u WHERE NOT EXISTS (SELECT 1 FROM observed_events o WHERE o.user_id = u.user_id) \
         AND NOT EXISTS (SELECT 1 FROM submissions s WHERE s.user_id = u.user_id)";
    let users: Vec<String> =
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT u.user_id {ORPHANS}")))
            .fetch_all(&mut *tx)
            .await
            .map_err(&e)?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DELETE u {ORPHANS}")))
        .execute(&mut *tx)
        .await
        .map_err(&e)?;
    tx.commit().await.map_err(&e)?;
    Ok(Forgotten {
        event_ids: rows.into_iter().map(|(id, _)| id).collect(),
        users,
        open_submissions,
    })
}

/// What [`forget_file`] removed that the loader keeps in memory.
#[derive(Debug, Default)]
pub struct Forgotten {
    /// `EdxTrackEvent._id` of the removed rows.
    pub event_ids: Vec<String>,
    /// Users removed because no event of theirs is left.
    pub users: Vec<String>,
    /// Open Response Assessment submissions removed (ORA's `submission_uuid`s).
    pub open_submissions: Vec<String>,
}

/// Which of these lines are already recorded as loaded (by their hashes), looked up by their
/// keys in the database's form.
pub async fn known_lines(
    pool: &MySqlPool,
    lines: &[LineIdentity],
    keys: LineKeys,
) -> Result<foldhash::HashSet<u128>, LoadError> {
    if lines.is_empty() {
        return Ok(Default::default());
    }
    let by_key: foldhash::HashMap<[u8; 32], u128> = lines
        .iter()
        .map(|line| (line.line_key(keys), line.hash()))
        .collect();
    let mut sql = String::with_capacity(80 + by_key.len() * 35);
    sql.push_str("SELECT line_hash FROM moocdb_loader_lines WHERE line_hash IN (");
    for (i, key) in by_key.keys().enumerate() {
        if i > 0 {
            sql.push(',');
        }
        sql.push('\'');
        sql.push_str(std::str::from_utf8(key).expect("hex digits are ASCII"));
        sql.push('\'');
    }
    sql.push(')');
    let found: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .fetch_all(pool)
        .await
        .map_err(query_error("checking for lines already loaded"))?;
    Ok(found
        .iter()
        .filter_map(|key| by_key.get(key.as_bytes()).copied())
        .collect())
}

/// Whether any line is recorded as loaded: until one is, a load need not look its lines up.
pub async fn any_line_loaded(pool: &MySqlPool) -> Result<bool, LoadError> {
    let found: i64 = sqlx::query_scalar("SELECT EXISTS(SELECT 1 FROM moocdb_loader_lines LIMIT 1)")
        .fetch_one(pool)
        .await
        .map_err(query_error("checking for lines already loaded"))?;
    Ok(found > 0)
}

/// Whether the ledger records any file, loaded or not.
pub async fn any_file_recorded(pool: &MySqlPool) -> Result<bool, LoadError> {
    let found: i64 = sqlx::query_scalar("SELECT EXISTS(SELECT 1 FROM moocdb_loader_files LIMIT 1)")
        .fetch_one(pool)
        .await
        .map_err(query_error("looking for files already recorded"))?;
    Ok(found > 0)
}

/// How the database keys its lines (its `line_keys` setting, written by the migration that
/// introduced time-ordered keys).
pub async fn line_keys(pool: &MySqlPool) -> Result<LineKeys, LoadError> {
    let value = setting(pool, "line_keys")
        .await
        .map_err(query_error("reading the line_keys setting"))?;
    Ok(LineKeys::from_setting(value.as_deref()))
}

/// Stores rejected lines: where each was and why in `moocdb_loader_rejects`, and its bytes (as a
/// hex literal, so any bytes are kept exactly) in the private database's
/// `moocdb_loader_rejected_lines`, or nowhere without one. A line that could not be parsed still
/// holds the learner's username, IP address and whatever else the event carried.
pub async fn write_rejects(
    pool: &MySqlPool,
    private_database: Option<&str>,
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
        let _ = write!(sql, "({file_id},{},{},", r.byte_offset, r.line_number);
        push_literal(&mut sql, file);
        sql.push(b',');
        push_literal(&mut sql, &r.reason);
        let _ = write!(sql, ",{},'')", r.raw_length);
    }
    let lines: Vec<&Reject> = rejects.iter().filter(|r| !r.raw.is_empty()).collect();
    if let Some(private) = private_database
        && !lines.is_empty()
    {
        let _ = write!(
            sql,
            ";\nINSERT IGNORE INTO `{private}`.moocdb_loader_rejected_lines \
             (file_id, byte_offset, raw) VALUES "
        );
        for (i, r) in lines.iter().enumerate() {
            if i > 0 {
                sql.push(b',');
            }
            let _ = write!(
                sql,
                "({file_id},{},X'{}')",
                r.byte_offset,
                hex::encode(&r.raw)
            );
        }
    }
    let sql = String::from_utf8(sql).expect("escaped SQL is UTF-8");
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(pool)
        .await
        .map_err(query_error("storing rejected lines"))?;
    Ok(())
}

/// Moves the bytes of rejected lines that an earlier version of the loader kept in the course
/// database's `moocdb_loader_rejects.raw` to the private database, and empties them there. The
/// setting `rejected_lines` says it is done (migration `0008` sets it where there were none, so
/// a database this version created costs one lookup, not a read of every reject).
pub async fn move_rejected_lines(pool: &MySqlPool, private: &str) -> Result<(), LoadError> {
    let e = query_error("moving the bytes of rejected lines to the private database");
    if setting(pool, "rejected_lines").await.map_err(&e)?.is_some() {
        return Ok(());
    }
    in_one_transaction(
        pool,
        [
            format!(
                "INSERT IGNORE INTO `{private}`.moocdb_loader_rejected_lines (file_id, byte_offset, raw) \
                 SELECT file_id, byte_offset, raw FROM moocdb_loader_rejects WHERE raw <> ''"
            ),
            "UPDATE moocdb_loader_rejects SET raw = '' WHERE raw <> ''".to_string(),
            "INSERT IGNORE INTO moocdb_loader_settings (name, value) \
             VALUES ('rejected_lines', 'private')"
                .to_string(),
        ],
        "moving the bytes of rejected lines to the private database",
    )
    .await
}

/// The statements that remove one file's ledger entry, line hashes and rejects (with their bytes
/// in `private_database`).
fn file_bookkeeping_deletes(file_id: i64, private_database: Option<&str>) -> Vec<String> {
    let private = private_database.map(|p| format!("`{p}`.moocdb_loader_rejected_lines"));
    (private.into_iter())
        .chain(
            [
                "moocdb_loader_lines",
                "moocdb_loader_rejects",
                "moocdb_loader_files",
            ]
            .map(String::from),
        )
        .map(|table| format!("DELETE FROM {table} WHERE file_id = {file_id}"))
        .collect()
}
