//! Errors a load can end with. Each names the file, line or table involved and says what to do;
//! none ever contains a database password.

use std::io;

/// An error that stops a load (bad lines never do: they become rejects).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// An input path could not be opened or read.
    #[error("cannot read {path} (check that it exists and that this user may read it)")]
    Open {
        /// The path as given.
        path: String,
        /// The I/O error.
        source: io::Error,
    },
    /// The database URL is malformed.
    #[error(
        "invalid database URL {url}: {reason} (expected mysql://user:password@host:port/database)"
    )]
    BadUrl {
        /// The URL with its password removed.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A database name the server cannot hold (after percent-decoding the URL's).
    #[error("cannot use database name `{name}`: {reason}; {advice}")]
    BadDatabaseName {
        /// The name.
        name: String,
        /// What is wrong with it.
        reason: String,
        /// How to choose another.
        advice: String,
    },
    /// A line of `--course-hosts` that cannot be used.
    #[error(
        "{path}, line {line}: {reason} (each line is a pattern of course database names, then \
         the host that holds them, as `MITx_* db2.example.org:3306`; `#` starts a comment)"
    )]
    CourseHosts {
        /// The file as given.
        path: String,
        /// The line number, from 1 (0: the file could not be read).
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// The server could not be reached or refused the login.
    #[error("cannot connect to {url}: {message}. {advice}")]
    Connect {
        /// The URL with its password removed.
        url: String,
        /// The driver's message.
        message: String,
        /// What to check, from [`connect_advice`].
        advice: &'static str,
    },
    /// Creating or migrating the schema failed.
    #[error("cannot prepare the schema of database `{database}`: {message}{}", schema_advice(.message))]
    Schema {
        /// The database.
        database: String,
        /// The driver's message.
        message: String,
    },
    /// Writing rows to a table failed.
    #[error("writing to table `{table}` failed: {message}")]
    Write {
        /// The table.
        table: String,
        /// The driver's message.
        message: String,
    },
    /// A bookkeeping query failed.
    #[error("{what} failed: {message}")]
    Query {
        /// What was being done.
        what: String,
        /// The driver's message.
        message: String,
    },
    /// `--method infile` was asked for but the server refuses LOCAL INFILE.
    #[error(
        "the server refuses LOAD DATA LOCAL INFILE ({message}); enable local_infile on the server or use --method insert (or auto)"
    )]
    InfileRefused {
        /// The server's message.
        message: String,
    },
    /// A file had more bad lines than `--max-bad-ratio` allows.
    #[error(
        "{file}: {rejected} of {lines} lines rejected ({percent:.1}%), over --max-bad-ratio {max_ratio}; is this a tracking log? See `moocdb status` and the moocdb_loader_rejects table"
    )]
    TooManyRejects {
        /// The file.
        file: String,
        /// Rejected lines.
        rejected: u64,
        /// Lines read.
        lines: u64,
        /// Rejected percentage.
        percent: f64,
        /// The limit.
        max_ratio: f64,
    },
    /// The load was interrupted (Ctrl-C).
    #[error(
        "interrupted: {files_done} file(s) were loaded and recorded before; {current} was not finished and is not recorded: run the same command again to complete it"
    )]
    Interrupted {
        /// Files fully loaded and recorded in this run.
        files_done: u64,
        /// The file being loaded.
        current: String,
    },
    /// Another loader holds the database.
    #[error(
        "another moocdb load is running on database `{database}` (server connection {connection}); wait for it to finish, or stop it, and run again"
    )]
    Locked {
        /// The database.
        database: String,
        /// The connection holding the lock.
        connection: i64,
    },
    /// A statement waited longer than the server's lock wait timeout for a lock another
    /// connection holds (server error 1205).
    #[error(
        "{operation} waited too long for a lock held by another connection ({message}); find that connection (SHOW PROCESSLIST), let it finish or end it, then run the same command again: the unfinished file is completed then, nothing is doubled"
    )]
    LockTimeout {
        /// What was being done, naming the table or file.
        operation: String,
        /// The server's message.
        message: String,
    },
    /// The connection to the server broke in the middle of the load (restart, crash, network).
    #[error(
        "lost the connection to the server while {operation} ({message}): the server restarted, crashed or became unreachable. Once it is back, run the same command again: the unfinished file is completed then, nothing is doubled"
    )]
    ConnectionLost {
        /// What was being done, naming the table or file.
        operation: String,
        /// The driver's message.
        message: String,
    },
    /// The server has no room left for the rows: its disk, or a tablespace that cannot grow, is
    /// full (server errors 1114 and 1021).
    #[error(
        "the server ran out of room while {operation} ({message}): free disk space where the server keeps its data (or let the tablespace grow), then run the same command again: the unfinished file is completed then, nothing is doubled"
    )]
    ServerFull {
        /// What was being done, naming the table or file.
        operation: String,
        /// The server's message.
        message: String,
    },
    /// The server refused another connection: it is at `max_connections`, or the account at its
    /// `max_user_connections` (server errors 1040, 1203 and 1226).
    #[error(
        "the server refused another connection while {operation} ({message}): it has as many as its max_connections (or the account's max_user_connections) allows. Close other clients or raise the limit (the loader uses --writers + 3, and one per table when there is room, fewer otherwise), then run the same command again: the unfinished file is completed then, nothing is doubled"
    )]
    NoConnections {
        /// What was being done, naming the table or file.
        operation: String,
        /// The server's message.
        message: String,
    },
    /// The server refused to prepare another statement: it holds as many as its
    /// `max_prepared_stmt_count` allows (server error 1461).
    #[error(
        "the server refused to prepare a statement while {operation} ({message}){}",
        PREPARED_STATEMENTS_ADVICE
    )]
    NoPreparedStatements {
        /// What was being done, naming the table or file.
        operation: String,
        /// The server's message.
        message: String,
    },
    /// The server asked for a client file in answer to a statement that is not the loader's
    /// `LOAD DATA`: a misbehaving or hostile server. Nothing was sent.
    #[error(
        "the server asked for a client file while {operation}, in answer to a statement that is not LOAD DATA; the loader sent nothing and stopped. Make sure --database-url names the MySQL server you trust"
    )]
    UnexpectedFileRequest {
        /// What was being done.
        operation: String,
    },
    /// The writers stopped (their own error is reported instead).
    #[error("the database writers stopped")]
    WritersStopped,
}

