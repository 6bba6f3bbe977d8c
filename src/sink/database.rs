//! Connections to the course database: creation, migrations, session settings, reading back what
//! earlier loads wrote, the ledger and the rejects. `mysql_async` is confined to [`super::infile`].

use std::str::FromStr;
use std::time::Duration;

use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
use sqlx::{ConnectOptions, Executor};

use crate::error::{LoadError, connect_advice, redact_url, scrub};
use crate::moocdb::KnownEntries;

/// Session settings of every loader connection: UTC, utf8mb4, no strict-mode coercions hidden by
/// IGNORE (values are written exactly), id 0 allowed, and key checks off during bulk loading.
pub const SESSION_SETUP: &str = "SET NAMES utf8mb4 COLLATE utf8mb4_bin, time_zone = '+00:00', \
     sql_mode = 'NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION', foreign_key_checks = 0, unique_checks = 0";

/// Where to load: the parsed database URL.
#[derive(Clone)]
pub struct Target {
    /// The URL as given (kept private: it may hold a password).
    url: url::Url,
    /// The course database name.
    pub database: String,
    /// The private database name.
    pub private_database: String,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Target({})", self.redacted())
    }
}

impl Target {
    /// Parses a `mysql://user:password@host:port/database` URL.
    pub fn parse(url: &str, private_database: Option<&str>) -> Result<Target, LoadError> {
        let bad = |reason: &str| LoadError::BadUrl {
            url: redact_url(url),
            reason: reason.to_string(),
        };
        let parsed = url::Url::parse(url).map_err(|e| bad(&e.to_string()))?;
        if !matches!(parsed.scheme(), "mysql" | "mariadb") {
            return Err(bad("the scheme must be mysql://"));
        }
        if parsed.host_str().is_none_or(str::is_empty) {
            return Err(bad("no host"));
        }
        let database = parsed.path().trim_start_matches('/').to_string();
        if database.is_empty() || database.contains('/') {
            return Err(bad("no database name after the host"));
        }
        if database.contains('`') {
            return Err(bad("the database name must not contain a backquote"));
        }
        let private_database = private_database
            .map(str::to_string)
            .unwrap_or_else(|| format!("{database}_private"));
        Ok(Target {
            url: parsed,
            database,
            private_database,
        })
    }

    /// The URL with its password removed.
    pub fn redacted(&self) -> String {
        redact_url(self.url.as_str())
    }

    /// The password, for scrubbing messages.
    pub fn password(&self) -> Option<String> {
        self.url.password().map(percent_decode)
    }

    /// Host, port, user and password for the infile driver.
    pub fn parts(&self) -> (String, u16, String, Option<String>) {
        (
            self.url.host_str().unwrap_or("localhost").to_string(),
            self.url.port().unwrap_or(3306),
            percent_decode(self.url.username()),
            self.password(),
        )
    }

    /// The URL's query parameters (TLS settings and the like).
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        self.url
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    fn options(&self, database: Option<&str>) -> Result<MySqlConnectOptions, LoadError> {
        let mut server_url = self.url.clone();
        server_url.set_path("");
        let options =
            MySqlConnectOptions::from_str(server_url.as_str()).map_err(|e| LoadError::BadUrl {
                url: self.redacted(),
                reason: scrub(e, self.password().as_deref()),
            })?;
        let options = options.charset("utf8mb4").collation("utf8mb4_bin");
        let options = match database {
            Some(db) => options.database(db),
            None => options,
        };
        Ok(options.disable_statement_logging())
    }

    /// The error for a failed connection, without the password.
    pub fn connect_error(&self, e: impl std::fmt::Display) -> LoadError {
        let message = scrub(e, self.password().as_deref());
        LoadError::Connect {
            url: self.redacted(),
            advice: connect_advice(&message),
            message,
        }
    }

    /// Creates the course database (and the private one when `private`) if missing, applies the
    /// migrations, and returns a pool of connections with the loader's session settings.
    pub async fn prepare(&self, private: bool, connections: u32) -> Result<MySqlPool, LoadError> {
        let mut conn = self
            .options(None)?
            .connect()
            .await
            .map_err(|e| self.connect_error(e))?;
        let mut databases = vec![self.database.clone()];
        if private {
            databases.push(self.private_database.clone());
        }
        for db in &databases {
            let sql = format!(
                "CREATE DATABASE IF NOT EXISTS `{db}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
            );
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&mut conn)
                .await
                .map_err(|e| LoadError::Schema {
                    database: db.clone(),
                    message: scrub(e, self.password().as_deref()),
                })?;
        }
        drop(conn);
        if private {
            let pool = self.pool(&self.private_database, 1).await?;
            migrate(
                &crate::schema::PRIVATE_MIGRATOR,
                &pool,
                &self.private_database,
            )
            .await?;
            pool.close().await;
        }
        let pool = self.pool(&self.database, connections).await?;
        migrate(&crate::schema::MIGRATOR, &pool, &self.database).await?;
        Ok(pool)
    }

    /// A pool on `database` with the loader's session settings.
    pub async fn pool(&self, database: &str, connections: u32) -> Result<MySqlPool, LoadError> {
        MySqlPoolOptions::new()
            .max_connections(connections.max(1))
            .acquire_timeout(Duration::from_secs(60))
            .after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute(SESSION_SETUP).await?;
                    Ok(())
                })
            })
            .connect_with(self.options(Some(database))?)
            .await
            .map_err(|e| self.connect_error(e))
    }
}

