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
