//! The `LOAD DATA LOCAL INFILE` path, the only user of `mysql_async` (sqlx cannot run it,
//! launchbadge/sqlx#1766).
//!
//! Security: no global infile handler is ever installed. Each statement gets a one-shot,
//! per-connection handler that serves the table's batches built in memory, whatever file name the
//! server asks for, so a server can never make the loader read a client file.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use mysql_async::prelude::Queryable;
use mysql_async::{OptsBuilder, Pool, PoolConstraints, PoolOpts, SslOpts};
use tokio::sync::mpsc;

use crate::error::{Fault, LoadError, fault_of_code, scrub};

use super::target::{SESSION_SETUP, Target};

/// Server errors meaning "LOCAL INFILE is not allowed here": 1148 (ER_NOT_ALLOWED_COMMAND),
/// 3948 (MySQL 8, local_infile=OFF), 4166 (MariaDB, ER_LOAD_INFILE_CAPABILITY_DISABLED).
pub const REFUSED_CODES: [u16; 3] = [1148, 3948, 4166];

/// The size of the pieces a batch is sent in. Each piece goes out as one protocol packet, which
/// must not exceed the server's `max_allowed_packet` (1 MB on some servers, 1 KB at the least),
/// while a batch is 2 MiB by default; 64 KiB keeps the number of writes small.
const INFILE_CHUNK: usize = 64 * 1024;

/// How long the server waits for the next piece of a table's streamed rows (its
/// `net_read_timeout`, 30 s by default; set once per connection): a table whose rows are rare
/// gets a batch only now and then, and the transform may wait on another table's full queue
/// meanwhile.
const STREAM_SESSION: &str = "SET SESSION net_read_timeout = 28800";

/// How long an idle connection of the infile pool is kept for the next statement.
const IDLE_CONNECTION_TTL: std::time::Duration = std::time::Duration::from_secs(30);

/// A pool of `mysql_async` connections for `LOAD DATA LOCAL INFILE`.
#[derive(Clone)]
pub struct InfilePool {
    pool: Pool,
    /// The most connections the pool opens: the most tables streaming at once.
    connections: usize,
    secret: Option<String>,
    /// For connection errors: the target (its URL's password is never shown).
    target: Target,
}

impl InfilePool {
    /// Up to `connections` connections to the target's course database with the loader's
    /// session settings.
    pub fn new(target: &Target, connections: usize) -> Result<InfilePool, LoadError> {
        let connections = connections.max(1);
        let (host, port, user, password) = target.parts();
        let mut opts = OptsBuilder::default()
            .ip_or_hostname(host)
            .tcp_port(port)
            .user(Some(user))
            .pass(password.clone())
            .db_name(Some(target.database.clone()))
            .setup(vec![SESSION_SETUP.to_string(), STREAM_SESSION.to_string()])
            // Connect exactly where the URL says, like the sqlx connections: by default
            // mysql_async reconnects to the Unix socket the server names in @@socket when the
            // host is local, which changes the account ('user'@'localhost'), drops the TLS the
            // URL asks for, and lets the server choose where the loader connects.
            .prefer_socket(false)
            .pool_opts(
                PoolOpts::default()
                    .with_constraints(
                        PoolConstraints::new(0, connections).expect("valid pool bounds"),
                    )
                    // Idle connections stay in the pool (up to its most) for the next
                    // statements: with mysql_async's default of none, every `LOAD DATA`
                    // statement opened a connection of its own (312 connections for a 20-file
                    // load committed file by file, 5,084 for a load into 101 course databases).
                    .with_inactive_connection_ttl(IDLE_CONNECTION_TTL)
                    // A statement leaves no session state to undo (the session settings above
                    // are the same for every statement, and each statement's infile handler is
                    // its own), so a returned connection is not reset: that would cost a round
                    // trip and the setup statements again.
                    .with_reset_connection(false),
            );
        if let Some(ssl) = ssl_opts(target) {
            opts = opts.ssl_opts(ssl);
        }
        Ok(InfilePool {
            pool: Pool::new(opts),
            connections,
            secret: password,
            target: target.clone(),
        })
    }

    /// The most statements that can run at once, one per connection.
    pub fn connections(&self) -> usize {
        self.connections
    }

    /// A connection for `table`'s statement: an idle one of the pool, or a new one while the
    /// pool has fewer than its most. Refused ([`LoadError::NoConnections`]) when the server or
    /// the account is at its connection limit.
    pub async fn connection(&self, table: &str) -> Result<StreamConnection, LoadError> {
        let operation = format!("writing to table `{table}`");
        (self.pool.get_conn().await)
            .map(StreamConnection)
            .map_err(|e| classify(e, &operation, table, self.secret.as_deref()))
    }

    /// Sends every batch received on `batches` with one `statement` (a `LOAD DATA LOCAL INFILE`
    /// statement) on `connection` that lasts until the channel closes; returns the rows the
    /// server inserted.
    ///
    /// One statement per table is what lets the server load rows into an empty table in bulk:
    /// MariaDB then writes no undo record per row and builds secondary indexes by sorting, which
    /// it does only for the first statement into an empty table. It cannot be run again after a
    /// deadlock (its rows are gone), but no other statement writes the table at the same time.
    pub async fn load_stream(
        &self,
        connection: StreamConnection,
        statement: &str,
        table: &str,
        batches: mpsc::Receiver<Vec<u8>>,
    ) -> Result<u64, LoadError> {
        let secret = self.secret.as_deref();
        let operation = format!("writing to table `{table}`");
        let write_error = |e: mysql_async::Error| classify(e, &operation, table, secret);
        let StreamConnection(mut conn) = connection;
        let chunks = BatchChunks {
            batches,
            current: Bytes::new(),
            at: 0,
        };
        conn.set_infile_handler(async move { Ok(chunks.boxed()) });
        conn.query_drop(statement).await.map_err(write_error)?;
        Ok(conn.affected_rows())
    }