/// Applies the migrations. A migration left unfinished by a killed process is applied again: every
/// migration only creates what is missing (`CREATE TABLE IF NOT EXISTS`), so that is safe.
async fn migrate(
    migrator: &sqlx::migrate::Migrator,
    pool: &MySqlPool,
    database: &str,
) -> Result<(), LoadError> {
    let schema_error = |message: String| LoadError::Schema {
        database: database.to_string(),
        message,
    };
    for _ in 0..3 {
        match migrator.run(pool).await {
            Ok(()) => return Ok(()),
            Err(sqlx::migrate::MigrateError::Dirty(version)) => {
                tracing::warn!(
                    "database `{database}`: migration {version} was interrupted earlier; applying it again"
                );
                sqlx::query("DELETE FROM _sqlx_migrations WHERE version = ? AND success = 0")
                    .bind(version)
                    .execute(pool)
                    .await
                    .map_err(|e| schema_error(e.to_string()))?;
            }
            Err(e) => return Err(schema_error(e.to_string())),
        }
    }
    Err(schema_error(
        "migrations keep failing; see the messages above".into(),
    ))
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| s.to_string())
}

fn query_error(what: &str) -> impl Fn(sqlx::Error) -> LoadError + '_ {
    move |e| LoadError::query(what, e)
}

/// The server's `max_allowed_packet`.
pub async fn max_allowed_packet(pool: &MySqlPool) -> Result<u64, LoadError> {
    let v: String = sqlx::query_scalar("SELECT CAST(@@max_allowed_packet AS CHAR)")
        .fetch_one(pool)
        .await
        .map_err(query_error("reading max_allowed_packet"))?;
    Ok(v.parse::<u64>().unwrap_or(4 << 20).max(1024))
}

/// How many more connections the server would accept from this account now: `max_connections`
/// less the connections open, and, when the account has a limit (`max_user_connections`), that
/// limit less the account's own connections. `None` when the server does not say (the queries
/// are best effort: a server that hides them is not a reason to stop).
pub async fn connection_room(pool: &MySqlPool) -> Option<u64> {
    let limits: (i64, i64) = sqlx::query_as(
        "SELECT CAST(@@max_connections AS SIGNED), CAST(@@max_user_connections AS SIGNED)",
    )
    .fetch_one(pool)
    .await
    .ok()?;
    let (_, open): (String, String) = sqlx::query_as("SHOW GLOBAL STATUS LIKE 'Threads_connected'")
        .fetch_one(pool)
        .await
        .ok()?;
    let open: i64 = open.parse().ok()?;
    let mut room = limits.0 - open;
    // 0 is no limit; MariaDB's -1 forbids connections only to accounts without a limit of
    // their own, which this one then has (it is connected).
    if limits.1 > 0 {
        // Without the PROCESS privilege the process list shows only the account's own threads.
        let own: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST \
             WHERE USER = SUBSTRING_INDEX(USER(), '@', 1)",
        )
        .fetch_one(pool)
        .await
        .ok()?;
        room = room.min(limits.1 - own);
    }
    Some(room.max(0) as u64)
}

