//! Shared helpers of the integration tests: a real server, one fresh database per test.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use moocdb_loader::load::{LoadOptions, LoadSummary};
use moocdb_loader::progress::{Progress, ProgressMode};
use moocdb_loader::schema::Table;
use sqlx::mysql::MySqlPool;
use sqlx::{Connection, Executor};

/// The server URL (without database): `DATABASE_URL`, or the private test server that
/// `scripts/db-server` starts when it is unset.
pub fn server_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        let url = match std::env::var("DATABASE_URL") {
            Ok(u) if !u.is_empty() => u,
            _ => {
                let out = Command::new(repo().join("scripts/db-server"))
                    .arg("ensure")
                    .output()
                    .expect("run scripts/db-server ensure (or set DATABASE_URL)");
                assert!(
                    out.status.success(),
                    "scripts/db-server failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                let line = String::from_utf8(out.stdout).unwrap();
                line.trim()
                    .trim_start_matches("export DATABASE_URL=")
                    .to_string()
            }
        };
        let base = url.split('?').next().unwrap();
        let (server, _db) = base.rsplit_once('/').expect("DATABASE_URL has a database");
        server.to_string()
    })
}

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A file of `tests/data`.
pub fn data(name: &str) -> PathBuf {
    repo().join("tests/data").join(name)
}

/// `../shared`, or `None` (with a visible message) when it is absent.
pub fn shared(test: &str) -> Option<PathBuf> {
    let p = repo().join("../shared");
    if p.join("conformance").is_dir() {
        Some(p)
    } else {
        eprintln!(
            "SKIPPED {test}: ../shared is absent (the conformance kit and corpus live there)"
        );
        None
    }
}

/// A fresh, empty database (and no private one) for one test; returns its URL.
pub async fn fresh_database(test: &str) -> (String, String) {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    // No process id in the name: a rerun drops and reuses the same databases, so a developer's
    // server does not fill up with test databases.
    let name = format!("t_{}_{}", test, COUNTER.fetch_add(1, Ordering::Relaxed));
    let mut conn = sqlx::mysql::MySqlConnection::connect(&format!("{}/mysql", server_url()))
        .await
        .expect("connect to the test server");
    for db in [name.clone(), format!("{name}_private")] {
        conn.execute(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS `{db}`"
        )))
        .await
        .unwrap();
    }
    (format!("{}/{}", server_url(), name), name)
}

/// A pool on a test database.
pub async fn pool(url: &str) -> MySqlPool {
    MySqlPool::connect(url).await.expect("connect")
}

/// Load options for a test: quiet, on `url`, the given paths.
pub fn options(url: &str, paths: &[&Path]) -> LoadOptions {
    LoadOptions {
        paths: paths.iter().map(|p| p.to_path_buf()).collect(),
        database_url: Some(url.to_string()),
        ..LoadOptions::default()
    }
}

/// Runs a load through the library.
pub async fn load(options: LoadOptions) -> LoadSummary {
    moocdb_loader::run(
        options,
        Progress::new(ProgressMode::Quiet),
        Default::default(),
    )
    .await
    .expect("load succeeds")
}

/// The rows the server's persistent statistics count in `database`.`table`, if it holds any.
pub async fn statistics_rows(pool: &MySqlPool, database: &str, table: &str) -> Option<u64> {
    sqlx::query_scalar(
        "SELECT n_rows FROM mysql.innodb_table_stats WHERE database_name = ? AND table_name = ?",
    )
    .bind(database)
    .bind(table)
    .fetch_optional(pool)
    .await
    .unwrap()
}

/// Row count of a table.
pub async fn count(pool: &MySqlPool, table: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM `{table}`"
    )))
    .fetch_one(pool)
    .await
    .unwrap()
}

