//! TLS: a private server that refuses unencrypted connections (`require_secure_transport=ON`),
//! with a certificate from a CA made in the test. Both the sqlx connections and the
//! `mysql_async` LOAD DATA connections must follow the URL's `ssl-mode` / `ssl-ca`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::private_server::{PASSWORD, PrivateServer, USER};
use common::*;
use moocdb_loader::load::MethodChoice;
use moocdb_loader::progress::{Progress, ProgressMode};
use sqlx::Connection;

fn openssl(args: &[&str], dir: &Path) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A self-signed CA `<name>.pem` / `<name>.key` in `dir`.
fn make_ca(dir: &Path, name: &str) -> PathBuf {
    openssl(
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
            "-subj",
            &format!("/CN=moocdb test {name}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
        dir,
    );
    dir.join(format!("{name}.pem"))
}

/// `server.pem` / `server.key` for 127.0.0.1 and localhost, signed by the CA `ca`.
fn make_server_certificate(dir: &Path, ca: &str) -> (PathBuf, PathBuf) {
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=critical,CA:FALSE\n\
         keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
        dir,
    );
    openssl(
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            &format!("{ca}.pem"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-days",
            "2",
            "-out",
            "server.pem",
            "-extfile",
            "server.ext",
        ],
        dir,
    );
    (dir.join("server.pem"), dir.join("server.key"))
}

async fn try_load(
    url: &str,
    method: MethodChoice,
) -> Result<moocdb_loader::load::LoadSummary, moocdb_loader::error::LoadError> {
    let mut o = options(url, &[&data("sample.log")]);
    o.method = method;
    moocdb_loader::run(o, Progress::new(ProgressMode::Quiet), Default::default()).await
}

/// Thread ids of the connections `USER` opened, with where from and how ("127.0.0.1 SSL/TLS",
/// "localhost Socket"), and the thread ids that ran a LOAD DATA, from the server's general log.
fn general_log(path: &Path) -> (Vec<(String, String)>, Vec<String>) {
    let text = String::from_utf8_lossy(&std::fs::read(path).unwrap()).into_owned();
    let mut connects = Vec::new();
    let mut loads = Vec::new();
    for line in text.lines() {
        // "[timestamp]\t<spaces><thread id> <command>\t<argument>". The timestamp, written on the
        // first line of each second, is two words too ("261127 14:38:01"): the command is a word
        // of letters, the time is not.
        let fields: Vec<&str> = line.split('\t').collect();
        let Some(i) = fields.iter().position(|f| {
            let mut w = f.split_whitespace();
            matches!((w.next(), w.next(), w.next()), (Some(id), Some(command), None)
                if id.parse::<u64>().is_ok() && command.chars().all(|c| c.is_ascii_alphabetic()))
        }) else {
            continue;
        };
        let mut words = fields[i].split_whitespace();
        let (thread, command) = (words.next().unwrap(), words.next().unwrap());
        let argument = fields[i + 1..].join("\t");
        if command == "Connect" && argument.starts_with(&format!("{USER}@")) {
            // "<user>@<host> on <database> using <transport>"
            let host = argument[USER.len() + 1..].split(' ').next().unwrap_or("");
            let transport = argument.rsplit("using ").next().unwrap_or("").trim();
            connects.push((thread.to_string(), format!("{host} {transport}")));
        } else if command == "Query" && argument.starts_with("LOAD DATA LOCAL INFILE") {
            loads.push(thread.to_string());
        }
    }
    (connects, loads)
}

#[tokio::test]
async fn loads_over_tls_with_required_and_verify_ca_and_a_wrong_ca_fails_clearly() {
    if Command::new("openssl").arg("version").output().is_err() {
        eprintln!("SKIPPED tls: the openssl command is not installed");
        return;
    }
    let certs = tempfile::tempdir().unwrap();
    let ca = make_ca(certs.path(), "ca");
    let wrong_ca = make_ca(certs.path(), "other-ca");
    let (cert, key) = make_server_certificate(certs.path(), "ca");
    let general = certs.path().join("general.log");
    let Some(server) = PrivateServer::start(
        "tls",
        &[
            &format!("ssl_ca={}", ca.display()),
            &format!("ssl_cert={}", cert.display()),
            &format!("ssl_key={}", key.display()),
            "require_secure_transport=ON",
            "general_log=1",
            &format!("general_log_file={}", general.display()),
        ],
    ) else {
        return;
    };
    let (reference, _) = fresh_database("tls_reference").await;
    let expected = load(options(&reference, &[&data("sample.log")])).await;

    let verify = format!("ssl-mode=VERIFY_CA&ssl-ca={}", ca.display());
    for (db, query) in [("required", "ssl-mode=REQUIRED"), ("verify_ca", &verify)] {
        let url = server.url_with(db, query);
        let summary = try_load(&url, MethodChoice::Infile)
            .await
            .unwrap_or_else(|e| panic!("{query}: {e}"));
        assert_eq!(summary.method, "infile", "{query}");
        let mut conn = sqlx::mysql::MySqlConnection::connect(&url).await.unwrap();
        let (_, cipher): (String, String) = sqlx::query_as("SHOW STATUS LIKE 'Ssl_cipher'")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert!(!cipher.is_empty(), "{query}: the session is not encrypted");
        let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM EdxTrackEvent")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(rows as u64, expected.rows["EdxTrackEvent"], "{query}");
        eprintln!("{query}: {rows} EdxTrackEvent rows loaded over {cipher}");
        conn.close().await.unwrap();
        assert_same_public_tables(&reference, &server.url_with(db, query)).await;
    }

    // Every connection the loader made (sqlx and mysql_async alike) was TLS, and LOAD DATA ran
    // on them: not on a Unix socket, which mysql_async would switch to on its own.
    let (connects, loads) = general_log(&general);
    assert!(!connects.is_empty() && !loads.is_empty(), "{connects:?}");
    for (thread, how) in &connects {
        assert_eq!(how, "127.0.0.1 SSL/TLS", "connection {thread}");
    }
    for thread in &loads {
        assert!(
            connects.iter().any(|(t, _)| t == thread),
            "LOAD DATA on connection {thread}, which did not connect as {USER} over TLS"
        );
    }
    eprintln!(
        "{} connections, all SSL/TLS; {} LOAD DATA statements on them",
        connects.len(),
        loads.len()
    );

    // The server refuses unencrypted connections.
    let plain = try_load(
        &server.url_with("plain", "ssl-mode=DISABLED"),
        MethodChoice::Auto,
    )
    .await;
    assert!(plain.is_err(), "an unencrypted connection was accepted");

    // A CA that did not sign the server's certificate: one line, no password.
    let wrong = server.url_with(
        "wrong_ca",
        &format!("ssl-mode=VERIFY_CA&ssl-ca={}", wrong_ca.display()),
    );
    let sample = data("sample.log");
    let (code, _, stderr) = moocdb(&["load", "--database-url", &wrong, sample.to_str().unwrap()]);
    eprintln!("wrong CA: exit {code}, {}", stderr.trim());
    assert_ne!(code, 0);
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert!(stderr.starts_with("error:"), "{stderr}");
    assert!(stderr.contains("certificate"), "{stderr}");
    assert!(stderr.contains("ssl-ca"), "says what to check: {stderr}");
    assert!(!stderr.contains(PASSWORD), "{stderr}");
}
