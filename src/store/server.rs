//! What the server allows and how it is tuned: the largest packet, the connections it has room
//! for, and settings that make bulk loads slow.

use sqlx::mysql::MySqlPool;

use super::query_error;
use crate::error::LoadError;

/// The server's `max_allowed_packet`.
pub async fn max_allowed_packet(pool: &MySqlPool) -> Result<u64, LoadError> {
    let v: String = sqlx::query_scalar("SELECT CAST(@@max_allowed_packet AS CHAR)")
        .fetch_one(pool)
        .await
        .map_err(query_error("reading max_allowed_packet"))?;
    Ok(v.parse::<u64>().unwrap_or(4 << 20).max(1024))
}

/// How many more connections the server would accept from this account now: `max_connections`
/// less the connections open, and, when the account has a limit (`max_user_connections`), that
/// limit less the account's own connections. `None` when the server does not say (the queries
/// are best effort: a server that hides them is not a reason to stop).
pub async fn connection_room(pool: &MySqlPool) -> Option<u64> {
    let limits: (i64, i64) = sqlx::query_as(
        "SELECT CAST(@@max_connections AS SIGNED), CAST(@@max_user_connections AS SIGNED)",
    )
    .fetch_one(pool)
    .await
    .ok()?;
    let (_, open): (String, String) = sqlx::query_as("SHOW GLOBAL STATUS LIKE 'Threads_connected'")
        .fetch_one(pool)
        .await
        .ok()?;
    let open: i64 = open.parse().ok()?;
    let mut room = limits.0 - open;
    // 0 is no limit; MariaDB's -1 forbids connections only to accounts without a limit of
    // their own, which this one then has (it is connected).
    if limits.1 > 0 {
        // Without the PROCESS privilege the process list shows only the account's own threads.
        let own: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST \
             WHERE USER = SUBSTRING_INDEX(USER(), '@', 1)",
        )
        .fetch_one(pool)
        .await
        .ok()?;
        room = room.min(limits.1 - own);
    }
    Some(room.max(0) as u64)
}

/// Advice on server settings that make bulk loads slow (a small buffer pool or redo log), one
/// sentence each; the settings are read best effort.
pub async fn advice(pool: &MySqlPool) -> Vec<String> {
    let mut advice = Vec::new();
    let value = |name: &'static str| async move {
        sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(format!(
            "SELECT CAST(@@{name} AS CHAR)"
        )))
        .fetch_one(pool)
        .await
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    };
    if let Some(v) = value("innodb_buffer_pool_size").await
        && v < 512 << 20
    {
        advice.push(format!(
                "innodb_buffer_pool_size is {} MiB; 1 GiB or more (about half the server's memory) makes bulk loads much faster",
                v >> 20
            ));
    }
    let redo = match value("innodb_redo_log_capacity").await {
        Some(v) => Some(v),
        None => value("innodb_log_file_size").await,
    };
    if let Some(v) = redo
        && v < 1 << 30
    {
        advice.push(format!(
                "the InnoDB redo log is {} MiB; 1 GiB or more (innodb_redo_log_capacity on MySQL 8, innodb_log_file_size on MariaDB) speeds up bulk loading about 1.7x",
                v >> 20
            ));
    }
    advice
}
