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
    Ok(prepare_course_database(target, private, connections)
        .await?
        .pool)
}

/// A course database ready for a load: [`prepare`]'s pool, and whether it was created.
pub struct PreparedDatabase {
    /// A pool on the course database.
    pub pool: MySqlPool,
    /// Whether this preparation created the course database.
    pub created: bool,
    /// Whether it created the private database too, or there is none: nothing but what the
    /// migrations wrote is in either.
    pub all_created: bool,
}

/// [`prepare`], saying whether the course database was created.
pub async fn prepare_course_database(
    target: &Target,
    private: bool,
    connections: u32,
) -> Result<PreparedDatabase, LoadError> {
    if private {
        target.check_private_database()?;
    }
    let mut conn = target.server_connection().await?;
    let created = create_database(&mut conn, target, &target.database, &MIGRATOR).await?;
    let private_created = match private {
        true => create_database(
            &mut conn,
            target,
            &target.private_database,
            &PRIVATE_MIGRATOR,
        )
        .await
        .map(Some)?,
        false => None,
    };
    // A database that exists may still be being created: a loader killed while the server ran
    // its creation script leaves the script running to its end. Its migrations wait for it.
    let existing = [
        (!created).then_some(&target.database),
        (private_created == Some(false)).then_some(&target.private_database),
    ];
    for db in existing.into_iter().flatten() {
        sqlx::query("DO GET_LOCK(?, ?)")
            .bind(schema_lock(db))
            .bind(SCHEMA_LOCK_WAIT_S)
            .execute(&mut conn)
            .await
            .map_err(|e| LoadError::Schema {
                database: db.clone(),
                message: scrub(&e, target.password().as_deref()),
            })?;
    }
    if private_created == Some(false) {
        let pool = target.pool(&target.private_database, 1).await?;
        migrate(&PRIVATE_MIGRATOR, &pool, &target.private_database).await?;
        pool.close().await;
    }
    let pool = target.pool(&target.database, connections).await?;
    if !created {
        migrate(&MIGRATOR, &pool, &target.database).await?;
    }
    // Closing the connection releases the locks.
    let _ = sqlx::Connection::close(conn).await;
    Ok(PreparedDatabase {
        pool,
        created,
        all_created: created && private_created != Some(false),
    })
}

/// Creates the database `db` if missing, with its tables; whether it was created (an existing
/// one is left to the migrator).
async fn create_database(
    conn: &mut sqlx::mysql::MySqlConnection,
    target: &Target,
    db: &str,
    migrator: &sqlx::migrate::Migrator,
) -> Result<bool, LoadError> {
    let schema_error = |e: &dyn std::fmt::Display| LoadError::Schema {
        database: db.to_string(),
        message: scrub(e, target.password().as_deref()),
    };
    let sql =
        format!("CREATE DATABASE IF NOT EXISTS `{db}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin");
    let created = sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&mut *conn)
        .await
        .map_err(|e| schema_error(&e))?
        .rows_affected()
        > 0;
    if created {
        use sqlx::Executor;
        conn.execute(sqlx::raw_sql(sqlx::AssertSqlSafe(creation_script(
            migrator, db,
        ))))
        .await
        .map_err(|e| schema_error(&e))?;
    }
    Ok(created)
}