/// What a failed statement says about the server, beyond its own message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// A lock wait timed out (server error 1205, also for metadata locks).
    LockTimeout,
    /// The connection broke, or the server is shutting down or unreachable.
    ConnectionLost,
    /// The server's disk or tablespace is full.
    ServerFull,
    /// The server, or the account, has no connection left.
    NoConnections,
    /// The server holds as many prepared statements as it allows.
    NoPreparedStatements,
}

/// Server error codes meaning the connection is gone: 1053 server shutdown in progress, 1927
/// connection killed (MariaDB), 4031 disconnected for inactivity (MySQL 8), and the client's
/// own 2006 "server has gone away" and 2013 "lost connection during query".
pub const CONNECTION_LOST_CODES: [u16; 5] = [1053, 1927, 4031, 2006, 2013];

/// Server error code of a lock wait timeout.
pub const LOCK_TIMEOUT_CODE: u16 = 1205;

/// Server error code of a statement InnoDB rolled back to break a deadlock ("try restarting
/// transaction"): not a fault, the writers run the statement again.
pub const DEADLOCK_CODE: u16 = 1213;

/// Server error codes meaning there is no room for the rows: 1114 "the table is full" (a
/// tablespace that cannot grow, or a full disk under InnoDB) and 1021 "disk full".
pub const SERVER_FULL_CODES: [u16; 2] = [1114, 1021];

/// Server error codes meaning no more connections: 1040 "too many connections"
/// (`max_connections`), 1203 (the account's `max_user_connections`) and 1226 (an account
/// resource limit, `MAX_USER_CONNECTIONS` among them).
pub const NO_CONNECTION_CODES: [u16; 3] = [1040, 1203, 1226];

