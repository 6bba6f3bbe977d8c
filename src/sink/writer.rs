//! The writers: batches from the transform thread become `LOAD DATA` or `INSERT` statements,
//! several at a time, with a bounded queue so that memory stays flat when the server is slower
//! than the transform.

use std::collections::BTreeMap;
use std::sync::Arc;

use sqlx::mysql::MySqlPool;
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::task::JoinSet;

use crate::error::{DEADLOCK_CODE, LoadError, sqlx_server_code};
use crate::schema::Table;

use super::infile::InfilePool;
use super::rows::Batch;

/// How rows reach the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// `LOAD DATA LOCAL INFILE` streamed from memory.
    Infile,
    /// Multi-row `INSERT IGNORE` statements.
    Insert,
}

impl Method {
    /// The name used in `--json` and messages.
    pub fn name(self) -> &'static str {
        match self {
            Method::Infile => "infile",
            Method::Insert => "insert",
        }
    }
}

/// Rows the server stored, per table (duplicates skipped by `IGNORE` are not counted).
pub type WrittenRows = BTreeMap<Table, u64>;

enum Message {
    Batch(Batch),
    Barrier(oneshot::Sender<Result<WrittenRows, String>>),
}

/// The qualified `db`.`table` name of a table.
pub fn qualified(table: Table, database: &str, private_database: &str) -> String {
    let db = if table.is_private() {
        private_database
    } else {
        database
    };
    format!("`{db}`.`{}`", table.name())
}

/// Builds the statement prefix for a table.
pub fn statement_head(
    method: Method,
    table: Table,
    database: &str,
    private_database: &str,
) -> String {
    let columns = table.columns().join("`, `");
    let name = qualified(table, database, private_database);
    match (method, table.replaces()) {
        (Method::Infile, replace) => format!(
            "LOAD DATA LOCAL INFILE 'moocdb-stream' {} INTO TABLE {name} CHARACTER SET utf8mb4 \
             FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' (`{columns}`)",
            if replace { "REPLACE" } else { "IGNORE" }
        ),
        (Method::Insert, false) => format!("INSERT IGNORE INTO {name} (`{columns}`) VALUES "),
        (Method::Insert, true) => format!("REPLACE INTO {name} (`{columns}`) VALUES "),
    }
}

/// Where the statements go.
#[derive(Clone)]
pub enum Connections {
    /// `LOAD DATA LOCAL INFILE` through `mysql_async`.
    Infile(InfilePool),
    /// `INSERT` through sqlx.
    Insert(MySqlPool),
}

/// A handle to the running writers.
pub struct Writers {
    tx: mpsc::Sender<Message>,
    task: tokio::task::JoinHandle<Result<WrittenRows, LoadError>>,
}

impl Writers {
    /// Starts writers that run up to `parallel` statements at once, with at most `queued`
    /// batches waiting.
    pub fn start(
        connections: Connections,
        database: String,
        private_database: String,
        parallel: usize,
        queued: usize,
    ) -> Writers {
        let (tx, rx) = mpsc::channel(queued.max(1));
        let task = tokio::spawn(dispatch(
            rx,
            connections,
            database,
            private_database,
            parallel.max(1),
        ));
        Writers { tx, task }
    }

    /// A sender usable from the (blocking) transform thread.
    pub fn sender(&self) -> WriterSender {
        WriterSender {
            tx: self.tx.clone(),
        }
    }

    /// Waits for every batch and returns the rows written, or the first error.
    pub async fn finish(self) -> Result<WrittenRows, LoadError> {
        drop(self.tx);
        match self.task.await {
            Ok(r) => r,
            Err(e) => Err(LoadError::Write {
                table: "(writer)".into(),
                message: e.to_string(),
            }),
        }
    }
}

/// Sends batches to the writers from a blocking thread.
#[derive(Clone)]
pub struct WriterSender {
    tx: mpsc::Sender<Message>,
}

impl WriterSender {
    /// Queues a batch, waiting while the queue is full.
    pub fn send(&self, batch: Batch) -> Result<(), LoadError> {
        self.tx
            .blocking_send(Message::Batch(batch))
            .map_err(|_| LoadError::WritersStopped)
    }

    /// Waits until every batch sent so far is stored; returns the rows written since the last
    /// barrier.
    pub fn barrier(&self) -> Result<WrittenRows, LoadError> {
        let (done, wait) = oneshot::channel();
        self.tx
            .blocking_send(Message::Barrier(done))
            .map_err(|_| LoadError::WritersStopped)?;
        match wait.blocking_recv() {
            Ok(Ok(rows)) => Ok(rows),
            Ok(Err(_)) | Err(_) => Err(LoadError::WritersStopped),
        }
    }
}

