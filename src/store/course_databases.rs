//! The course databases of a split load, recorded in its database of the events that name no
//! course, with the server that holds each: `moocdb status` reads them back when the URL's host
//! spreads the course databases over several servers.

use sqlx::mysql::MySqlPool;

use super::query_error;
use crate::error::LoadError;

/// A course database and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CourseDatabase {
    /// The course id as the log first gave it.
    pub course: String,
    /// The database's name.
    pub database: String,
    /// The host of its server, as the URL or `--course-hosts` named it.
    pub host: String,
    /// The server's port.
    pub port: u16,
}

/// Records `course`'s database (or where it now is).
pub async fn record(pool: &MySqlPool, course: &CourseDatabase) -> Result<(), LoadError> {
    sqlx::query(
        "INSERT INTO moocdb_loader_course_databases (database_name, course, host, port) \
         VALUES (?, ?, ?, ?) ON DUPLICATE KEY UPDATE course = VALUES(course), \
         host = VALUES(host), port = VALUES(port)",
    )
    .bind(&course.database)
    .bind(&course.course)
    .bind(&course.host)
    .bind(course.port)
    .execute(pool)
    .await
    .map_err(query_error("recording a course database"))?;
    Ok(())
}

/// Every course database recorded, by name.
pub async fn read(pool: &MySqlPool) -> Result<Vec<CourseDatabase>, LoadError> {
    let rows: Vec<(String, String, String, i32)> = sqlx::query_as(
        "SELECT database_name, course, host, port FROM moocdb_loader_course_databases \
         ORDER BY database_name",
    )
    .fetch_all(pool)
    .await
    .map_err(query_error("reading the course databases"))?;
    Ok(rows
        .into_iter()
        .map(|(database, course, host, port)| CourseDatabase {
            course,
            database,
            host,
            port: u16::try_from(port).unwrap_or(3306),
        })
        .collect())
}