/// The fault a server error code means, if any.
pub fn fault_of_code(code: u16) -> Option<Fault> {
    if code == LOCK_TIMEOUT_CODE {
        Some(Fault::LockTimeout)
    } else if CONNECTION_LOST_CODES.contains(&code) {
        Some(Fault::ConnectionLost)
    } else if SERVER_FULL_CODES.contains(&code) {
        Some(Fault::ServerFull)
    } else if NO_CONNECTION_CODES.contains(&code) {
        Some(Fault::NoConnections)
    } else if code == TOO_MANY_PREPARED_STATEMENTS_CODE {
        Some(Fault::NoPreparedStatements)
    } else {
        None
    }
}

/// The fault an sqlx error means, if any. A pool that times out waiting for a connection counts
/// as a lost connection: it has tried to reconnect for a minute.
pub fn sqlx_fault(e: &sqlx::Error) -> Option<Fault> {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::WorkerCrashed => {
            Some(Fault::ConnectionLost)
        }
        _ => sqlx_server_code(e).and_then(fault_of_code),
    }
}

/// The server's error code behind an sqlx error, if the server sent one.
pub fn sqlx_server_code(e: &sqlx::Error) -> Option<u16> {
    match e {
        sqlx::Error::Database(db) => db
            .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
            .map(|m| m.number()),
        _ => None,
    }
}

impl LoadError {
    /// The error for a fault while doing `operation` ("writing to table `X`", "recording the
    /// file in the ledger"): its own explanation and advice.
    pub fn from_fault(fault: Fault, operation: impl Into<String>, message: String) -> LoadError {
        let operation = operation.into();
        match fault {
            Fault::LockTimeout => LoadError::LockTimeout { operation, message },
            Fault::ConnectionLost => LoadError::ConnectionLost { operation, message },
            Fault::ServerFull => LoadError::ServerFull { operation, message },
            Fault::NoConnections => LoadError::NoConnections { operation, message },
            Fault::NoPreparedStatements => LoadError::NoPreparedStatements { operation, message },
        }
    }

    /// The error for a failed bookkeeping query doing `what`.
    pub fn query(what: &str, e: sqlx::Error) -> LoadError {
        match sqlx_fault(&e) {
            Some(fault) => LoadError::from_fault(fault, what, e.to_string()),
            None => LoadError::Query {
                what: what.to_string(),
                message: e.to_string(),
            },
        }
    }

    /// The error for a failed write to `table`.
    pub fn write(table: &str, e: sqlx::Error) -> LoadError {
        match sqlx_fault(&e) {
            Some(fault) => {
                LoadError::from_fault(fault, format!("writing to table `{table}`"), e.to_string())
            }
            None => LoadError::Write {
                table: table.to_string(),
                message: e.to_string(),
            },
        }
    }
}

/// What to check when connecting failed with `message`: the TLS settings when the TLS handshake
/// failed, the connection limits when the server has no connection left, else the URL and the
/// server.
pub fn connect_advice(message: &str) -> &'static str {
    let m = message.to_ascii_lowercase();
    if m.contains("certificate") || m.contains("tls") || m.contains("ssl") {
        "Check the URL's ssl-mode and ssl-ca (ssl-ca must be the CA that signed the server's certificate; ssl-mode=REQUIRED encrypts without checking it)"
    } else if m.contains("too many connections") || m.contains("max_user_connections") {
        "The server is at its connection limit (max_connections, or the account's max_user_connections): close other clients or raise the limit, then run again"
    } else {
        "Check --database-url / DATABASE_URL and that the server is running"
    }
}

/// What to do about a failed schema statement, when its message says more than itself: a server
/// out of room says so only through an errno (135 "no more room in record file", 28 "no space
/// left on device") or "is full"; one whose prepared statements are used up, through its limit's
/// name.
pub fn schema_advice(message: &str) -> &'static str {
    let m = message.to_ascii_lowercase();
    if m.contains("errno: 135") || m.contains("errno: 28 ") || m.contains("is full") {
        "; the server is out of room: free disk space where it keeps its data, then run again"
    } else if m.contains("max_prepared_stmt_count") {
        PREPARED_STATEMENTS_ADVICE
    } else {
        ""
    }
}

/// Server error code of a statement refused because the server holds `max_prepared_stmt_count`
/// prepared statements already.
pub const TOO_MANY_PREPARED_STATEMENTS_CODE: u16 = 1461;

