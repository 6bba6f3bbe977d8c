//! A hostile server asks the loader for client files with LOCAL INFILE requests (0xFB packets)
//! in answer to queries that are not `LOAD DATA`, and renames the file its `LOAD DATA` requests
//! ask for. The loader must never send a file's content.
//!
//! The hostile server is a MySQL-protocol man in the middle in front of the real test server:
//! it relays the handshake (so authentication is real; it clears the TLS capability so that
//! every byte stays readable), records every byte the client sends, and injects or rewrites
//! LOCAL INFILE requests. A stand-alone fake could not take the real loader past sqlx's
//! migrations (prepared statements, result sets) to the `mysql_async` LOAD DATA path; relaying
//! to a real server does, so both drivers are attacked through `moocdb_loader::run`.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use moocdb_loader::progress::{Progress, ProgressMode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};

const COM_QUERY: u8 = 0x03;
const LOCAL_INFILE: u8 = 0xFB;
const CLIENT_SSL: u16 = 0x0800;

/// What the hostile server does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attack {
    /// Answers the first query of every connection (sqlx's session set-up) with a request.
    FirstQuery,
    /// Answers `CREATE TEMPORARY TABLE` (the `mysql_async` connection's statement before its
    /// LOAD DATA probe) with a request.
    TemporaryTable,
    /// Relays LOAD DATA, but rewrites the real server's request to name another file.
    RenameLoadData,
}

/// A running hostile server.
struct Hostile {
    port: u16,
    /// Every byte any client sent.
    received: Arc<Mutex<Vec<u8>>>,
    /// LOCAL INFILE requests sent to clients.
    requests: Arc<AtomicUsize>,
}

async fn read_packet(r: &mut OwnedReadHalf) -> std::io::Result<(u8, Vec<u8>)> {
    let mut head = [0u8; 4];
    r.read_exact(&mut head).await?;
    let len = u32::from_le_bytes([head[0], head[1], head[2], 0]) as usize;
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload).await?;
    Ok((head[3], payload))
}

async fn write_packet(w: &mut OwnedWriteHalf, seq: u8, payload: &[u8]) -> std::io::Result<()> {
    let len = (payload.len() as u32).to_le_bytes();
    let mut packet = vec![len[0], len[1], len[2], seq];
    packet.extend_from_slice(payload);
    w.write_all(&packet).await
}

/// Clears CLIENT_SSL in the server's greeting (handshake v10), so clients stay in plain text.
fn strip_tls(greeting: &mut [u8]) {
    if greeting.first() != Some(&10) {
        return;
    }
    let Some(nul) = greeting[1..].iter().position(|&b| b == 0) else {
        return;
    };
    // version, NUL, connection id (4), scramble part 1 (8), filler (1), capabilities (2).
    let at = 1 + nul + 1 + 4 + 8 + 1;
    if greeting.len() >= at + 2 {
        let caps = u16::from_le_bytes([greeting[at], greeting[at + 1]]) & !CLIENT_SSL;
        greeting[at..at + 2].copy_from_slice(&caps.to_le_bytes());
    }
}

fn error_packet(message: &str) -> Vec<u8> {
    let mut p = vec![0xFF];
    p.extend_from_slice(&1045u16.to_le_bytes());
    p.extend_from_slice(b"#28000");
    p.extend_from_slice(message.as_bytes());
    p
}

impl Hostile {
    async fn start(upstream: String, attack: Attack, files: Vec<String>) -> Hostile {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let requests = Arc::new(AtomicUsize::new(0));
        let (rec, req) = (received.clone(), requests.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(&upstream).await else {
                    continue;
                };
                let (rec, req, files) = (rec.clone(), req.clone(), files.clone());
                tokio::spawn(relay(client, server, attack, files, rec, req));
            }
        });
        Hostile {
            port,
            received,
            requests,
        }
    }

    fn received(&self) -> Vec<u8> {
        self.received.lock().unwrap().clone()
    }
}

