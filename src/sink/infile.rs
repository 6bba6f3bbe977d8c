//! The `LOAD DATA LOCAL INFILE` path, the only user of `mysql_async` (sqlx cannot run it,
//! launchbadge/sqlx#1766).
//!
//! Security: no global infile handler is ever installed. Each statement gets a one-shot,
//! per-connection handler that serves the batch built in memory, whatever file name the server
//! asks for, so a server can never make the loader read a client file.

use bytes::Bytes;
use futures_util::StreamExt;
use mysql_async::prelude::Queryable;
use mysql_async::{OptsBuilder, Pool, PoolConstraints, PoolOpts, SslOpts};

use crate::error::{DEADLOCK_CODE, Fault, LoadError, fault_of_code, scrub};

use super::database::{SESSION_SETUP, Target};

/// Server errors meaning "LOCAL INFILE is not allowed here": 1148 (ER_NOT_ALLOWED_COMMAND),
/// 3948 (MySQL 8, local_infile=OFF), 4166 (MariaDB, ER_LOAD_INFILE_CAPABILITY_DISABLED).
pub const REFUSED_CODES: [u16; 3] = [1148, 3948, 4166];

/// The size of the pieces a batch is sent in. Each piece goes out as one protocol packet, which
/// must not exceed the server's `max_allowed_packet` (1 MB on some servers, 1 KB at the least),
/// while a batch is 2 MiB by default; 64 KiB keeps the number of writes small.
const INFILE_CHUNK: usize = 64 * 1024;

/// A pool of `mysql_async` connections for `LOAD DATA LOCAL INFILE`.
#[derive(Clone)]
pub struct InfilePool {
    pool: Pool,
    secret: Option<String>,
    /// For connection errors: the target (its URL's password is never shown).
    target: Target,
}

impl InfilePool {
    /// Connections to the target's course database with the loader's session settings.
    pub fn new(target: &Target, connections: usize) -> Result<InfilePool, LoadError> {
        let (host, port, user, password) = target.parts();
        let mut opts = OptsBuilder::default()
            .ip_or_hostname(host)
            .tcp_port(port)
            .user(Some(user))
            .pass(password.clone())
            .db_name(Some(target.database.clone()))
            .setup(vec![SESSION_SETUP.to_string()])
            // Connect exactly where the URL says, like the sqlx connections: by default
            // mysql_async reconnects to the Unix socket the server names in @@socket when the
            // host is local, which changes the account ('user'@'localhost'), drops the TLS the
            // URL asks for, and lets the server choose where the loader connects.
            .prefer_socket(false)
            .pool_opts(PoolOpts::default().with_constraints(
                PoolConstraints::new(0, connections.max(1)).expect("valid pool bounds"),
            ));
        if let Some(ssl) = ssl_opts(target) {
            opts = opts.ssl_opts(ssl);
        }
        Ok(InfilePool {
            pool: Pool::new(opts),
            secret: password,
            target: target.clone(),
        })
    }

    /// Sends one batch with `statement` (a `LOAD DATA LOCAL INFILE` statement); returns the rows
    /// the server inserted. A refusal is returned as [`LoadError::InfileRefused`].
    pub async fn load(
        &self,
        statement: &str,
        table: &str,
        data: Vec<u8>,
    ) -> Result<u64, LoadError> {
        let secret = self.secret.as_deref();
        let operation = format!("writing to table `{table}`");
        let write_error = |e: mysql_async::Error| classify(e, &operation, table, secret);
        let bytes = Bytes::from(data);
        let run = || async {
            let mut conn = self.pool.get_conn().await?;
            // The stream is made again for each run: its chunks share the batch's bytes.
            let chunks: Vec<std::io::Result<Bytes>> = (0..bytes.len())
                .step_by(INFILE_CHUNK)
                .map(|start| Ok(bytes.slice(start..(start + INFILE_CHUNK).min(bytes.len()))))
                .collect();
            conn.set_infile_handler(async move { Ok(futures_util::stream::iter(chunks).boxed()) });
            conn.query_drop(statement).await?;
            Ok(conn.affected_rows())
        };
        let is_deadlock = |e: &mysql_async::Error| match e {
            mysql_async::Error::Server(server) => server.code == DEADLOCK_CODE,
            _ => false,
        };
        let affected = super::writer::retry_deadlocks(table, run, is_deadlock)
            .await
            .map_err(write_error)?;
        // The statement has consumed every slice: the buffer is ours again.
        if let Ok(buffer) = bytes.try_into_mut() {
            super::spare::give(buffer.into());
        }
        Ok(affected)
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
