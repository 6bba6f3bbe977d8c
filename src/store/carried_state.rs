//! Reading and writing the state carried from file to file ([`crate::state`]): the tables
//! `moocdb_loader_user_state` and, in the private database, `moocdb_loader_ip_state` (raw IP
//! addresses are private; without a private database, `--no-pii`, the IP state is not carried),
//! and the course domain among the settings.

use std::io::Write;

use chrono::NaiveDateTime;
use sqlx::Row;
use sqlx::mysql::MySqlPool;

use super::ledger::{self, FileCounts};
use super::{in_one_transaction, push_literal, query_error, setting};
use crate::error::LoadError;
use crate::identity::RowId;
use crate::schema::Table;
use crate::state::{CarriedState, StagedEvent, StateChange, UserState};

/// Reads the state earlier loads left; the IP state from `private_database`.
pub async fn read(
    pool: &MySqlPool,
    private_database: Option<&str>,
) -> Result<CarriedState, LoadError> {
    let e = query_error("reading the carried user state");
    let mut state = CarriedState::default();
    for r in sqlx::query(
        "SELECT user_id, staged_event_id, staged_resource_id, staged_time, staged_ip, staged_os, \
         staged_agent, staged_event_type, location_url, location_time, seen_at_latest_event \
         FROM moocdb_loader_user_state",
    )
    .fetch_all(pool)
    .await
    .map_err(&e)?
    {
        let user: String = r.try_get(0).map_err(&e)?;
        let id: Option<String> = r.try_get(1).map_err(&e)?;
        let number = |i| {
            Ok::<i64, LoadError>(
                r.try_get::<Option<i32>, _>(i)
                    .map_err(&e)?
                    .unwrap_or(0)
                    .into(),
            )
        };
        let text = |i| {
            Ok::<String, LoadError>(
                r.try_get::<Option<String>, _>(i)
                    .map_err(&e)?
                    .unwrap_or_default(),
            )
        };
        let staged = match id {
            Some(id) => Some(StagedEvent {
                id: RowId::parse(&id).ok_or_else(|| LoadError::Query {
                    what: "reading the carried user state".to_string(),
                    message: format!(
                        "`moocdb_loader_user_state` holds `{id}` as the staged event of user \
                         `{user}`, which is not a row id this loader writes; the table was \
                         changed by hand: set that row's staged_* columns to NULL and load again"
                    ),
                })?,
                resource_id: number(2)?,
                time: (r.try_get::<Option<NaiveDateTime>, _>(3).map_err(&e)?).unwrap_or_default(),
                ip: text(4)?,
                os: number(5)?,
                agent: number(6)?,
                event_type: text(7)?,
            }),
            None => None,
        };
        let url: Option<String> = r.try_get(8).map_err(&e)?;
        let at: Option<NaiveDateTime> = r.try_get(9).map_err(&e)?;
        state.users.push(UserState {
            user,
            staged,
            location: url.zip(at),
            seen_at: r.try_get(10).map_err(&e)?,
        });
    }
    let e = query_error("reading the carried IP state");
    if let Some(private) = private_database {
        for r in sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "SELECT ip, last_seen FROM `{private}`.moocdb_loader_ip_state"
        )))
        .fetch_all(pool)
        .await
        .map_err(&e)?
        {
            state
                .ips
                .push((r.try_get(0).map_err(&e)?, r.try_get(1).map_err(&e)?));
        }
    }
    let e = query_error("reading the settings");
    state.domain = setting(pool, "domain").await.map_err(&e)?;
    if let Some(text) = setting(pool, "latest_event").await.map_err(&e)? {
        let time = NaiveDateTime::parse_from_str(&text, "%Y-%m-%d %H:%M:%S%.f").map_err(|_| {
            LoadError::Query {
                what: "reading the settings".to_string(),
                message: format!(
                    "`moocdb_loader_settings` holds `{text}` as `latest_event`, which is not a \
                     time this loader writes; the table was changed by hand: delete that row \
                     and load again"
                ),
            }
        })?;
        state.latest_event = Some(time);
    }
    Ok(state)
}

fn time(sql: &mut Vec<u8>, t: &NaiveDateTime) {
    let _ = write!(sql, "'{}'", t.format("%Y-%m-%d %H:%M:%S%.6f"));
}