fn next_file(files: &[String], requests: &AtomicUsize) -> Vec<u8> {
    let n = requests.fetch_add(1, Ordering::SeqCst);
    let mut p = vec![LOCAL_INFILE];
    p.extend_from_slice(files[n % files.len()].as_bytes());
    p
}

async fn relay(
    client: TcpStream,
    server: TcpStream,
    attack: Attack,
    files: Vec<String>,
    received: Arc<Mutex<Vec<u8>>>,
    requests: Arc<AtomicUsize>,
) {
    let (mut from_client, to_client) = client.into_split();
    let (mut from_server, mut to_server) = server.into_split();
    let to_client = Arc::new(tokio::sync::Mutex::new(to_client));
    // Server → client: strip TLS from the greeting; rename LOAD DATA's file.
    let downstream = {
        let (to_client, files, requests) = (to_client.clone(), files.clone(), requests.clone());
        tokio::spawn(async move {
            let mut greeted = false;
            while let Ok((seq, mut payload)) = read_packet(&mut from_server).await {
                if !greeted {
                    strip_tls(&mut payload);
                    greeted = true;
                } else if attack == Attack::RenameLoadData
                    && seq == 1
                    && payload.first() == Some(&LOCAL_INFILE)
                {
                    payload = next_file(&files, &requests);
                }
                if write_packet(&mut *to_client.lock().await, seq, &payload)
                    .await
                    .is_err()
                {
                    break;
                }
            }
        })
    };
    // Client → server: record; answer chosen queries with a request instead of relaying them.
    let mut queries = 0;
    while let Ok((seq, payload)) = read_packet(&mut from_client).await {
        received.lock().unwrap().extend_from_slice(&payload);
        let is_query = seq == 0 && payload.first() == Some(&COM_QUERY);
        if is_query {
            queries += 1;
        }
        let inject = is_query
            && match attack {
                Attack::FirstQuery => queries == 1,
                Attack::TemporaryTable => payload[1..].starts_with(b"CREATE TEMPORARY TABLE"),
                Attack::RenameLoadData => false,
            };
        if !inject {
            if write_packet(&mut to_server, seq, &payload).await.is_err() {
                break;
            }
            continue;
        }
        let request = next_file(&files, &requests);
        if write_packet(&mut *to_client.lock().await, 1, &request)
            .await
            .is_err()
        {
            break;
        }
        // Whatever the client sends now is what it would give a server for that file: take it
        // until the empty packet that ends it. A client that sends nothing is hung up on.
        let mut last = 1u8;
        let ended = loop {
            match tokio::time::timeout(Duration::from_secs(3), read_packet(&mut from_client)).await
            {
                Ok(Ok((seq, data))) => {
                    received.lock().unwrap().extend_from_slice(&data);
                    last = seq;
                    if data.is_empty() {
                        break true;
                    }
                }
                _ => break false,
            }
        };
        if !ended {
            break;
        }
        let refusal = error_packet("the hostile server got what it wanted");
        if write_packet(&mut *to_client.lock().await, last.wrapping_add(1), &refusal)
            .await
            .is_err()
        {
            break;
        }
    }
    downstream.abort();
}

/// A secret file, and the file names the hostile server asks for.
fn secret_file(dir: &std::path::Path) -> (String, Vec<String>) {
    let secret = "TOP-SECRET-3f9a1c: private key material that must never leave this machine";
    let path = dir.join("secret.txt");
    std::fs::write(&path, secret).unwrap();
    (
        secret.to_string(),
        vec![
            path.to_str().unwrap().to_string(),
            "/etc/passwd".to_string(),
        ],
    )
}

fn assert_nothing_leaked(received: &[u8], secret: &str) {
    let contains = |needle: &[u8]| received.windows(needle.len()).any(|w| w == needle);
    assert!(!contains(secret.as_bytes()), "the secret file was sent");
    if let Ok(passwd) = std::fs::read_to_string("/etc/passwd")
        && let Some(first) = passwd.lines().next()
    {
        assert!(!contains(first.as_bytes()), "/etc/passwd was sent");
    }
}

