//! A server can never read a client file through the loader's LOCAL INFILE support, the
//! database password never appears in anything the loader prints or stores, no username
//! reaches a public table, and no credential a URL carries reaches any table.

mod common;

use common::*;
use moocdb_loader::load::LoadOptions;
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

/// How many text columns the databases `schemas` have, and each that holds one of `texts`, as
/// `database.table.column: text`.
async fn text_columns_holding(
    p: &sqlx::mysql::MySqlPool,
    schemas: &[&str],
    texts: &[&str],
) -> (usize, Vec<String>) {
    let places = vec!["?"; schemas.len()].join(", ");
    let mut query = sqlx::query_as::<_, (String, String, String)>(sqlx::AssertSqlSafe(format!(
        "SELECT CAST(table_schema AS CHAR), CAST(table_name AS CHAR), CAST(column_name AS CHAR) \
         FROM information_schema.columns WHERE table_schema IN ({places}) \
         AND data_type IN ('char', 'varchar', 'text', 'mediumtext', 'longtext')"
    )));
    for schema in schemas {
        query = query.bind(*schema);
    }
    let columns = query.fetch_all(p).await.unwrap();
    let mut found = Vec::new();
    for (schema, table, column) in &columns {
        for text in texts {
            let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT COUNT(*) FROM `{schema}`.`{table}` WHERE `{column}` LIKE ?"
            )))
            .bind(format!("%{text}%"))
            .fetch_one(p)
            .await
            .unwrap();
            if n > 0 {
                found.push(format!("{schema}.{table}.{column}: {text}"));
            }
        }
    }
    (columns.len(), found)
}