/// What to do when the server holds as many prepared statements as it allows (a fault, or a
/// schema statement's message naming the limit): the loader prepares its bookkeeping queries,
/// and with `--method insert` one statement per table on each writer's connection.
const PREPARED_STATEMENTS_ADVICE: &str = "; the server holds as many prepared statements as its \
     max_prepared_stmt_count allows (other clients' count too; --method insert keeps one per \
     table and connection): raise it (SET GLOBAL max_prepared_stmt_count = 16382, the default) \
     or close the other clients, then run again";

/// Removes the password from a database URL, for messages and logs.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            // The course placeholder as the user wrote it, not percent-encoded.
            u.to_string().replace("%7Bcourse%7D", "{course}")
        }
        Err(_) => "<unparseable URL>".to_string(),
    }
}

/// Removes `secret` from a driver message, in case a driver ever echoes it.
pub fn scrub(message: impl std::fmt::Display, secret: Option<&str>) -> String {
    let m = message.to_string();
    match secret {
        Some(s) if !s.is_empty() => m.replace(s, "***"),
        _ => m,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("mysql://u:s3cret@h:3306/db"),
            "mysql://u:***@h:3306/db"
        );
        assert_eq!(redact_url("mysql://u@h/db"), "mysql://u@h/db");
        assert_eq!(
            redact_url("mysql://u:s3cret@{course}.h/m_{course}"),
            "mysql://u:***@{course}.h/m_{course}"
        );
        assert!(!redact_url("not a url s3cret").contains("s3cret"));
        assert_eq!(scrub("bad s3cret here", Some("s3cret")), "bad *** here");
    }

    #[test]
    fn used_up_prepared_statements_get_advice() {
        let refused = "error returned from database: 1461 (42000): Can't create more than \
                       max_prepared_stmt_count statements (current value: 0)";
        assert!(schema_advice(refused).contains("SET GLOBAL max_prepared_stmt_count"));
        assert_eq!(schema_advice("error 1146: table doesn't exist"), "");
        assert_eq!(fault_of_code(1461), Some(Fault::NoPreparedStatements));
        let refused = LoadError::from_fault(
            Fault::NoPreparedStatements,
            "writing to table `EdxTrackEvent`",
            "x".into(),
        );
        assert!(
            refused
                .to_string()
                .contains("SET GLOBAL max_prepared_stmt_count")
        );
        assert!(refused.to_string().contains("EdxTrackEvent"));
    }

    #[test]
    fn faults_get_their_own_advice() {
        assert_eq!(fault_of_code(1205), Some(Fault::LockTimeout));
        assert_eq!(fault_of_code(1053), Some(Fault::ConnectionLost));
        assert_eq!(fault_of_code(1062), None);
        assert_eq!(fault_of_code(1114), Some(Fault::ServerFull));
        let full =
            LoadError::from_fault(Fault::ServerFull, "writing to table `Answer`", "x".into());
        assert!(full.to_string().contains("free disk space"));
        let schema = LoadError::Schema {
            database: "c".into(),
            message: "1005 (HY000): Can't create table `c`.`resources` (errno: 135 \"No more room in record file\")".into(),
        };
        assert!(schema.to_string().ends_with("then run again"), "{schema}");
        let e = LoadError::from_fault(Fault::LockTimeout, "writing to table `Answer`", "x".into());
        assert!(e.to_string().contains("table `Answer`"));
        assert!(e.to_string().contains("run the same command again"));
        assert!(connect_advice("invalid peer certificate: UnknownIssuer").contains("ssl-ca"));
        assert!(connect_advice("Connection refused").contains("--database-url"));
        for code in [1040, 1203, 1226] {
            assert_eq!(fault_of_code(code), Some(Fault::NoConnections));
        }
        let none = LoadError::from_fault(
            Fault::NoConnections,
            "writing to table `agent`",
            "ERROR 1040 (HY000): Too many connections".into(),
        );
        assert!(none.to_string().contains("table `agent`"), "{none}");
        assert!(none.to_string().contains("raise the limit"), "{none}");
        let advice =
            connect_advice("error returned from database: 1040 (08004): Too many connections");
        assert!(advice.contains("max_connections"), "{advice}");
    }
}
