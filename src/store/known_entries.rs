//! The dictionaries, users and submissions earlier loads wrote, read back for the MOOCdb stage
//! ([`KnownEntries`]), so that a load reuses their entries and continues after their ids.

use sqlx::mysql::MySqlPool;

use super::{query_error, setting};
use crate::error::LoadError;
use crate::moocdb::KnownEntries;

/// What [`read`] gives on a database the migrations have just created: nothing written yet, and
/// `urls` numbered as resources (the `urls_numbering` setting that migration writes).
pub fn of_a_new_database() -> KnownEntries {
    KnownEntries {
        urls_numbered_on_their_own: false,
        ..KnownEntries::default()
    }
}

/// Reads back the dictionaries and users earlier loads wrote.
pub async fn read(pool: &MySqlPool) -> Result<KnownEntries, LoadError> {
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
        urls_numbered_on_their_own: setting(pool, "urls_numbering")
            .await
            .map_err(&err)?
            .is_none_or(|v| v != "resources"),
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
