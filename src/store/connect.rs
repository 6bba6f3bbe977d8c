//! Preparing the databases and holding the load lock: the course database (and the private one)
//! created if missing and migrated, and one loader at a time per course database.

use sqlx::mysql::MySqlPool;

use super::query_error;
use crate::error::{LoadError, scrub};
use crate::schema::{MIGRATOR, PRIVATE_MIGRATOR};
use crate::sink::Target;

/// Creates the course database (and the private one when `private`) if missing, applies the
/// migrations, and returns a pool of `connections` with the loader's session settings.
pub async fn prepare(
    target: &Target,
    private: bool,
    connections: u32,
) -> Result<MySqlPool, LoadError> {
    if private {
        target.check_private_database()?;
    }
    let mut conn = target.server_connection().await?;
    let mut databases = vec![target.database.clone()];
    if private {
        databases.push(target.private_database.clone());
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
                message: scrub(e, target.password().as_deref()),
            })?;
    }
    drop(conn);
    if private {
        let pool = target.pool(&target.private_database, 1).await?;
        migrate(&PRIVATE_MIGRATOR, &pool, &target.private_database).await?;
        pool.close().await;
    }
    let pool = target.pool(&target.database, connections).await?;
    migrate(&MIGRATOR, &pool, &target.database).await?;
    Ok(pool)
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

/// Held named locks: one loader per course database at a time. A split load holds the locks of
/// all its course databases on one connection.
pub struct LoadLock {
    // Detached from the pool: when the lock is dropped on any error path, the connection closes
    // and the server releases the locks, instead of them lingering in the pool.
    conn: sqlx::mysql::MySqlConnection,
    names: Vec<String>,
}

/// Takes the course database's loader lock, or says who holds it.
pub async fn lock(pool: &MySqlPool, database: &str) -> Result<LoadLock, LoadError> {
    let conn = (pool.acquire().await)
        .map_err(query_error("taking the loader lock"))?
        .detach();
    let mut lock = LoadLock {
        conn,
        names: Vec::new(),
    };
    lock.also(database).await?;
    Ok(lock)
}

impl LoadLock {
    /// Takes another course database's loader lock on the same connection (MySQL 5.7 and
    /// MariaDB 10.0 and later hold several named locks per connection), or says who holds it.
    pub async fn also(&mut self, database: &str) -> Result<(), LoadError> {
        let err = query_error("taking the loader lock");
        // Lock names are limited to 64 characters.
        let name: String = format!("moocdb_loader.{database}")
            .chars()
            .take(64)
            .collect();
        let got: Option<i64> = sqlx::query_scalar("SELECT GET_LOCK(?, 0)")
            .bind(&name)
            .fetch_one(&mut self.conn)
            .await
            .map_err(&err)?;
        if got != Some(1) {
            let holder: Option<i64> = sqlx::query_scalar("SELECT IS_USED_LOCK(?)")
                .bind(&name)
                .fetch_one(&mut self.conn)
                .await
                .map_err(&err)?;
            return Err(LoadError::Locked {
                database: database.to_string(),
                connection: holder.unwrap_or(0),
            });
        }
        self.names.push(name);
        Ok(())
    }
}

/// Releases the loader locks (closing the connection would release them too).
pub async fn unlock(mut lock: LoadLock) {
    for name in &lock.names {
        let _ = sqlx::query("SELECT RELEASE_LOCK(?)")
            .bind(name)
            .execute(&mut lock.conn)
            .await;
    }
    let _ = sqlx::Connection::close(lock.conn).await;
}