/// The script that creates the tables of the new database `db`, run in one round trip: every
/// migration's statements, then the migrations recorded as applied, as sqlx's migrator records
/// a skipped migration. Through sqlx's migrator, each migration is a transaction of its own with
/// five statements of bookkeeping around it: creating the 101 databases of a 100-course split
/// took 5.0–5.2 s of the server's CPU that way, 4.0–4.2 s with the migrations in one script
/// (`BENCHMARKS.md`, "One database per course"). Recording them here too, rather than with the
/// migrator's `skip`, spares its lock, its reads, one `INSERT` per migration and the closing of
/// its prepared statements: about 45 commands per course database and its private one, measured
/// in the server's general log (same section). A process killed before the migrations are
/// recorded leaves tables that the next run's migrator finds: every migration only creates what
/// is missing.
fn creation_script(migrator: &sqlx::migrate::Migrator, db: &str) -> String {
    let mut lock = Vec::new();
    super::push_literal(&mut lock, &schema_lock(db));
    let lock = String::from_utf8_lossy(&lock);
    let mut script = format!(
        "USE `{db}`;\n{};\nDO GET_LOCK({lock}, {SCHEMA_LOCK_WAIT_S});\n",
        crate::sink::target::SESSION_SETUP
    );
    let mut applied = Vec::new();
    for migration in migrator.iter() {
        if !migration.migration_type.is_down_migration() {
            let sql = migration.sql.as_str().trim_end();
            script.push_str(sql);
            // Each migration's last statement may end with its `;` or not (the migrator runs
            // each alone); an empty statement between two is a syntax error.
            script.push_str(if sql.ends_with(';') { "\n" } else { ";\n" });
            if !applied.is_empty() {
                applied.push(b',');
            }
            applied.extend_from_slice(format!("({}, ", migration.version).as_bytes());
            super::push_literal(&mut applied, &migration.description);
            applied.extend_from_slice(b", TRUE, X'");
            for byte in migration.checksum.iter() {
                applied.extend_from_slice(format!("{byte:02X}").as_bytes());
            }
            // -1: the execution time sqlx's migrator records for a migration it skips.
            applied.extend_from_slice(b"', -1)");
        }
    }
    script.push_str(MIGRATIONS_TABLE);
    if !applied.is_empty() {
        script.push_str(
            "INSERT IGNORE INTO _sqlx_migrations \
             (version, description, success, checksum, execution_time) VALUES ",
        );
        script.push_str(&String::from_utf8_lossy(&applied));
        script.push_str(";\n");
    }
    script.push_str(&format!("DO RELEASE_LOCK({lock});\n"));
    script
}

/// The named lock a database's creation script holds while it runs, which a loader takes before
/// it migrates a database that exists. The server runs a script to its end even when the loader
/// that sent it is killed; the next run's migrator, running beside it, would record a migration
/// the script records too and fail on the duplicate (seen in the split crash test, the load
/// killed while its course databases were being created).
fn schema_lock(db: &str) -> String {
    lock_name("moocdb_loader_schema", db)
}

/// The name of a named lock on the database `database`: `prefix`, a dot and the database's
/// name, cut to the 64 characters the server allows. Two databases whose names are cut alike
/// only wait for each other.
fn lock_name(prefix: &str, database: &str) -> String {
    format!("{prefix}.{database}").chars().take(64).collect()
}

/// Seconds a creation script, or a loader about to migrate, waits for the other. A script takes
/// well under a second; past this, each goes on, and the migrations only create what is
/// missing.
const SCHEMA_LOCK_WAIT_S: u32 = 60;

/// sqlx's migrations table, as its MySQL migrator creates it (`ensure_migrations_table` of
/// sqlx-mysql 0.9): a later load's migrator reads it and checks each migration's checksum.
const MIGRATIONS_TABLE: &str = "CREATE TABLE IF NOT EXISTS _sqlx_migrations (
    version BIGINT PRIMARY KEY,
    description TEXT NOT NULL,
    installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    success BOOLEAN NOT NULL,
    checksum BLOB NOT NULL,
    execution_time BIGINT NOT NULL
);
";

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
        let name = lock_name("moocdb_loader", database);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_creation_script_holds_every_migration_and_no_empty_statement() {
        for migrator in [&MIGRATOR, &PRIVATE_MIGRATOR] {
            let script = creation_script(migrator, "course_db");
            assert!(script.starts_with("USE `course_db`;\n"));
            for migration in migrator.iter() {
                assert!(script.contains(migration.sql.as_str().trim_end()));
            }
            let lock = format!("'{}', {SCHEMA_LOCK_WAIT_S})", schema_lock("course_db"));
            assert!(script.contains(&format!("DO GET_LOCK({lock}")), "{script}");
            assert!(script.ends_with(&format!(
                "DO RELEASE_LOCK('{}');\n",
                schema_lock("course_db")
            )));
            let statements: Vec<&str> = script.split(';').map(str::trim).collect();
            // The last piece is what follows the last `;`: nothing.
            let (last, rest) = statements.split_last().unwrap();
            assert!(last.is_empty(), "{last}");
            assert!(rest.iter().all(|s| !s.is_empty()), "an empty statement");
        }
    }
}