/// Today's logs name learners by username in URLs: profile pages (`/u/<username>`), the
/// Discussions MFE's pages of one learner's posts, the user APIs, `username=` and `user=`
/// parameters, an e-mail address in `email=`, and the user id in a page of staff viewing a
/// learner's progress.
/// No text column of any public table holds a username afterwards; the page of a profile is
/// named by the learner's anon screen name, so it stays linked to the learner's rows.
#[tokio::test]
async fn no_username_reaches_a_public_table_through_a_url() {
    let (learner, viewer) = ("jane_doe_42", "rob_viewer_7");
    // The learner's key in the platform's user table.
    let learner_id = "8675309";
    let course = "course-v1:OrgX+CS101+2024_T1";
    let event = |minute: u32, source: &str, event_type: &str, page: Option<&str>, referer: &str| {
        serde_json::json!({
            "username": viewer, "event_source": source, "event_type": event_type,
            "time": format!("2024-03-01T10:{minute:02}:00.000000+00:00"),
            "ip": "192.0.2.1", "agent": "Mozilla/5.0", "host": "lms.example.org",
            "page": page, "referer": referer,
            "context": {"course_id": course, "org_id": "OrgX", "user_id": 7, "path": event_type},
            "event": {"GET": {}, "POST": {}},
        })
        .to_string()
    };
    let learners =
        format!("https://apps.example.org/discussions/{course}/learners/{learner}/posts");
    let lines = [
        event(
            1,
            "server",
            &format!("/u/{learner}"),
            None,
            "https://lms.example.org/dashboard",
        ),
        event(
            2,
            "browser",
            "edx.ui.lms.link_clicked",
            Some(&format!("https://lms.example.org/u/{learner}")),
            "",
        ),
        event(
            3,
            "browser",
            "edx.forum.thread.viewed",
            Some(&learners),
            &learners,
        ),
        event(
            4,
            "server",
            &format!("/api/user/v1/accounts/{learner}"),
            None,
            &format!("https://profile.example.org/u/{learner}"),
        ),
        event(
            5,
            "server",
            "/api/discussion/v1/threads/",
            None,
            &format!("{learners}?username={learner}"),
        ),
        event(
            6,
            "server",
            &format!("/api/mobile/v0.5/users/{learner}/course_enrollments/"),
            None,
            "",
        ),
        event(
            7,
            "browser",
            "page_close",
            Some(&format!(
                "https://lms.example.org/api/user/v1/accounts?email={learner}%40example.org"
            )),
            &format!("https://lms.example.org/api/enrollment/v1/enrollment?user={learner}"),
        ),
        event(
            8,
            "browser",
            "page_close",
            Some(&format!(
                "https://lms.example.org/courses/{course}/progress/{learner_id}/"
            )),
            "",
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("tracking.log");
    write_lines(&log, &lines);
    let (url, db) = fresh_database("usernames_in_urls").await;
    load(options(&url, &[&log])).await;
    let p = pool(&url).await;

    let (columns, found) = text_columns_holding(&p, &[&db], &[learner, viewer, learner_id]).await;
    assert!(columns > 50, "the public tables' text columns: {columns}");
    assert_eq!(found, Vec::<String>::new(), "usernames in public tables");

    // The profile's page is the learner's, by the anon screen name the learner's rows carry.
    let anon = moocdb_loader::identity::anon_screen_name(learner);
    let pages: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM urls WHERE url = ?")
        .bind(format!("https://lms.example.org/u/{anon}/"))
        .fetch_one(&p)
        .await
        .unwrap();
    assert_eq!(
        pages, 1,
        "the profile page by the learner's anon screen name"
    );
}

/// The LMS logs the links that are credentials (account activation, password reset, one-click
/// unsubscription) and the codes and tokens of single sign-on in their query strings. None of
/// them reaches any table, public or private, whether the log has it as the server event's type,
/// the page, the referer or inside another URL's `next`; the activation page is one resource.
#[tokio::test]
async fn no_credential_in_a_url_reaches_a_table() {
    let secrets = [
        "2d3a39b4064b44f9ba3d0d04c007fbc4",
        "9c1e7a25b1d84f0e8a61c4e2d7f3b590",
        "1b-5mq-0f9e8d7c6b5a4f3e2d1c",
        "YWxpY2Vfd19vcHRfb3V0",
        "4Ab9xQ7zLm2",
        "qSt8Rk3Vw1",
        "eyJhbGciOiJIUzI1NiJ9",
    ];
    let [key, other_key, reset, unsubscribe, code, state, token] = secrets;
    let event = |minute: u32,
                 user: &str,
                 source: &str,
                 event_type: &str,
                 page: Option<&str>,
                 referer: &str| {
        serde_json::json!({
            "username": user, "event_source": source, "event_type": event_type,
            "time": format!("2024-03-01T10:{minute:02}:00.000000+00:00"),
            "ip": "192.0.2.1", "agent": "Mozilla/5.0", "host": "lms.example.org",
            "page": page, "referer": referer,
            "context": {"course_id": "", "org_id": "", "user_id": 7, "path": event_type},
            "event": {"GET": {}, "POST": {}},
        })
        .to_string()
    };
    let lms = "https://lms.example.org";
    let mut lines = vec![
        event(1, "", "server", &format!("/activate/{key}"), None, ""),
        event(2, "", "server", &format!("/activate/{other_key}"), None, ""),
        event(
            3,
            "ann_learner",
            "server",
            "/dashboard",
            None,
            &format!("{lms}/activate/{key}"),
        ),
        event(
            4,
            "",
            "server",
            &format!("/password_reset_confirm/{reset}/"),
            None,
            &format!("{lms}/login?next=%2Factivate%2F{other_key}"),
        ),
        event(
            5,
            "ann_learner",
            "server",
            &format!("/notification_prefs/unsubscribe/{unsubscribe}/"),
            None,
            "",
        ),
        event(
            6,
            "ann_learner",
            "server",
            "/auth/complete/google-oauth2/",
            None,
            &format!("{lms}/auth/complete/google-oauth2/?state={state}&code={code}"),
        ),
        event(
            7,
            "ann_learner",
            "browser",
            "page_close",
            Some(&format!(
                "{lms}/api/mobile/v1/course_info/?access_token={token}"
            )),
            &format!("{lms}/login?next=%2Fauth%2Fcomplete%3Fcode%3D{code}"),
        ),
    ];
    // Where the login page sends the learner afterwards, which json_to_relation keeps as the
    // course of the event.
    lines.push(
        serde_json::json!({
            "username": "", "event_source": "server", "event_type": "/accounts/login",
            "time": "2024-03-01T10:08:00.000000+00:00", "ip": "192.0.2.1",
            "agent": "Mozilla/5.0", "host": "lms.example.org", "page": null, "referer": "",
            "event": {"GET": {"next": [format!("/password_reset_confirm/{reset}/")]}, "POST": {}},
        })
        .to_string(),
    );
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("tracking.log");
    write_lines(&log, &lines);
    let (url, db) = fresh_database("credentials_in_urls").await;
    load(options(&url, &[&log])).await;
    let p = pool(&url).await;

    let private = format!("{db}_private");
    let (columns, found) = text_columns_holding(&p, &[&db, &private], &secrets).await;
    assert!(columns > 60, "the tables' text columns: {columns}");
    assert_eq!(found, Vec::<String>::new(), "credentials in tables");

    // Both activations, and the referer of the third event, are one page.
    let activation: Vec<String> =
        sqlx::query_scalar("SELECT url FROM urls WHERE url LIKE '%/activate/%' ORDER BY url")
            .fetch_all(&p)
            .await
            .unwrap();
    assert_eq!(activation, [format!("{lms}/activate/_hidden_/")]);
}

/// A line the loader cannot parse still holds the learner's username, IP address and whatever
/// the event carried. The course database says where it was and why it was rejected; its bytes
/// are only in the private database, and nowhere with `--no-pii`. Bytes an earlier version kept
/// in the course database move to the private one at the next load.
#[tokio::test]
async fn a_rejected_lines_bytes_are_only_in_the_private_database() {
    let good = serde_json::json!({
        "username": "kept_learner", "event_source": "browser", "event_type": "page_close",
        "time": "2024-03-01T10:00:00.000000+00:00", "ip": "192.0.2.1", "agent": "Mozilla/5.0",
        "host": "lms.example.org", "page": "https://lms.example.org/dashboard", "event": "{}",
    })
    .to_string();
    // Cut off mid-line, as a disk-full rotation leaves it.
    let damaged = r#"{"username": "zed_rejected_9", "ip": "203.0.113.77", "event_type": "page_close", "time": "2024-03-01T10:01:00"#;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("tracking.log");
    write_lines(&log, &[good.clone(), damaged.to_string()]);

    let (url, db) = fresh_database("rejected_bytes").await;
    load(options(&url, &[&log])).await;
    let p = pool(&url).await;
    let public: Vec<(i64, i64)> =
        sqlx::query_as("SELECT line_number, LENGTH(raw) FROM moocdb_loader_rejects")
            .fetch_all(&p)
            .await
            .unwrap();
    assert_eq!(public, [(2, 0)], "the reject, without its bytes");
    let private_lines = |db: String| {
        let p = p.clone();
        async move {
            sqlx::query_scalar::<_, Vec<u8>>(sqlx::AssertSqlSafe(format!(
                "SELECT raw FROM `{db}_private`.moocdb_loader_rejected_lines"
            )))
            .fetch_all(&p)
            .await
            .unwrap()
        }
    };
    assert_eq!(private_lines(db.clone()).await, [damaged.as_bytes()]);

    // As an earlier version left it: the bytes in the course database, and neither the
    // `rejected_lines` setting nor migration 8, which finds the bytes and so does not set it.
    // The next load (of a file with nothing new) moves them.
    sqlx::query("UPDATE moocdb_loader_rejects SET raw = ?")
        .bind(damaged.as_bytes())
        .execute(&p)
        .await
        .unwrap();
    for undo in [
        "DELETE FROM moocdb_loader_settings WHERE name = 'rejected_lines'",
        "DELETE FROM _sqlx_migrations WHERE version = 8",
    ] {
        sqlx::query(undo).execute(&p).await.unwrap();
    }
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DELETE FROM `{db}_private`.moocdb_loader_rejected_lines"
    )))
    .execute(&p)
    .await
    .unwrap();
    load(options(&url, &[&log])).await;
    let left: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM moocdb_loader_rejects WHERE raw <> ''")
            .fetch_one(&p)
            .await
            .unwrap();
    assert_eq!(left, 0, "bytes left in the course database");
    assert_eq!(private_lines(db).await, [damaged.as_bytes()]);

    // Without a private database the bytes are kept nowhere.
    let (url, db) = fresh_database("rejected_bytes_no_pii").await;
    load(LoadOptions {
        no_pii: true,
        ..options(&url, &[&log])
    })
    .await;
    let p = pool(&url).await;
    let public: Vec<(i64, i64)> =
        sqlx::query_as("SELECT line_number, LENGTH(raw) FROM moocdb_loader_rejects")
            .fetch_all(&p)
            .await
            .unwrap();
    assert_eq!(public, [(2, 0)]);
    let private: Option<String> = sqlx::query_scalar(
        "SELECT schema_name FROM information_schema.schemata WHERE schema_name = ?",
    )
    .bind(format!("{db}_private"))
    .fetch_optional(&p)
    .await
    .unwrap();
    assert_eq!(private, None);
}

