//! A server can never read a client file through the loader's LOCAL INFILE support, and the
//! database password never appears in anything the loader prints or stores.

mod common;

use common::*;
use moocdb_loader::sink::Target;
use moocdb_loader::sink::infile::InfilePool;

#[tokio::test]
async fn a_local_infile_request_for_a_client_file_gets_only_the_loaders_rows() {
    let (url, db) = fresh_database("infile_attack").await;
    let admin = {
        let p = pool(&format!("{}/mysql", server_url())).await;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE `{db}`")))
            .execute(&p)
            .await
            .unwrap();
        pool(&url).await
    };
    sqlx::query("CREATE TABLE leak (line TEXT)")
        .execute(&admin)
        .await
        .unwrap();
    let target = Target::parse(&url, None).unwrap();
    let infile = InfilePool::new(&target, 1).unwrap();
    // The statement (as a hostile server would) names /etc/passwd: the loader's handler serves
    // the rows it built in memory (here two batches), whatever file name is asked for.
    let (batches, received) = tokio::sync::mpsc::channel(2);
    batches.send(b"harmless row\n".to_vec()).await.unwrap();
    batches.send(b"second batch\n".to_vec()).await.unwrap();
    drop(batches);
    let connection = infile.connection("leak").await.unwrap();
    let n = infile
        .load_stream(
            connection,
            "LOAD DATA LOCAL INFILE '/etc/passwd' INTO TABLE leak (line)",
            "leak",
            received,
        )
        .await
        .unwrap();
    assert_eq!(n, 2);
    let lines: Vec<String> = sqlx::query_scalar("SELECT line FROM leak ORDER BY line")
        .fetch_all(&admin)
        .await
        .unwrap();
    assert_eq!(lines, ["harmless row", "second batch"]);
    assert!(!lines.iter().any(|l| l.contains("root:")));
    // Without a batch to serve (any other statement on the loader's connections), there is no
    // handler at all: the request fails instead of reading a file.
    let probe = infile.probe().await;
    assert!(probe.is_ok());
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM leak")
        .fetch_one(&admin)
        .await
        .unwrap();
    assert_eq!(count, 2);
    infile.close().await;
}

const SECRET: &str = "Sup3r-Secret_pw";

#[tokio::test]
async fn the_password_never_appears_in_outputs_or_tables() {
    // A user with a distinctive password, for a passing and a failing load.
    let (url, db) = fresh_database("secrets").await;
    let root = pool(&format!("{}/mysql", server_url())).await;
    for sql in [
        "DROP USER IF EXISTS 'moocdb_secret'@'%'".to_string(),
        format!("CREATE USER 'moocdb_secret'@'%' IDENTIFIED BY '{SECRET}'"),
        format!("GRANT ALL PRIVILEGES ON `{db}`.* TO 'moocdb_secret'@'%'"),
        format!("GRANT ALL PRIVILEGES ON `{db}_private`.* TO 'moocdb_secret'@'%'"),
    ] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&root)
            .await
            .unwrap();
    }
    let host = server_url().rsplit_once('@').unwrap().1;
    let good = format!("mysql://moocdb_secret:{SECRET}@{host}/{db}");
    let wrong = format!("mysql://moocdb_secret:{SECRET}x@{host}/{db}");
    let unknown = format!("mysql://moocdb_secret:{SECRET}@no-such-host.invalid:3306/{db}");
    let sample = data("sample.log");
    let sample = sample.to_str().unwrap();
    let mut outputs = Vec::new();
    // A load that panics (the test hook), at the most verbose log level.
    let panicked = moocdb_with_env(
        &["load", "-vv", "--database-url", &good, sample],
        &[
            ("MOOCDB_CRASH_AT", "after-chunk"),
            ("MOOCDB_CRASH_WITH", "panic"),
        ],
    );
    assert_ne!(panicked.0, 0);
    assert!(panicked.2.contains("test crash"), "{}", panicked.2);
    outputs.push((
        "panicking load".to_string(),
        panicked.0,
        panicked.1,
        panicked.2,
    ));
    for args in [
        vec!["load", "-vv", "--json", "--database-url", &good, sample],
        vec!["status", "--json", "--database-url", &good],
        vec!["status", "--database-url", &good],
        vec!["load", "--database-url", &wrong, sample],
        vec!["load", "--database-url", &unknown, sample],
        vec!["load", "--database-url", &good, "/no/such/file.log"],
    ] {
        let (code, stdout, stderr) = moocdb(&args);
        outputs.push((args[0].to_string(), code, stdout, stderr));
    }
    assert_eq!(outputs[1].1, 0, "{}", outputs[1].3);
    for (what, code, _, stderr) in &outputs[4..] {
        assert_ne!(*code, 0, "{what} should fail");
        assert_eq!(
            stderr.trim().lines().count(),
            1,
            "a one-line error: {stderr}"
        );
        assert!(stderr.starts_with("error:"), "{stderr}");
    }
    for (what, _, stdout, stderr) in &outputs {
        assert!(!stdout.contains(SECRET), "{what}: password in stdout");
        assert!(
            !stderr.contains(SECRET),
            "{what}: password in stderr: {stderr}"
        );
    }
    // Nor in the ledger, the rejects or the settings.
    let p = pool(&url).await;
    for sql in [
        "SELECT COUNT(*) FROM moocdb_loader_files WHERE CONCAT_WS(' ', path, row_counts, tool_version) LIKE ?",
        "SELECT COUNT(*) FROM moocdb_loader_rejects WHERE CONCAT_WS(' ', file, reason) LIKE ?",
        "SELECT COUNT(*) FROM moocdb_loader_settings WHERE value LIKE ?",
    ] {
        let n: i64 = sqlx::query_scalar(sql)
            .bind(format!("%{SECRET}%"))
            .fetch_one(&p)
            .await
            .unwrap();
        assert_eq!(n, 0, "{sql}");
    }
}