/// Moves the IP state an earlier version of the loader kept in the course database to
/// `private_database` (the later time of an IP in both), and empties it there. A course database
/// without such rows (every one this version wrote) costs one query.
pub async fn move_ip_state(pool: &MySqlPool, private_database: &str) -> Result<(), LoadError> {
    let e = query_error("moving the carried IP state to the private database");
    let any: Option<String> = sqlx::query_scalar("SELECT ip FROM moocdb_loader_ip_state LIMIT 1")
        .fetch_optional(pool)
        .await
        .map_err(&e)?;
    if any.is_none() {
        return Ok(());
    }
    in_one_transaction(
        pool,
        [
            format!(
                "INSERT INTO `{private_database}`.moocdb_loader_ip_state (ip, last_seen) \
                 SELECT ip, last_seen FROM moocdb_loader_ip_state AS course \
                 ON DUPLICATE KEY UPDATE last_seen = GREATEST(\
                 `{private_database}`.moocdb_loader_ip_state.last_seen, course.last_seen)"
            ),
            "DELETE FROM moocdb_loader_ip_state".to_string(),
        ],
        "moving the carried IP state to the private database",
    )
    .await
}

/// Rows packed into statements that start with `head`, each under `max_bytes` (a row alone over
/// the limit still gets a statement of its own).
fn packed<'a>(
    head: String,
    rows: impl Iterator<Item = Vec<u8>> + 'a,
    max_bytes: usize,
) -> impl Iterator<Item = String> + 'a {
    let mut rows = rows.peekable();
    std::iter::from_fn(move || {
        let first = rows.next()?;
        let mut sql = head.clone().into_bytes();
        sql.extend_from_slice(&first);
        while let Some(row) = rows.next_if(|row| sql.len() + row.len() < max_bytes) {
            sql.push(b',');
            sql.extend_from_slice(&row);
        }
        Some(String::from_utf8(sql).expect("utf-8"))
    })
}

fn user_row(u: &UserState) -> Vec<u8> {
    let mut r = b"(".to_vec();
    push_literal(&mut r, &u.user);
    match &u.staged {
        Some(s) => {
            r.push(b',');
            push_literal(&mut r, s.id.as_str());
            let _ = write!(r, ",{},", s.resource_id);
            time(&mut r, &s.time);
            r.push(b',');
            push_literal(&mut r, &s.ip);
            let _ = write!(r, ",{},{},", s.os, s.agent);
            push_literal(&mut r, &s.event_type);
        }
        None => r.extend_from_slice(b",NULL,NULL,NULL,NULL,NULL,NULL,NULL"),
    }
    match &u.location {
        Some((url, at)) => {
            r.push(b',');
            push_literal(&mut r, url);
            r.push(b',');
            time(&mut r, at);
        }
        None => r.extend_from_slice(b",NULL,NULL"),
    }
    match &u.seen_at {
        Some(at) => {
            r.push(b',');
            time(&mut r, at);
        }
        None => r.extend_from_slice(b",NULL"),
    }
    r.push(b')');
    r
}

/// Statements storing `change`, each under `max_bytes`, made one at a time as they are taken; the
/// IP state into `private_database`, or nowhere without one.
fn statements<'a>(
    change: StateChange<'a>,
    private_database: Option<&str>,
    max_bytes: usize,
) -> impl Iterator<Item = String> + 'a {
    let users = packed(
        "REPLACE INTO moocdb_loader_user_state (user_id, staged_event_id, staged_resource_id, \
         staged_time, staged_ip, staged_os, staged_agent, staged_event_type, location_url, \
         location_time, seen_at_latest_event) VALUES "
            .into(),
        change.users.map(|u| user_row(&u)),
        max_bytes,
    );
    let ip_rows = match private_database {
        Some(_) => change.ips,
        None => &[],
    };
    let ips = packed(
        format!(
            "REPLACE INTO `{}`.moocdb_loader_ip_state (ip, last_seen) VALUES ",
            private_database.unwrap_or_default()
        ),
        ip_rows.iter().map(|(ip, at)| {
            let mut r = b"(".to_vec();
            push_literal(&mut r, ip);
            r.push(b',');
            time(&mut r, at);
            r.push(b')');
            r
        }),
        max_bytes,
    );
    let domain = change.domain.map(|domain| {
        let mut r = b"('domain',".to_vec();
        push_literal(&mut r, domain);
        r.push(b')');
        r
    });
    let latest_event = change.latest_event.map(|at| {
        let mut r = b"('latest_event',".to_vec();
        time(&mut r, &at);
        r.push(b')');
        r
    });
    let domain = packed(
        "REPLACE INTO moocdb_loader_settings (name, value) VALUES ".into(),
        domain.into_iter().chain(latest_event),
        max_bytes,
    );
    users.chain(ips).chain(domain)
}