    /// Whether `table` (named `qualified` in SQL) has no rows, asked on the connection about to
    /// load it.
    pub async fn is_empty(
        &self,
        connection: &mut StreamConnection,
        qualified: &str,
        table: &str,
    ) -> Result<bool, LoadError> {
        let operation = format!("checking whether table `{table}` is empty");
        let first: Option<u8> = (connection.0)
            .query_first(format!("SELECT 1 FROM {qualified} LIMIT 1"))
            .await
            .map_err(|e| classify(e, &operation, table, self.secret.as_deref()))?;
        Ok(first.is_none())
    }

    /// Checks that the server accepts LOCAL INFILE, with an empty load into a temporary table.
    pub async fn probe(&self) -> Result<(), LoadError> {
        let secret = self.secret.as_deref();
        // The first connection of this pool: a failure here is a failure to connect (TLS
        // settings, say), not a connection lost in the middle of the load.
        let mut conn = self
            .pool
            .get_conn()
            .await
            .map_err(|e| self.target.connect_error(e))?;
        conn.query_drop("CREATE TEMPORARY TABLE IF NOT EXISTS moocdb_infile_probe (x INT)")
            .await
            .map_err(|e| classify(e, PROBE, "(probe)", secret))?;
        conn.set_infile_handler(async { Ok(futures_util::stream::empty().boxed()) });
        let result = conn
            .query_drop("LOAD DATA LOCAL INFILE 'moocdb-probe' INTO TABLE moocdb_infile_probe")
            .await;
        let _ = conn
            .query_drop("DROP TEMPORARY TABLE IF EXISTS moocdb_infile_probe")
            .await;
        result.map_err(|e| classify(e, PROBE, "(probe)", secret))
    }

    /// Closes every connection.
    pub async fn close(self) {
        let _ = self.pool.disconnect().await;
    }
}

/// A connection of the infile pool, taken for one table's statement.
pub struct StreamConnection(mysql_async::Conn);

/// The batches of a table's stream, cut into pieces of [`INFILE_CHUNK`] bytes. A batch whose
/// pieces have all been sent goes back to the spare buffers.
struct BatchChunks {
    batches: mpsc::Receiver<Vec<u8>>,
    current: Bytes,
    at: usize,
}

impl Stream for BatchChunks {
    type Item = std::io::Result<Bytes>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if this.at < this.current.len() {
                let end = (this.at + INFILE_CHUNK).min(this.current.len());
                let chunk = this.current.slice(this.at..end);
                this.at = end;
                return Poll::Ready(Some(Ok(chunk)));
            }
            match this.batches.poll_recv(cx) {
                Poll::Ready(Some(data)) => {
                    let sent = std::mem::replace(&mut this.current, Bytes::from(data));
                    this.at = 0;
                    // The driver has written the last piece by the time it asks for the next.
                    if let Ok(buffer) = sent.try_into_mut() {
                        super::spare::give(buffer.into());
                    }
                }
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

fn ssl_opts(target: &Target) -> Option<SslOpts> {
    let mut mode = None;
    let mut ca = None;
    for (k, v) in target.query_pairs() {
        match k.as_str() {
            "ssl-mode" | "sslmode" => mode = Some(v.to_ascii_uppercase()),
            "ssl-ca" | "sslca" => ca = Some(v),
            _ => {}
        }
    }
    match mode.as_deref() {
        None | Some("DISABLED") | Some("PREFERRED") => None,
        Some(m) => {
            let mut ssl = SslOpts::default();
            if let Some(ca) = ca {
                ssl = ssl.with_root_certs(vec![std::path::PathBuf::from(ca).into()]);
            }
            if m == "REQUIRED" {
                ssl = ssl
                    .with_danger_accept_invalid_certs(true)
                    .with_danger_skip_domain_validation(true);
            } else if m == "VERIFY_CA" {
                ssl = ssl.with_danger_skip_domain_validation(true);
            }
            Some(ssl)
        }
    }
}

const PROBE: &str = "checking that the server accepts LOAD DATA LOCAL INFILE";

/// The error for a failed statement doing `operation` (on `table`).
fn classify(
    e: mysql_async::Error,
    operation: &str,
    table: &str,
    secret: Option<&str>,
) -> LoadError {
    // No handler is set outside the loader's own LOAD DATA statements, so this is a request in
    // answer to another statement.
    if let mysql_async::Error::Driver(mysql_async::DriverError::LocalInfile(
        mysql_async::LocalInfileError::NoHandler,
    )) = &e
    {
        return LoadError::UnexpectedFileRequest {
            operation: operation.to_string(),
        };
    }
    if let mysql_async::Error::Server(server) = &e
        && REFUSED_CODES.contains(&server.code)
    {
        return LoadError::InfileRefused {
            message: scrub(&server.message, secret),
        };
    }
    let fault = match &e {
        mysql_async::Error::Server(server) => fault_of_code(server.code),
        // A broken socket, or a pooled connection found closed: the server went away.
        mysql_async::Error::Io(_) => Some(Fault::ConnectionLost),
        mysql_async::Error::Driver(
            mysql_async::DriverError::ConnectionClosed | mysql_async::DriverError::PoolDisconnected,
        ) => Some(Fault::ConnectionLost),
        _ => None,
    };
    if let Some(fault) = fault {
        return LoadError::from_fault(fault, operation, scrub(e, secret));
    }
    LoadError::Write {
        table: table.to_string(),
        message: scrub(e, secret),
    }
}