/// Every row of a table as text (values SQL-quoted, NULL as NULL), sorted: for comparing
/// databases. `skip` names columns left out (e.g. load times).
pub async fn table_dump(pool: &MySqlPool, table: Table, skip: &[&str]) -> Vec<String> {
    let cols: Vec<String> = table
        .columns()
        .iter()
        .filter(|c| !skip.contains(c))
        .map(|c| format!("QUOTE(`{c}`)"))
        .collect();
    let sql = format!(
        "SELECT CONCAT_WS(',', {}) AS r FROM `{}` ORDER BY r",
        cols.join(", "),
        table.name()
    );
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .fetch_all(pool)
        .await
        .unwrap()
}

/// Every row of every table the loader writes (private ones included), as text: two databases
/// with equal snapshots hold the same data. Load times are left out.
pub async fn snapshot(url: &str) -> Vec<(String, Vec<String>)> {
    let public = pool(url).await;
    let private = pool(&format!("{url}_private")).await;
    let mut out = Vec::new();
    for table in Table::ALL {
        let p = if table.is_private() {
            &private
        } else {
            &public
        };
        let skip: &[&str] = match table {
            Table::LoadInfo => &["load_date_time"],
            Table::Lines => &["file_id"],
            _ => &[],
        };
        out.push((table.name().to_string(), table_dump(p, table, skip).await));
    }
    out
}

/// Asserts two snapshots are equal, showing a few of the rows only one has.
pub fn assert_same(a: &[(String, Vec<String>)], b: &[(String, Vec<String>)]) {
    for ((table, rows_a), (_, rows_b)) in a.iter().zip(b) {
        assert_same_rows(rows_a, rows_b, &format!("table {table}"));
    }
}

/// Asserts two tables' rows are equal (`what` says which), showing a few of the rows only one
/// has.
pub fn assert_same_rows(rows_a: &[String], rows_b: &[String], what: &str) {
    if rows_a != rows_b {
        let only_a: Vec<_> = rows_a
            .iter()
            .filter(|r| !rows_b.contains(r))
            .take(3)
            .collect();
        let only_b: Vec<_> = rows_b
            .iter()
            .filter(|r| !rows_a.contains(r))
            .take(3)
            .collect();
        panic!(
            "{what} differs: {} vs {} rows\nonly in the first: {only_a:#?}\nonly in the second: {only_b:#?}",
            rows_a.len(),
            rows_b.len()
        );
    }
}

/// Writes `lines` to `path`, one per line.
pub fn write_lines(path: &Path, lines: &[String]) {
    let mut f = std::fs::File::create(path).unwrap();
    for l in lines {
        writeln!(f, "{l}").unwrap();
    }
}

/// Runs the `moocdb` binary; returns (exit code, stdout, stderr).
pub fn moocdb(args: &[&str]) -> (i32, String, String) {
    moocdb_with_env(args, &[])
}

/// Runs the `moocdb` binary with extra environment variables.
pub fn moocdb_with_env(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_moocdb"))
        .args(args)
        .env_remove("DATABASE_URL")
        .envs(env.iter().copied())
        .output()
        .expect("run moocdb");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Asserts that two databases hold the same rows in every public table (load times aside).
pub async fn assert_same_public_tables(url_a: &str, url_b: &str) {
    assert_same_public_rows(url_a, url_b, |table| match table {
        Table::LoadInfo => Some(&["load_date_time"]),
        Table::Lines => Some(&["file_id"]),
        _ => Some(&[]),
    })
    .await
}

/// Asserts that two databases hold the same rows in every public table, leaving out of each
/// table's comparison the columns `skip` names (`None`: the whole table).
pub async fn assert_same_public_rows(
    url_a: &str,
    url_b: &str,
    skip: impl Fn(Table) -> Option<&'static [&'static str]>,
) {
    let (pa, pb) = (pool(url_a).await, pool(url_b).await);
    for table in Table::ALL.iter().filter(|t| !t.is_private()) {
        let Some(skip) = skip(*table) else {
            continue;
        };
        assert_eq!(
            table_dump(&pa, *table, skip).await,
            table_dump(&pb, *table, skip).await,
            "table {}",
            table.name()
        );
    }
}

pub mod private_server;