/// Claims the course database `pool` is on for `course` (`""` for the events that name no
/// course) in a split load: `true` if it holds that course (now or since an earlier load), `false`
/// if another course holds it.
pub async fn claim_course(pool: &MySqlPool, course: &str) -> Result<bool, LoadError> {
    let err = query_error("recording the course a course database holds");
    sqlx::query("INSERT IGNORE INTO moocdb_loader_settings (name, value) VALUES ('course', ?)")
        .bind(course)
        .execute(pool)
        .await
        .map_err(&err)?;
    let held: String =
        sqlx::query_scalar("SELECT value FROM moocdb_loader_settings WHERE name = 'course'")
            .fetch_one(pool)
            .await
            .map_err(&err)?;
    Ok(held == course)
}

/// Stores the state a commit group of files changed and marks each file loaded (or failed),
/// in one transaction: `files` holds each file's ledger id, counts and status. The state is
/// stored only when every file loaded.
pub async fn commit_files(
    pool: &MySqlPool,
    private_database: Option<&str>,
    change: StateChange<'_>,
    files: &[(i64, &FileCounts, &str)],
    max_statement_bytes: usize,
) -> Result<(), LoadError> {
    let e = query_error("storing the carried state and the ledger entries");
    let mut conn = pool.acquire().await.map_err(&e)?;
    let mut tx = sqlx::Connection::begin(&mut *conn).await.map_err(&e)?;
    if files.iter().all(|(_, _, status)| *status == "loaded") {
        for sql in statements(change, private_database, max_statement_bytes) {
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&mut *tx)
                .await
                .map_err(&e)?;
        }
        // Only files that wrote contributions can bring a parent or a child to link.
        let contributed = (files.iter())
            .any(|(_, counts, _)| counts.rows.contains_key(Table::Collaborations.name()));
        if contributed {
            let e = query_error("linking forum contributions to their parents");
            for sql in crate::moocdb::collaborations::LINK_STATEMENTS {
                sqlx::raw_sql(sql).execute(&mut *tx).await.map_err(&e)?;
            }
        }
    }
    for (file_id, counts, status) in files {
        ledger::finish_file(&mut *tx, *file_id, counts, status).await?;
    }
    tx.commit().await.map_err(&e)?;
    // The connection keeps the room its largest statement took (up to a batch's 2 MiB) for as
    // long as it lives: each course database of a split keeps its own connection open for the
    // whole load, and a hundred of them held 83 MB of the 5M-event split's peak (`heaptrack`).
    sqlx::Connection::shrink_buffers(&mut *conn);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_stay_under_the_size_limit() {
        let t = NaiveDateTime::parse_from_str("2026-01-01 00:00:00", "%Y-%m-%d %H:%M:%S").unwrap();
        let ips = [(std::borrow::Cow::Borrowed("192.0.2.1"), t)];
        let change = StateChange {
            users: Box::new((0..100).map(|i| UserState {
                user: format!("user{i:035}"),
                staged: None,
                location: Some((format!("https://x.org/{i}/it's"), t)),
                seen_at: Some(t),
            })),
            ips: &ips,
            domain: Some("https://x.org"),
            latest_event: Some(t),
        };
        let sql: Vec<String> = statements(change, Some("c_private"), 2000).collect();
        assert!(sql.len() > 3);
        assert!(sql.iter().all(|s| s.len() <= 2000));
        assert!(sql.iter().any(|s| s.contains("it\\'s")));
        assert!(sql.last().unwrap().contains("'domain'"));
        assert!(
            (sql.last().unwrap()).ends_with("('latest_event','2026-01-01 00:00:00.000000')"),
            "{}",
            sql.last().unwrap()
        );
        let users: usize = sql.iter().map(|s| s.matches("('user").count()).sum();
        assert_eq!(users, 100, "every user once");
        assert_eq!(sql.iter().filter(|s| s.contains("192.0.2.1")).count(), 1);
        assert!(
            sql.iter()
                .any(|s| s.contains("`c_private`.moocdb_loader_ip_state"))
        );
    }
}
