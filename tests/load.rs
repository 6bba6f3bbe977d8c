//! End-to-end loads into a real server: every stage, the CLI contract, both write methods.

mod common;

use std::io::Write;

use common::*;
use moocdb_loader::generate::{GeneratorOptions, generate};
use moocdb_loader::load::MethodChoice;
use moocdb_loader::schema::Table;
use moocdb_loader::sink::rows_per_statement;

#[tokio::test]
async fn sample_log_loads_every_stage() {
    let (url, _) = fresh_database("sample").await;
    let sample = data("sample.log");
    let s = load(options(&url, &[&sample])).await;
    assert_eq!(s.files, 1);
    assert_eq!(s.lines, 314);
    assert_eq!(s.lines, s.events + s.rejected + s.duplicates + s.skipped);
    assert_eq!(s.rejected, 2);
    assert_eq!(s.skipped, 5, "3 blank + 2 comment lines");
    assert_eq!(s.events, 307);

    let pool = pool(&url).await;
    for table in [
        "EdxTrackEvent",
        "observed_events",
        "urls",
        "os",
        "agent",
        "users",
        "resources",
    ] {
        assert!(count(&pool, table).await > 0, "{table} is empty");
    }
    assert_eq!(count(&pool, "LoadInfo").await, 1);
    assert_eq!(
        s.rows["EdxTrackEvent"] as i64,
        count(&pool, "EdxTrackEvent").await
    );
    // Rejects name the file, the line and the reason.
    let rejects: Vec<(String, i64, String)> = sqlx::query_as(
        "SELECT file, line_number, reason FROM moocdb_loader_rejects ORDER BY line_number",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(rejects.len(), 2);
    for (file, line, reason) in &rejects {
        assert!(file.ends_with("sample.log"));
        assert!(*line > 0);
        assert!(!reason.is_empty());
    }
    // Raw IPs only in the private database.
    let private = pool_for_private(&url).await;
    assert_eq!(count(&private, "EventIp").await, 307);
    let ip_in_public: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM EdxTrackEvent WHERE ip_country LIKE '%.%' OR ip_country LIKE '%:%'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(ip_in_public, 0);
}

#[tokio::test]
async fn a_load_refreshes_the_statistics_of_the_tables_it_wrote() {
    // The tables keep persistent statistics that are never recalculated on their own
    // (STATS_AUTO_RECALC=0): without the load's ANALYZE the optimizer would plan every query of
    // a researcher's as if they were empty.
    let (url, database) = fresh_database("statistics").await;
    load(options(&url, &[&data("sample.log")])).await;
    let pool = pool(&url).await;
    for table in ["EdxTrackEvent", "observed_events", "resources"] {
        let stats = statistics_rows(&pool, &database, table).await;
        let rows = count(&pool, table).await;
        assert!(rows > 0, "{table}");
        assert_eq!(
            stats,
            Some(rows as u64),
            "{table}: statistics of {rows} rows"
        );
    }
}

/// Every table's `SHOW CREATE TABLE` of the database `db`, and its recorded migrations.
async fn schema_of(pool: &sqlx::mysql::MySqlPool, db: &str) -> Vec<String> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = ? \
         ORDER BY table_name",
    )
    .bind(db)
    .fetch_all(pool)
    .await
    .unwrap();
    // The next AUTO_INCREMENT value follows the rows, not the schema.
    let next_id = regex::Regex::new(r" AUTO_INCREMENT=\d+").unwrap();
    let mut schema = Vec::with_capacity(tables.len() + 1);
    for table in tables {
        let (_, create): (String, String) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SHOW CREATE TABLE `{db}`.`{table}`"
        )))
        .fetch_one(pool)
        .await
        .unwrap();
        schema.push(next_id.replace(&create, "").into_owned());
    }
    schema.push(format!("{:?}", recorded_migrations(pool, db).await));
    schema
}

/// The migrations the database `db` records: version, description, whether applied, checksum.
async fn recorded_migrations(
    pool: &sqlx::mysql::MySqlPool,
    db: &str,
) -> Vec<(i64, String, bool, Vec<u8>)> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT version, description, success, checksum FROM `{db}`._sqlx_migrations \
         ORDER BY version"
    )))
    .fetch_all(pool)
    .await
    .unwrap()
}