/// The loader through the hostile server: its result, within a minute (no hang).
async fn load_through(
    hostile: &Hostile,
    database: &str,
) -> Result<moocdb_loader::load::LoadSummary, moocdb_loader::error::LoadError> {
    let url = format!(
        "{}/{database}",
        server_url().replacen(
            &upstream_address(),
            &format!("127.0.0.1:{}", hostile.port),
            1
        )
    );
    let mut o = options(&url, &[&data("sample.log")]);
    o.writers = 2;
    tokio::time::timeout(
        Duration::from_secs(60),
        moocdb_loader::run(o, Progress::new(ProgressMode::Quiet), Default::default()),
    )
    .await
    .expect("the loader hung on the hostile server")
}

/// host:port of the real test server.
fn upstream_address() -> String {
    let rest = server_url().split_once("://").unwrap().1;
    let host_port = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    host_port.split('/').next().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlx_connections_never_send_a_file_to_a_request_answering_their_first_query() {
    let dir = tempfile::tempdir().unwrap();
    let (secret, files) = secret_file(dir.path());
    let hostile = Hostile::start(upstream_address(), Attack::FirstQuery, files).await;
    let (_, db) = fresh_database("hostile_first_query").await;
    let err = load_through(&hostile, &db)
        .await
        .expect_err("the load fails");
    eprintln!("first query answered with a LOCAL INFILE request: {err}");
    assert!(hostile.requests.load(Ordering::SeqCst) >= 1);
    assert_eq!(err.to_string().lines().count(), 1, "{err}");
    assert!(
        err.to_string().contains("127.0.0.1"),
        "names the server: {err}"
    );
    assert_nothing_leaked(&hostile.received(), &secret);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_load_data_connection_never_sends_a_file_to_a_request_answering_another_query() {
    let dir = tempfile::tempdir().unwrap();
    let (secret, files) = secret_file(dir.path());
    let hostile = Hostile::start(upstream_address(), Attack::TemporaryTable, files).await;
    let (_, db) = fresh_database("hostile_temporary_table").await;
    let err = load_through(&hostile, &db)
        .await
        .expect_err("the load fails");
    eprintln!("CREATE TEMPORARY TABLE answered with a LOCAL INFILE request: {err}");
    assert!(hostile.requests.load(Ordering::SeqCst) >= 1);
    assert_eq!(err.to_string().lines().count(), 1, "{err}");
    assert!(
        err.to_string()
            .contains("the server asked for a client file while checking"),
        "{err}"
    );
    assert_nothing_leaked(&hostile.received(), &secret);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renamed_load_data_request_gets_only_the_loaders_rows() {
    let dir = tempfile::tempdir().unwrap();
    let (secret, files) = secret_file(dir.path());
    let hostile = Hostile::start(upstream_address(), Attack::RenameLoadData, files).await;
    let (url, db) = fresh_database("hostile_rename").await;
    let summary = load_through(&hostile, &db)
        .await
        .expect("the loader serves its rows whatever the name");
    assert_eq!(summary.method, "infile");
    let requests = hostile.requests.load(Ordering::SeqCst);
    eprintln!("{requests} LOAD DATA requests renamed to the secret file or /etc/passwd");
    assert!(requests >= 2, "{requests}");
    let received = hostile.received();
    // The recording does hold what the loader served for those requests: its rows.
    assert!(
        received.windows(15).any(|w| w == b"DemoX/Loader101"),
        "the rows were not recorded"
    );
    assert_nothing_leaked(&received, &secret);
    // And the database holds exactly the loader's rows.
    let (clean, _) = fresh_database("hostile_rename_clean").await;
    load(options(&clean, &[&data("sample.log")])).await;
    assert_same_public_tables(&clean, &url).await;
}