async fn dispatch(
    mut rx: mpsc::Receiver<Message>,
    connections: Connections,
    database: String,
    private_database: String,
    parallel: usize,
) -> Result<WrittenRows, LoadError> {
    let method = match connections {
        Connections::Infile(_) => Method::Infile,
        Connections::Insert(_) => Method::Insert,
    };
    let heads: BTreeMap<Table, Arc<str>> = Table::ALL
        .iter()
        .map(|&t| {
            (
                t,
                statement_head(method, t, &database, &private_database).into(),
            )
        })
        .collect();
    let slots = Arc::new(Semaphore::new(parallel));
    let mut running: JoinSet<Result<(Table, u64), LoadError>> = JoinSet::new();
    let mut total = WrittenRows::new();
    let mut since_barrier = WrittenRows::new();
    let mut failure: Option<LoadError> = None;

    let record = |result: Result<Result<(Table, u64), LoadError>, tokio::task::JoinError>,
                  total: &mut WrittenRows,
                  since: &mut WrittenRows,
                  failure: &mut Option<LoadError>| match result {
        Ok(Ok((table, n))) => {
            *total.entry(table).or_default() += n;
            *since.entry(table).or_default() += n;
        }
        Ok(Err(e)) => {
            failure.get_or_insert(e);
        }
        Err(e) => {
            failure.get_or_insert(LoadError::Write {
                table: "(writer)".into(),
                message: e.to_string(),
            });
        }
    };

    while let Some(message) = rx.recv().await {
        while let Some(done) = running.try_join_next() {
            record(done, &mut total, &mut since_barrier, &mut failure);
        }
        if failure.is_some() {
            break;
        }
        match message {
            Message::Batch(batch) => {
                let permit = slots.clone().acquire_owned().await.expect("semaphore open");
                let head = heads[&batch.table].clone();
                let connections = connections.clone();
                running.spawn(async move {
                    let _permit = permit;
                    let table = batch.table;
                    let sent = batch.rows;
                    let n = execute(&connections, &head, batch).await?;
                    // REPLACE counts a replaced row twice: report the rows sent.
                    Ok((table, if table.replaces() { sent } else { n }))
                });
            }
            Message::Barrier(reply) => {
                while let Some(done) = running.join_next().await {
                    record(done, &mut total, &mut since_barrier, &mut failure);
                }
                match &failure {
                    None => {
                        let _ = reply.send(Ok(std::mem::take(&mut since_barrier)));
                    }
                    Some(e) => {
                        let _ = reply.send(Err(e.to_string()));
                        break;
                    }
                }
            }
        }
    }
    while let Some(done) = running.join_next().await {
        record(done, &mut total, &mut since_barrier, &mut failure);
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(total),
    }
}

async fn execute(connections: &Connections, head: &str, batch: Batch) -> Result<u64, LoadError> {
    let table = batch.table.name();
    match connections {
        Connections::Infile(pool) => pool.load(head, table, batch.data).await,
        Connections::Insert(pool) => {
            let mut sql = Vec::with_capacity(head.len() + batch.data.len());
            sql.extend_from_slice(head.as_bytes());
            sql.extend_from_slice(&batch.data);
            super::spare::give(batch.data);
            let sql = String::from_utf8(sql).map_err(|_| LoadError::Write {
                table: table.to_string(),
                message: "internal error: encoded rows are not UTF-8".into(),
            })?;
            let is_deadlock = |e: &sqlx::Error| sqlx_server_code(e) == Some(DEADLOCK_CODE);
            let run = || sqlx::raw_sql(sqlx::AssertSqlSafe(sql.as_str())).execute(pool);
            let result = retry_deadlocks(table, run, is_deadlock)
                .await
                .map_err(|e| LoadError::write(table, e))?;
            Ok(result.rows_affected())
        }
    }
}

/// Times a statement is run before a deadlock fails the load. Two writers' statements into one
/// table deadlock now and then under load.
const DEADLOCK_ATTEMPTS: u32 = 6;

/// Runs a writer's statement, again after a short pause when the server rolled it back to break a
/// deadlock. Safe because each statement is its own transaction, rolled back whole, and adds the
/// same rows with `IGNORE` or `REPLACE` each time it runs.
pub(super) async fn retry_deadlocks<T, E, Run, Attempt>(
    table: &str,
    mut run: Run,
    is_deadlock: impl Fn(&E) -> bool,
) -> Result<T, E>
where
    Run: FnMut() -> Attempt,
    Attempt: std::future::Future<Output = Result<T, E>>,
{
    let mut attempt = 1;
    loop {
        match run().await {
            Err(e) if attempt < DEADLOCK_ATTEMPTS && is_deadlock(&e) => {
                tracing::debug!(
                    "table `{table}`: a statement was rolled back to break a deadlock; running it \
                     again (attempt {})",
                    attempt + 1
                );
                tokio::time::sleep(std::time::Duration::from_millis(25 << attempt)).await;
                attempt += 1;
            }
            result => return result,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_deadlocked_statement_runs_again_until_it_succeeds_or_the_attempts_run_out() {
        // Fails with a deadlock `fails` times, then succeeds; counts the runs.
        async fn statement(runs: &std::cell::Cell<u32>, fails: u32) -> Result<u32, u16> {
            runs.set(runs.get() + 1);
            if runs.get() <= fails {
                Err(DEADLOCK_CODE)
            } else {
                Ok(runs.get())
            }
        }
        let deadlock = |code: &u16| *code == DEADLOCK_CODE;

        let runs = std::cell::Cell::new(0);
        let result = retry_deadlocks("t", || statement(&runs, 2), deadlock).await;
        assert_eq!(result, Ok(3));

        let runs = std::cell::Cell::new(0);
        let result = retry_deadlocks("t", || statement(&runs, 100), deadlock).await;
        assert_eq!(result, Err(DEADLOCK_CODE));
        assert_eq!(runs.get(), DEADLOCK_ATTEMPTS);

        // Any other error fails at once.
        let runs = std::cell::Cell::new(0);
        let other = |code: &u16| *code == 1205;
        let result = retry_deadlocks("t", || statement(&runs, 100), other).await;
        assert_eq!((result, runs.get()), (Err(DEADLOCK_CODE), 1));
    }
}