/// Every migration of the database `db` (a private one by its name) as recorded once applied.
fn all_migrations_applied(db: &str) -> Vec<(i64, String, bool, Vec<u8>)> {
    let migrator = match db.ends_with("_private") {
        true => &moocdb_loader::schema::PRIVATE_MIGRATOR,
        false => &moocdb_loader::schema::MIGRATOR,
    };
    (migrator.iter())
        .map(|m| {
            (
                m.version,
                m.description.to_string(),
                true,
                m.checksum.to_vec(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_new_database_gets_the_schema_and_migrations_an_existing_one_gets() {
    // A database the loader creates gets its tables in one script; one that exists (created
    // empty by hand here) through sqlx's migrator. Both must end the same.
    let sample = data("sample.log");
    let (new_url, new) = fresh_database("schema_new").await;
    let (old_url, old) = fresh_database("schema_old").await;
    let admin = pool(&format!("{}/mysql", server_url())).await;
    for db in [old.clone(), format!("{old}_private")] {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "CREATE DATABASE `{db}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
        )))
        .execute(&admin)
        .await
        .unwrap();
    }
    load(options(&new_url, &[&sample])).await;
    load(options(&old_url, &[&sample])).await;
    for (a, b) in [
        (new.clone(), old.clone()),
        (format!("{new}_private"), format!("{old}_private")),
    ] {
        let (schema_a, schema_b) = (schema_of(&admin, &a).await, schema_of(&admin, &b).await);
        assert_eq!(schema_a, schema_b, "`{a}` and `{b}` differ");
        assert_eq!(
            recorded_migrations(&admin, &a).await,
            all_migrations_applied(&a),
            "`{a}` records every migration as applied"
        );
    }

    // A loader killed after the tables but before the migrations were recorded: the next run's
    // migrator applies them again over the tables, and the rows stay.
    let before = snapshot(&new_url).await;
    for db in [new.clone(), format!("{new}_private")] {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM `{db}`._sqlx_migrations"
        )))
        .execute(&admin)
        .await
        .unwrap();
    }
    let again = load(options(&new_url, &[&sample])).await;
    assert_eq!(
        (again.files, again.skipped_files),
        (0, 1),
        "the file is already loaded"
    );
    assert_same(&before, &snapshot(&new_url).await);
    for db in [new.clone(), format!("{new}_private")] {
        assert_eq!(
            recorded_migrations(&admin, &db).await,
            all_migrations_applied(&db),
            "`{db}`: the migrations are recorded again"
        );
    }
}

#[tokio::test]
async fn a_new_database_holds_what_the_loader_assumes_without_reading_it() {
    // A load into a database it has just created reads nothing back: it takes the dictionaries
    // and carried state of a new database as known. Reading them must give the same.
    use moocdb_loader::sink::Target;
    use moocdb_loader::store::{carried_state, known_entries, prepare_course_database};
    let (url, db) = fresh_database("new_state").await;
    let target = Target::parse(&url, None).unwrap();
    let prepared = prepare_course_database(&target, true, 1).await.unwrap();
    assert!(prepared.created && prepared.all_created);
    let private = format!("{db}_private");
    assert_eq!(
        format!("{:?}", known_entries::read(&prepared.pool).await.unwrap()),
        format!("{:?}", known_entries::of_a_new_database()),
        "the dictionaries of a new database"
    );
    assert_eq!(
        format!(
            "{:?}",
            carried_state::read(&prepared.pool, Some(&private))
                .await
                .unwrap()
        ),
        format!("{:?}", moocdb_loader::state::CarriedState::default()),
        "the carried state of a new database"
    );
    prepared.pool.close().await;

    let again = prepare_course_database(&target, true, 1).await.unwrap();
    assert!(!again.created && !again.all_created, "it exists now");
    again.pool.close().await;

    // A course database created beside a private one that was already there: the private one
    // may hold an earlier load's state, so the load reads it.
    let admin = pool(&format!("{}/mysql", server_url())).await;
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE `{db}`")))
        .execute(&admin)
        .await
        .unwrap();
    let beside = prepare_course_database(&target, true, 1).await.unwrap();
    assert!(beside.created && !beside.all_created);
    beside.pool.close().await;
}