/// Reads back the dictionaries and users earlier loads wrote.
pub async fn known_entries(pool: &MySqlPool) -> Result<KnownEntries, LoadError> {
    let err = query_error("reading existing dictionaries");
    let pairs = |sql: &'static str| async move {
        let rows: Vec<(i32, Option<String>)> = sqlx::query_as(sql).fetch_all(pool).await?;
        Ok::<_, sqlx::Error>(
            rows.into_iter()
                .map(|(id, v)| (i64::from(id), v.unwrap_or_default()))
                .collect(),
        )
    };
    let tree = |sql: &'static str| async move {
        let rows: Vec<(i32, Option<String>, Option<i32>)> =
            sqlx::query_as(sql).fetch_all(pool).await?;
        Ok::<_, sqlx::Error>(
            rows.into_iter()
                .map(|(id, uri, parent)| {
                    (
                        i64::from(id),
                        uri.unwrap_or_default(),
                        parent.map(i64::from),
                    )
                })
                .collect(),
        )
    };
    let resource_types: Vec<(i32, String, String)> = sqlx::query_as(
        "SELECT resource_type_id, resource_type_content, resource_type_medium FROM resource_types",
    )
    .fetch_all(pool)
    .await
    .map_err(&err)?;
    let resources_urls: Vec<(i32, i32, i32)> =
        sqlx::query_as("SELECT resources_urls_id, resource_id, url_id FROM resources_urls")
            .fetch_all(pool)
            .await
            .map_err(&err)?;
    Ok(KnownEntries {
        urls: pairs("SELECT url_id, url FROM urls").await.map_err(&err)?,
        os: pairs("SELECT os_id, os_name FROM os").await.map_err(&err)?,
        agents: pairs("SELECT agent_id, agent_name FROM agent")
            .await
            .map_err(&err)?,
        problem_types: pairs("SELECT problem_type_id, problem_type_name FROM problem_types")
            .await
            .map_err(&err)?,
        resource_types: resource_types
            .into_iter()
            .map(|(id, c, m)| (i64::from(id), c, m))
            .collect(),
        resources: tree("SELECT resource_id, resource_uri, resource_parent_id FROM resources")
            .await
            .map_err(&err)?,
        resources_urls: resources_urls
            .into_iter()
            .map(|(a, b, c)| (a.into(), b.into(), c.into()))
            .collect(),
        problems: tree("SELECT problem_id, problem_name, problem_parent_id FROM problems")
            .await
            .map_err(&err)?,
        users: sqlx::query_scalar("SELECT user_id FROM users")
            .fetch_all(pool)
            .await
            .map_err(&err)?,
        graded_submissions: graded_submissions(pool).await.map_err(&err)?,
        open_submissions: sqlx::query_scalar(
            "SELECT submission_id FROM submissions WHERE submission_id LIKE '%-%'",
        )
        .fetch_all(pool)
        .await
        .map_err(&err)?,
    })
}

/// The latest graded submission of each user and problem, with its time (see
/// `KnownEntries::graded_submissions`).
async fn graded_submissions(
    pool: &MySqlPool,
) -> Result<Vec<(String, i64, String, chrono::NaiveDateTime)>, sqlx::Error> {
    let rows: Vec<(String, i32, String, chrono::NaiveDateTime)> = sqlx::query_as(
        "SELECT user_id, problem_id, submission_id, submission_timestamp FROM ( \
           SELECT user_id, problem_id, submission_id, submission_timestamp, ROW_NUMBER() OVER ( \
             PARTITION BY user_id, problem_id \
             ORDER BY submission_timestamp DESC, submission_id DESC) AS latest \
           FROM submissions WHERE submission_attempt_number > 0) AS graded \
         WHERE latest = 1",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(user, problem, id, time)| (user, i64::from(problem), id, time))
        .collect())
}

/// A held named lock: one loader per course database at a time.
pub struct LoadLock {
    // Detached from the pool: when the lock is dropped on any error path, the connection closes
    // and the server releases the lock, instead of it lingering in the pool.
    conn: sqlx::mysql::MySqlConnection,
    name: String,
}

/// Takes the course database's loader lock, or says who holds it.
pub async fn lock(pool: &MySqlPool, database: &str) -> Result<LoadLock, LoadError> {
    let err = query_error("taking the loader lock");
    let mut conn = pool.acquire().await.map_err(&err)?.detach();
    // Lock names are limited to 64 characters.
    let name: String = format!("moocdb_loader.{database}")
        .chars()
        .take(64)
        .collect();
    let got: Option<i64> = sqlx::query_scalar("SELECT GET_LOCK(?, 0)")
        .bind(&name)
        .fetch_one(&mut conn)
        .await
        .map_err(&err)?;
    if got != Some(1) {
        let holder: Option<i64> = sqlx::query_scalar("SELECT IS_USED_LOCK(?)")
            .bind(&name)
            .fetch_one(&mut conn)
            .await
            .map_err(&err)?;
        return Err(LoadError::Locked {
            database: database.to_string(),
            connection: holder.unwrap_or(0),
        });
    }
    Ok(LoadLock { conn, name })
}

/// Releases the loader lock (closing the connection would release it too).
pub async fn unlock(mut lock: LoadLock) {
    let _ = sqlx::query("SELECT RELEASE_LOCK(?)")
        .bind(&lock.name)
        .execute(&mut lock.conn)
        .await;
    let _ = sqlx::Connection::close(lock.conn).await;
}