/// The LMS's instructor dashboard logs the usernames of the learner it acts on and of the
/// instructor or moderator it adds. No text column of any public table holds them; each is the
/// user's anon screen name, which joins to that user's own rows.
#[tokio::test]
async fn no_username_reaches_a_public_table_through_an_instructor_action() {
    let instructor = "prof_x_9";
    let names = [
        instructor,
        "stu_reset_1",
        "stu_progress_2",
        "stu_rescore_3",
        "stu_delete_4",
        "new_prof_5",
        "mod_user_6",
    ];
    let problem = "i4x://OrgX/CS101/problem/p1";
    let event = |minute: u32, event_type: &str, payload: serde_json::Value| {
        serde_json::json!({
            "username": instructor, "event_source": "server", "event_type": event_type,
            "time": format!("2013-06-09T10:{minute:02}:00.000000"),
            "ip": "192.0.2.1", "agent": "Mozilla/5.0", "host": "lms.example.org",
            "page": "idashboard", "event": payload,
        })
        .to_string()
    };
    let course = "OrgX/CS101/2013_Spring";
    let lines = [
        event(
            1,
            "reset-student-attempts",
            serde_json::json!({"old_attempts": 2, "student": names[1], "problem": problem,
                "instructor": instructor, "instructor_id": instructor, "course": course}),
        ),
        event(
            2,
            "get-student-progress-page",
            serde_json::json!({"student": names[2], "instructor": instructor,
                "instructor_id": instructor, "course": course}),
        ),
        event(
            3,
            "rescore-student-submission",
            serde_json::json!({"problem": problem, "student": names[3], "course": course}),
        ),
        event(
            4,
            "delete-student-module-state",
            serde_json::json!({"problem": problem, "student": names[4], "course": course}),
        ),
        event(
            5,
            "add-instructor",
            serde_json::json!({"instructor": names[5]}),
        ),
        event(
            6,
            "add-or-remove-user-group",
            serde_json::json!({"event_name": "Moderator", "user": names[6], "event": "add"}),
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("tracking.log");
    write_lines(&log, &lines);
    let (url, db) = fresh_database("usernames_in_instructor_actions").await;
    load(options(&url, &[&log])).await;
    let p = pool(&url).await;

    let (_, found) = text_columns_holding(&p, &[&db], &names).await;
    assert_eq!(found, Vec::<String>::new(), "usernames in public tables");

    let anon = moocdb_loader::identity::anon_screen_name;
    let acted_on: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT event_type, student_id, instructor_id FROM EdxTrackEvent \
         WHERE event_type IN ('reset-student-attempts', 'add-instructor') ORDER BY time",
    )
    .fetch_all(&p)
    .await
    .unwrap();
    assert_eq!(
        acted_on,
        [
            (
                "reset-student-attempts".into(),
                anon(names[1]),
                anon(instructor)
            ),
            ("add-instructor".into(), String::new(), anon(names[5])),
        ]
    );
}

/// The loader carries each IP address's latest event time from one run to the next (for
/// `downtime_for`): in the private database, never in the course database. What an earlier
/// version kept in the course database moves to the private one at the next load, keeping the
/// later time of an address in both.
#[tokio::test]
async fn the_carried_ip_state_is_only_in_the_private_database() {
    let line = |ip: &str, minute: u32| {
        serde_json::json!({
            "username": "kept_learner", "event_source": "browser", "event_type": "page_close",
            "time": format!("2024-03-01T10:{minute:02}:00.000000+00:00"), "ip": ip,
            "agent": "Mozilla/5.0", "host": "lms.example.org",
            "page": "https://lms.example.org/dashboard", "event": "{}",
        })
        .to_string()
    };
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("tracking.log-20240301");
    write_lines(&first, &[line("203.0.113.77", 1)]);
    let (url, db) = fresh_database("ip_state").await;
    load(options(&url, &[&first])).await;
    let p = pool(&url).await;
    let course: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM moocdb_loader_ip_state")
        .fetch_one(&p)
        .await
        .unwrap();
    assert_eq!(course, 0, "IP addresses in the course database");
    let private = |p: sqlx::mysql::MySqlPool, db: String| async move {
        sqlx::query_as::<_, (String, String)>(sqlx::AssertSqlSafe(format!(
            "SELECT ip, CAST(last_seen AS CHAR) FROM `{db}_private`.moocdb_loader_ip_state \
             ORDER BY ip"
        )))
        .fetch_all(&p)
        .await
        .unwrap()
    };
    assert_eq!(
        private(p.clone(), db.clone()).await,
        [("203.0.113.77".into(), "2024-03-01 10:01:00.000000".into())]
    );

    // As an earlier version left it: an address in the course database, one of them later than
    // the private database's time.
    sqlx::query(
        "INSERT INTO moocdb_loader_ip_state (ip, last_seen) VALUES \
         ('203.0.113.77', '2024-03-01 10:05:00'), ('198.51.100.9', '2024-03-01 09:00:00')",
    )
    .execute(&p)
    .await
    .unwrap();
    let second = dir.path().join("tracking.log-20240302");
    write_lines(&second, &[line("192.0.2.44", 20)]);
    load(options(&url, &[&first, &second])).await;
    let course: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM moocdb_loader_ip_state")
        .fetch_one(&p)
        .await
        .unwrap();
    assert_eq!(course, 0, "IP addresses left in the course database");
    assert_eq!(
        private(p.clone(), db).await,
        [
            ("192.0.2.44".into(), "2024-03-01 10:20:00.000000".into()),
            ("198.51.100.9".into(), "2024-03-01 09:00:00.000000".into()),
            ("203.0.113.77".into(), "2024-03-01 10:05:00.000000".into()),
        ]
    );
}