#[tokio::test]
async fn migrating_a_database_waits_for_its_creation_script_to_end() {
    // The server runs a creation script to its end even when the loader that sent it was
    // killed. The script holds a named lock while it runs; a loader that finds the database
    // waits for that lock before it migrates, so that the two do not record the same migration.
    use moocdb_loader::sink::Target;
    use moocdb_loader::store::prepare_course_database;
    let (url, db) = fresh_database("schema_lock").await;
    let admin = pool(&format!("{}/mysql", server_url())).await;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE DATABASE `{db}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
    )))
    .execute(&admin)
    .await
    .unwrap();
    let mut script = admin.acquire().await.unwrap();
    let lock = format!("moocdb_loader_schema.{db}");
    let got: i64 = sqlx::query_scalar("SELECT GET_LOCK(?, 0)")
        .bind(&lock)
        .fetch_one(&mut *script)
        .await
        .unwrap();
    assert_eq!(got, 1);
    let target = Target::parse(&url, None).unwrap();
    let migrating = tokio::spawn(async move { prepare_course_database(&target, false, 1).await });
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert!(
        !migrating.is_finished(),
        "the migrations wait for the script"
    );
    let migrations: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM information_schema.tables \
         WHERE table_schema = ? AND table_name = '_sqlx_migrations'",
    )
    .bind(&db)
    .fetch_one(&admin)
    .await
    .unwrap();
    assert_eq!(migrations, 0, "nothing migrated while the script runs");
    sqlx::query("DO RELEASE_LOCK(?)")
        .bind(&lock)
        .execute(&mut *script)
        .await
        .unwrap();
    let prepared = migrating.await.unwrap().unwrap();
    assert!(!prepared.created);
    assert_eq!(
        recorded_migrations(&admin, &db).await,
        all_migrations_applied(&db)
    );
    prepared.pool.close().await;
}

async fn pool_for_private(url: &str) -> sqlx::mysql::MySqlPool {
    pool(&format!("{url}_private")).await
}

#[tokio::test]
async fn cli_json_follows_the_contract() {
    let (url, _) = fresh_database("cli_json").await;
    let sample = data("sample.log");
    let (code, stdout, stderr) = moocdb(&[
        "load",
        "--database-url",
        &url,
        "--json",
        sample.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON object");
    for key in [
        "files",
        "lines",
        "events",
        "rejected",
        "duplicates",
        "skipped",
        "skipped_files",
        "method",
        "elapsed_s",
        "rows",
    ] {
        assert!(v.get(key).is_some(), "missing {key} in {stdout}");
    }
    let n = |k: &str| v[k].as_u64().unwrap();
    assert_eq!(
        n("lines"),
        n("events") + n("rejected") + n("duplicates") + n("skipped")
    );
    assert!(matches!(v["method"].as_str(), Some("infile" | "insert")));
    assert!(v["rows"]["EdxTrackEvent"].as_u64().unwrap() > 0);
    assert!(!stdout.contains("moocdb:moocdb@") && !stderr.contains(":moocdb@"));

    // Loading the same file again is a no-op.
    let (code, stdout, _) = moocdb(&[
        "load",
        "--database-url",
        &url,
        "--json",
        sample.to_str().unwrap(),
    ]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(v["skipped_files"], 1);
    assert_eq!(v["files"], 0);

    // status reports the ledger.
    let (code, stdout, _) = moocdb(&["status", "--database-url", &url]);
    assert_eq!(code, 0);
    assert!(stdout.contains("1 loaded"), "{stdout}");
    assert!(stdout.contains("sample.log"));
}

#[tokio::test]
async fn cli_quiet_prints_only_warnings_errors_and_json() {
    let (url, _) = fresh_database("cli_quiet").await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("tracking.log");
    std::fs::copy(data("sample.log"), &log).unwrap();
    let log = log.to_str().unwrap();
    let no_summary = |stderr: &str| {
        for said in ["Loaded", "Rows written", "INFO", "already loaded"] {
            assert!(!stderr.contains(said), "{said:?} on stderr: {stderr}");
        }
    };

    let (code, stdout, stderr) = moocdb(&["load", "-q", "--database-url", &url, log]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout, "", "nothing on stdout");
    no_summary(&stderr);

    // With --json, the object alone; and the informational "already loaded" is not said.
    let (code, stdout, stderr) = moocdb(&["load", "-q", "--json", "--database-url", &url, log]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout.lines().count(), 1, "one line: {stdout}");
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("one JSON object");
    assert!(v.is_object(), "{stdout}");
    assert_eq!(v["skipped_files"], 1, "{stdout}");
    no_summary(&stderr);

    // A warning is still given: the file changed where it had been loaded.
    let text = std::fs::read_to_string(log).unwrap();
    std::fs::write(log, text.replacen("\"event_type\"", "\"event_type\" ", 1)).unwrap();
    let (code, stdout, stderr) = moocdb(&["load", "-q", "--database-url", &url, log]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout, "");
    assert!(stderr.contains("WARN"), "{stderr}");
    assert!(stderr.contains("changed since it was loaded"), "{stderr}");
    let database = url.rsplit('/').next().unwrap();
    assert!(stderr.contains(&format!("into `{database}`")), "{stderr}");
    no_summary(&stderr);
}

#[tokio::test]
async fn a_mostly_bad_file_fails_loudly() {
    let (url, _) = fresh_database("bad_ratio").await;
    // A copy last modified an hour ago: not a live log, so its unterminated, truncated last line
    // is a reject rather than a line still being written (docs/incremental.md).
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad_lines.log");
    std::fs::copy(data("bad_lines.log"), &bad).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&bad)
        .unwrap()
        .set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(3600))
        .unwrap();
    let (code, _, stderr) = moocdb(&["load", "--database-url", &url, bad.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(stderr.contains("bad_lines.log"), "{stderr}");
    assert!(stderr.contains("max-bad-ratio"), "{stderr}");
    // With a tolerant ratio the good lines load and every bad one is a reject.
    let (code, stdout, stderr) = moocdb(&[
        "load",
        "--database-url",
        &url,
        "--max-bad-ratio",
        "1",
        "--json",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    // 4 good events, and the over-escaped seq_goto that is repaired as json_to_relation did.
    assert_eq!(v["events"], 5);
    assert_eq!(v["rejected"], 10);
}

#[tokio::test]
async fn prefixed_lines_load_completely() {
    let (url, _) = fresh_database("prefixed").await;
    let s = load(options(&url, &[&data("prefixed.log")])).await;
    assert_eq!(s.lines, 20);
    assert_eq!(s.events, 20);
    assert_eq!(s.rejected, 0);
    assert_eq!(count(&pool(&url).await, "EdxTrackEvent").await, 20);
}

/// Where the line that crosses the middle of `text` ends: the start of its second half.
fn half_at_a_line_end(text: &[u8]) -> usize {
    let middle = text.len() / 2;
    middle + text[middle..].iter().position(|&b| b == b'\n').unwrap() + 1
}

#[tokio::test]
async fn multi_member_gzip_loads_completely() {
    use flate2::{Compression, write::GzEncoder};
    let text = std::fs::read(data("sample.log")).unwrap();
    let cut = half_at_a_line_end(&text);
    let dir = tempfile::tempdir().unwrap();
    let gz = dir.path().join("two-members.log.gz");
    let mut file = std::fs::File::create(&gz).unwrap();
    for part in [&text[..cut], &text[cut..]] {
        let mut enc = GzEncoder::new(Vec::new(), Compression::default());
        enc.write_all(part).unwrap();
        file.write_all(&enc.finish().unwrap()).unwrap();
    }
    drop(file);
    let (url, _) = fresh_database("multigz").await;
    let s = load(options(&url, &[&gz])).await;
    assert_eq!(s.lines, 314, "both members are read");
    assert_eq!(s.events, 307);
    assert_eq!(
        count(&pool(&url).await, "EdxTrackEvent").await as u64,
        s.rows["EdxTrackEvent"]
    );
}

/// The column names and order of moocdb.sql (EDUlib/eTracesX create_MOOCdb.sql), written out here
/// independently of the code that creates them.
const MOOCDB_SQL_COLUMNS: [(&str, &str); 12] = [
    ("os", "os_id,os_name"),
    ("agent", "agent_id,agent_name"),
    ("urls", "url_id,url"),
    (
        "resource_types",
        "resource_type_id,resource_type_content,resource_type_medium",
    ),
    (
        "resources",
        "resource_id,resource_name,resource_uri,resource_type_id,resource_parent_id,resource_child_number,resource_relevant_week,resource_release_date",
    ),
    ("resources_urls", "resources_urls_id,resource_id,url_id"),
    (
        "observed_events",
        "observed_event_id,user_id,url_id,observed_event_timestamp,observed_event_duration,observed_event_ip,observed_event_os,observed_event_agent,observed_event_type_id",
    ),
    ("problem_types", "problem_type_id,problem_type_name"),
    (
        "problems",
        "problem_id,problem_name,problem_parent_id,problem_child_number,problem_type_id,problem_release_timestamp,problem_soft_deadline,problem_hard_deadline,problem_max_submission,problem_max_duration,problem_weight,resource_id",
    ),
    (
        "submissions",
        "submission_id,user_id,problem_id,submission_timestamp,submission_attempt_number,submission_answer,submission_is_submitted,submission_ip,submission_os,submission_agent",
    ),
    (
        "assessments",
        "assessment_id,submission_id,assessment_feedback,assessment_grade,assessment_grade_with_penalty,assessment_grader_id,assessment_timestamp",
    ),
    ("users", "user_id"),
];

async fn columns_of(pool: &sqlx::mysql::MySqlPool, db: &str, table: &str) -> String {
    let cols: Vec<String> = sqlx::query_scalar(
        "SELECT CAST(COLUMN_NAME AS CHAR) FROM information_schema.COLUMNS \
         WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
    )
    .bind(db)
    .bind(table)
    .fetch_all(pool)
    .await
    .unwrap();
    cols.join(",")
}

#[tokio::test]
async fn moocdb_tables_have_exactly_the_legacy_columns() {
    let (url, db) = fresh_database("columns").await;
    let (code, _, stderr) = moocdb(&["migrate", "--database-url", &url]);
    assert_eq!(code, 0, "{stderr}");
    let pool = pool(&url).await;
    for (table, expected) in MOOCDB_SQL_COLUMNS {
        assert_eq!(
            columns_of(&pool, &db, table).await,
            expected,
            "table {table}"
        );
    }
    // Every table the loader writes has the columns the writers name, in order.
    for table in Table::ALL {
        let schema = if table.is_private() {
            format!("{db}_private")
        } else {
            db.clone()
        };
        assert_eq!(
            columns_of(&pool, &schema, table.name()).await,
            table.columns().join(","),
            "table {}",
            table.name()
        );
    }
}

#[tokio::test]
async fn infile_and_insert_give_identical_tables() {
    let sample = data("sample.log");
    let (url_a, _) = fresh_database("method_infile").await;
    let mut o = options(&url_a, &[&sample]);
    o.method = MethodChoice::Infile;
    // Small batches: each table's one statement carries many of them.
    o.batch_bytes = 16 * 1024;
    let a = load(o).await;
    assert_eq!(a.method, "infile");
    let (url_b, _) = fresh_database("method_insert").await;
    let mut o = options(&url_b, &[&sample]);
    o.method = MethodChoice::Insert;
    // Small batches: many statements, split rows.
    o.batch_bytes = 16 * 1024;
    let b = load(o).await;
    assert_eq!(b.method, "insert");
    assert_eq!(a.rows, b.rows);
    assert_same_public_tables(&url_a, &url_b).await;
}

#[tokio::test]
async fn insert_gives_the_infile_tables_with_full_and_partial_statements() {
    // Enough events for several full prepared statements per large table and a partial last
    // one, in two files: the second's `observed_events`, `submissions` and `assessments` rows
    // replace rows of the first.
    let mut text = Vec::new();
    let generated = GeneratorOptions {
        events: 4000,
        users: 40,
        courses: 1,
        days: 4,
        seed: 11,
        ..GeneratorOptions::default()
    };
    generate(&generated, &mut text).unwrap();
    let cut = half_at_a_line_end(&text);
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first.log");
    let second = dir.path().join("second.log");
    std::fs::write(&first, &text[..cut]).unwrap();
    std::fs::write(&second, &text[cut..]).unwrap();
    let mut summaries = Vec::new();
    let mut urls = Vec::new();
    for method in [MethodChoice::Infile, MethodChoice::Insert] {
        let (url, _) = fresh_database("full_statements").await;
        for log in [&first, &second] {
            let mut o = options(&url, &[log]);
            o.method = method;
            summaries.push(load(o).await);
        }
        urls.push(url);
    }
    let full = rows_per_statement(Table::EdxTrackEvent);
    assert!(
        summaries[2].rows["EdxTrackEvent"] > 3 * full,
        "{} rows: too few for full statements",
        summaries[2].rows["EdxTrackEvent"]
    );
    assert_eq!(summaries[3].method, "insert");
    assert_eq!(summaries[0].rows, summaries[2].rows);
    assert_eq!(summaries[1].rows, summaries[3].rows);
    assert_same_public_tables(&urls[0], &urls[1]).await;
}

/// An account that may hold at most `limit` connections, with every right on database `db` and
/// its private one, and the URL of `db` for it; `None` (after saying so) when the test account
/// cannot create accounts. Drop it with [`drop_account`].
async fn limited_account(
    admin: &sqlx::MySqlPool,
    db: &str,
    limit: u32,
) -> Option<(String, String)> {
    let host: String = sqlx::query_scalar("SELECT SUBSTRING_INDEX(CURRENT_USER(), '@', -1)")
        .fetch_one(admin)
        .await
        .unwrap();
    let name = format!("moocdb_l{limit}");
    let account = format!("'{name}'@'{host}'");
    drop_account(admin, &account).await;
    let created = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE USER {account} IDENTIFIED BY 'few-pw' WITH MAX_USER_CONNECTIONS {limit}; \
         GRANT ALL ON `{db}`.* TO {account}; GRANT ALL ON `{db}_private`.* TO {account}"
    )))
    .execute(admin)
    .await;
    if let Err(e) = created {
        eprintln!("SKIPPED: the test account cannot create a limited account here ({e})");
        return None;
    }
    let mut url = url::Url::parse(&format!("{}/{db}", server_url())).unwrap();
    url.set_username(&name).unwrap();
    url.set_password(Some("few-pw")).unwrap();
    Some((account, url.to_string()))
}

async fn drop_account(admin: &sqlx::MySqlPool, account: &str) {
    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP USER IF EXISTS {account}"
    )))
    .execute(admin)
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_account_with_few_connections_left_gets_the_same_tables() {
    // An account limited to 12 connections: the bookkeeping pool may use 7, so LOAD DATA gets
    // fewer connections than there are tables and must take turns; one per table would fail
    // with "too many connections". The insert method's transactions into the empty tables take
    // turns too, and a table without one gets its rows a statement at a time.
    let sample = data("sample.log");
    let (url_b, _) = fresh_database("many_connections").await;
    let mut o = options(&url_b, &[&sample]);
    o.method = MethodChoice::Infile;
    o.batch_bytes = 16 * 1024;
    let b = load(o).await;
    for (method, name) in [
        (MethodChoice::Infile, "infile"),
        (MethodChoice::Insert, "insert"),
    ] {
        let (_, db_a) = fresh_database("few_connections").await;
        let admin = pool(&format!("{}/mysql", server_url())).await;
        let Some((account, limited)) = limited_account(&admin, &db_a, 12).await else {
            return;
        };
        let mut o = options(&limited, &[&sample]);
        o.method = method;
        o.batch_bytes = 16 * 1024;
        let a = moocdb_loader::run(
            o,
            moocdb_loader::progress::Progress::new(moocdb_loader::progress::ProgressMode::Quiet),
            Default::default(),
        )
        .await;
        drop_account(&admin, &account).await;
        let a = a.expect("the load fits in the account's connections");
        assert_eq!(a.method, name);
        assert_eq!(a.rows, b.rows);
        assert_same_public_tables(&format!("{}/{db_a}", server_url()), &url_b).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn statements_take_turns_when_the_server_refuses_connections_midway() {
    use moocdb_loader::sink::Target;
    use moocdb_loader::sink::infile::InfilePool;
    use moocdb_loader::sink::{
        Batch, Connections, Encoding, InsertConnections, RowBuffer, Writers,
    };
    // The writers may open a connection per table, but the account may hold only 3: the server
    // refuses the fourth, as when other clients take the room the server had when the load
    // began. The five tables' `LOAD DATA` statements must take turns on three connections; with
    // the insert method, the transactions into the empty tables take turns on the two left
    // beside the pool's, and the tables they had to end get their rows a statement at a time.
    for (encoding, name) in [
        (Encoding::Tsv, "refused_midway"),
        (Encoding::Params, "refused_insert"),
    ] {
        let (url, db) = fresh_database(name).await;
        let target = Target::parse(&url, None).unwrap();
        let schema = moocdb_loader::store::prepare(&target, false, 1)
            .await
            .unwrap();
        schema.close().await;
        let admin = pool(&format!("{}/mysql", server_url())).await;
        let Some((account, limited)) = limited_account(&admin, &db, 3).await else {
            return;
        };
        let target = Target::parse(&limited, None).unwrap();
        let connections = match encoding {
            Encoding::Tsv => {
                Connections::Infile(InfilePool::new(&target, Table::ALL.len()).unwrap())
            }
            Encoding::Params => Connections::Insert(InsertConnections {
                pool: target.pool(&db, 1).await.unwrap(),
                streams: Table::ALL.len(),
            }),
        };
        let writers = Writers::start(connections, db.clone(), format!("{db}_private"), 4, 4);
        let sender = writers.sender();
        let tables = [
            Table::Os,
            Table::Agent,
            Table::Urls,
            Table::ProblemTypes,
            Table::Users,
        ];
        let sent = tokio::task::spawn_blocking(move || {
            for round in 0..20 {
                for (i, &table) in tables.iter().enumerate() {
                    let id = round * 10 + i + 1;
                    let mut row = RowBuffer::new(encoding);
                    match table {
                        Table::Users => row.text(&format!("user{id}")),
                        _ => {
                            row.int(id as i64);
                            row.text(&format!("name {id}"));
                        }
                    }
                    row.end_row();
                    let (data, rows) = row.take();
                    sender.send(Batch {
                        table,
                        data,
                        rows,
                        destination: 0,
                    })?;
                }
            }
            sender.barrier()
        });
        let sent = sent.await.unwrap();
        let finished = writers.finish().await;
        drop_account(&admin, &account).await;
        sent.expect("every batch is stored, with fewer statements at once");
        finished.unwrap();
        let check = pool(&url).await;
        for table in tables {
            assert_eq!(
                count(&check, table.name()).await,
                20,
                "{name}: {}",
                table.name()
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_table_statement_that_fails_is_reported_not_waited_for() {
    use moocdb_loader::sink::Target;
    use moocdb_loader::sink::infile::InfilePool;
    use moocdb_loader::sink::{Batch, Connections, Writers};
    // A database without the loader's tables: the `os` table's statement fails at once, while
    // its batches keep coming.
    let (url, db) = fresh_database("stream_failure").await;
    let admin = pool(&format!("{}/mysql", server_url())).await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE `{db}`")))
        .execute(&admin)
        .await
        .unwrap();
    let target = Target::parse(&url, None).unwrap();
    let writers = Writers::start(
        Connections::Infile(InfilePool::new(&target, 4).unwrap()),
        db.clone(),
        format!("{db}_private"),
        4,
        4,
    );
    let sender = writers.sender();
    let sent = tokio::task::spawn_blocking(move || {
        for id in 1..=20 {
            let data = format!("{id}\tLinux\n").into_bytes();
            let batch = Batch {
                table: Table::Os,
                data,
                rows: 1,
                destination: 0,
            };
            sender.send(batch)?;
        }
        sender.barrier().map(drop)
    });
    let sent = tokio::time::timeout(std::time::Duration::from_secs(60), sent)
        .await
        .expect("the failure ends the load, not a wait")
        .unwrap();
    assert!(sent.is_err(), "the failed statement stops the senders");
    let error = writers.finish().await.unwrap_err().to_string();
    assert!(error.contains("`os`"), "{error}");
    assert!(error.contains("doesn't exist"), "{error}");
}

/// Strings that break naive escaping, as JSON string literals.
const TRICKY: [&str; 10] = [
    r#"tab\there"#,
    r#"new\nline"#,
    r#"carriage\rreturn"#,
    r#"back\\slash \\N \\t"#,
    r#"it's \"quoted\""#,
    r#"nul\u0000byte"#,
    r#"\\N"#,
    r#"emoji 🎉 and 𝄞 and \ud83d\ude00"#,
    r#"ctrl-z \u001a end"#,
    r#"trailing backslash \\"#,
];

#[tokio::test]
async fn tricky_strings_round_trip_through_both_methods() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("tricky.log");
    let mut text = String::new();
    for (i, s) in TRICKY.iter().enumerate() {
        text.push_str(&format!(
            "{{\"username\":\"u{i}\",\"event_type\":\"play_video\",\"event_source\":\"browser\",\"time\":\"2026-01-01T00:00:0{i}+00:00\",\"ip\":\"192.0.2.{i}\",\"agent\":\"{s}\",\"session\":\"{s}\",\"page\":\"https://courses.example.org/x\",\"event\":\"{{}}\"}}\n"
        ));
    }
    std::fs::write(&log, text.as_bytes()).unwrap();
    let expected: Vec<String> = TRICKY
        .iter()
        .map(|s| serde_json::from_str::<String>(&format!("\"{s}\"")).unwrap())
        .collect();
    for method in [MethodChoice::Infile, MethodChoice::Insert] {
        let (url, _) = fresh_database("tricky").await;
        let mut o = options(&url, &[&log]);
        o.method = method;
        let s = load(o).await;
        assert_eq!(s.events, TRICKY.len() as u64);
        let pool = pool(&url).await;
        let rows: Vec<(Vec<u8>, Vec<u8>)> =
            sqlx::query_as("SELECT CAST(agent AS BINARY), CAST(session AS BINARY) FROM EdxTrackEvent ORDER BY time")
                .fetch_all(&pool)
                .await
                .unwrap();
        let got: Vec<String> = rows
            .iter()
            .map(|(a, s)| {
                assert_eq!(a, s);
                String::from_utf8(a.clone()).unwrap()
            })
            .collect();
        assert_eq!(got, expected, "method {method:?}");
    }
}

#[tokio::test]
async fn conformance_tracking_log_loads() {
    let Some(shared) = shared("conformance_tracking_log_loads") else {
        return;
    };
    let input = shared.join("conformance/set2_tracking_log_20130609/input.log.gz");
    let (url, _) = fresh_database("set2").await;
    let s = load(options(&url, &[&input])).await;
    eprintln!("set2: {s:?}");
    assert_eq!(s.lines, 6460);
    assert_eq!(s.lines, s.events + s.rejected + s.duplicates + s.skipped);
    let pool = pool(&url).await;
    // json_to_relation wrote 809 rows and dropped the 40 lines with a truncated `event`; they load
    // here, with the truncated text kept in badly_formatted.
    assert_eq!(count(&pool, "EdxTrackEvent").await, 849);
    let truncated: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM EdxTrackEvent WHERE badly_formatted <> ''")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(truncated, 40);
    assert!(count(&pool, "observed_events").await > 800);
    assert_eq!(count(&pool, "LoadInfo").await, 1);
    let load_file: String = sqlx::query_scalar("SELECT load_file FROM LoadInfo")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(load_file.starts_with("file:///") && load_file.ends_with("input.log.gz"));
}

#[test]
fn no_file_is_written_during_a_load() {
    if std::process::Command::new("strace")
        .arg("-V")
        .output()
        .is_err()
    {
        eprintln!(
            "SKIPPED no_file_is_written_during_a_load: strace is not installed (apt-get install strace)"
        );
        return;
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (url, _) = rt.block_on(fresh_database("nofiles"));
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("trace");
    let sample = data("sample.log");
    let status = std::process::Command::new("strace")
        .args(["-f", "-qq", "-e", "trace=open,openat,openat2,creat,rename,renameat,renameat2,mkdir,mkdirat,unlink,unlinkat", "-o"])
        .arg(&trace)
        .arg(env!("CARGO_BIN_EXE_moocdb"))
        .args(["load", "--quiet", "--database-url", &url])
        .arg(&sample)
        .env_remove("DATABASE_URL")
        .status()
        .unwrap();
    assert!(status.success());
    let trace = std::fs::read_to_string(&trace).unwrap();
    let writes: Vec<&str> = trace
        .lines()
        .filter(|l| {
            l.contains("O_WRONLY")
                || l.contains("O_RDWR")
                || l.contains("O_CREAT")
                || l.contains("creat(")
                || l.contains("rename")
                || l.contains("mkdir")
                || l.contains("unlink")
        })
        .filter(|l| !l.contains("/dev/null") && !l.contains("/dev/tty"))
        .collect();
    assert!(
        trace.lines().any(|l| l.contains("sample.log")),
        "the trace saw the input being opened"
    );
    assert!(writes.is_empty(), "files opened for writing: {writes:#?}");
}

#[tokio::test]
async fn a_percent_encoded_database_name_is_used_decoded() {
    let name = "t_ünï-code {x}";
    let encoded = "t_%C3%BCn%C3%AF-code%20%7Bx%7D";
    let admin = pool(&format!("{}/mysql", server_url())).await;
    for db in [name, &format!("{name}_private"), encoded] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS `{db}`"
        )))
        .execute(&admin)
        .await
        .unwrap();
    }
    let url = format!("{}/{encoded}", server_url());
    let sample = data("sample.log");
    let (code, stdout, stderr) =
        moocdb(&["load", "--database-url", &url, sample.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains(&format!("into `{name}`")), "{stdout}");
    let exists = |db: String| {
        let admin = admin.clone();
        async move {
            sqlx::query_scalar::<_, i64>(
                "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
            )
            .bind(db)
            .fetch_one(&admin)
            .await
            .unwrap()
                == 1
        }
    };
    assert!(exists(name.to_string()).await);
    assert!(exists(format!("{name}_private")).await);
    assert!(!exists(encoded.to_string()).await);
    let events: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM `{name}`.EdxTrackEvent"
    )))
    .fetch_one(&admin)
    .await
    .unwrap();
    assert!(events > 0);

    // `moocdb status` reads the same database back.
    let (code, stdout, stderr) = moocdb(&["status", "--database-url", &url]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains(&format!(
            "Database `{name}`: 1 file in the ledger, 1 loaded"
        )),
        "{stdout}"
    );
}

#[tokio::test]
async fn no_pii_writes_no_private_database() {
    let (url, db) = fresh_database("no_pii").await;
    let mut o = options(&url, &[&data("sample.log")]);
    o.no_pii = true;
    let s = load(o).await;
    assert!(!s.rows.contains_key("EventIp") && !s.rows.contains_key("Account"));
    let pool = pool(&url).await;
    let private: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
    )
    .bind(format!("{db}_private"))
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(private, 0);
    // And a chosen private database is used when asked.
    let (url2, db2) = fresh_database("private_named").await;
    let mut o = options(&url2, &[&data("sample.log")]);
    o.private_database = Some(format!("{db2}_secret"));
    load(o).await;
    let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM `{db2}_secret`.EventIp"
    )))
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(n, 307);
}

/// `dry_run_bytes` (the fuzz targets' seam) is the file path: the same bytes in memory and on
/// disk, plain or gzip, JSON lines or a pretty-printed document, give the same counts and rows.
#[tokio::test]
async fn dry_run_bytes_counts_what_a_dry_run_of_the_file_counts() {
    use moocdb_loader::load::{LoadOptions, dry_run_bytes};
    let dir = tempfile::tempdir().unwrap();
    let sample = std::fs::read(data("sample.log")).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&sample).unwrap();
    let document = b"[\n  {\"username\": \"u1\", \"event_type\": \"play_video\",\n   \"time\": \"2026-01-01T10:00:00Z\", \"event\": {}},\n  {\"bad\": 1}\n]\n";
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("sample.log", sample.clone()),
        (
            "bad_lines.log",
            std::fs::read(data("bad_lines.log")).unwrap(),
        ),
        ("prefixed.log", std::fs::read(data("prefixed.log")).unwrap()),
        ("sample.log.gz", gz.finish().unwrap()),
        ("document.json", document.to_vec()),
    ];
    for (name, bytes) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, &bytes).unwrap();
        // Not a live file (one written in the last five minutes), whose unterminated last line
        // would wait for the next load: bytes in memory are never live.
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(3600))
            .unwrap();
        let options = LoadOptions {
            paths: vec![path],
            dry_run: true,
            max_bad_ratio: 1.0,
            ..LoadOptions::default()
        };
        let from_file = moocdb_loader::run(
            options.clone(),
            moocdb_loader::progress::Progress::new(moocdb_loader::progress::ProgressMode::Quiet),
            Default::default(),
        )
        .await
        .unwrap();
        let in_memory = dry_run_bytes(&bytes, options).await.unwrap();
        let counts = |s: &moocdb_loader::LoadSummary| {
            (
                s.files,
                s.lines,
                s.events,
                s.rejected,
                s.duplicates,
                s.skipped,
                s.rows.clone(),
            )
        };
        assert!(from_file.events > 0, "{name}: {from_file:?}");
        assert_eq!(counts(&in_memory), counts(&from_file), "{name}");
    }
}
