//! The writers: batches from the transform thread become `LOAD DATA` or `INSERT` statements, with
//! bounded queues so that memory stays flat when the server is slower than the transform.
//! `LOAD DATA` streams each table's batches through one statement per file (a bulk load when the
//! table starts empty), or, on a server with fewer connections to spare than there are tables,
//! through statements that take turns. `INSERT` runs the batches of a table that starts the file
//! empty as the prepared statements of one transaction on a connection of the table's own (a bulk
//! load too), and other batches as prepared statements of their own, several at a time.

use std::collections::BTreeMap;
use std::sync::Arc;

use sqlx::mysql::{MySql, MySqlArguments, MySqlConnection, MySqlPool};
use sqlx::query::Query;
use sqlx::{Arguments, AssertSqlSafe, Connection, Executor};
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::task::JoinSet;

use crate::error::{DEADLOCK_CODE, LoadError, sqlx_server_code};
use crate::schema::Table;

use super::encode::{MalformedParameters, Param, Parameters};
use super::infile::{InfilePool, StreamConnection};
use super::rows::{Batch, rows_per_statement};

/// How rows reach the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// `LOAD DATA LOCAL INFILE` streamed from memory.
    Infile,
    /// Multi-row `INSERT IGNORE` statements, prepared.
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

/// A table of one destination (a course database and its private one): what a statement loads.
type Stream = (usize, Table);

enum Message {
    Batch(Batch),
    /// Another course database and its private one, numbered in the order they come.
    Destination(String, String),
    /// Wait until every batch sent so far is stored (`None`), or only `table`'s.
    Barrier(Option<Table>, oneshot::Sender<Result<WrittenRows, String>>),
}

/// Batches of one table's stream waiting to be sent: one, besides the one being sent, keeps
/// the statement fed without holding much memory per table.
const STREAM_QUEUE: usize = 1;

/// One table's rows going to the server as one `LOAD DATA LOCAL` statement (infile method).
struct TableStream {
    table: Stream,
    data: mpsc::Sender<Vec<u8>>,
    /// Rows sent so far.
    sent: u64,
    /// When its last batch came, in batches of the load: the stream to end first when a
    /// table needs a connection and all are taken.
    used: u64,
    /// The rows the server affected, and whether the statement replaced rows.
    statement: tokio::task::JoinHandle<Result<(u64, bool), LoadError>>,
}

/// The `LOAD DATA` statements of a table: its usual one, and for a table whose rows replace
/// older ones, the one for a table that is still empty.
#[derive(Clone)]
struct InfileHeads {
    usual: Arc<str>,
    /// `IGNORE` instead of `REPLACE`, with the table's qualified name to check it is empty.
    into_empty: Option<(Arc<str>, Arc<str>)>,
}

impl TableStream {
    /// Starts the statement of `stream`'s rows; `has_rows` when an earlier statement of the
    /// load stored rows in the table, which then need not be looked at to know it is not empty.
    fn start(
        pool: InfilePool,
        mut connection: StreamConnection,
        heads: InfileHeads,
        stream: Stream,
        has_rows: bool,
        used: u64,
    ) -> TableStream {
        let (data, batches) = mpsc::channel(STREAM_QUEUE);
        let table = stream.1;
        let statement = tokio::spawn(async move {
            // `REPLACE` keeps the server from loading in bulk (a 1M-event course's
            // `observed_events` took 11.4-14.2 s as `REPLACE`, 7.4-7.8 s as `IGNORE`). Into an
            // empty table the two store the same rows, since a file's statement never carries
            // two rows with one key (`rows_stored` checks it), and no other statement writes
            // the table meanwhile. So the first file of a course is loaded in bulk.
            let (head, replaces) = match &heads.into_empty {
                Some((head, qualified))
                    if !has_rows
                        && pool
                            .is_empty(&mut connection, qualified, table.name())
                            .await? =>
                {
                    (head, false)
                }
                _ => (&heads.usual, table.replaces()),
            };
            let affected = (pool.load_stream(connection, head, table.name(), batches)).await?;
            Ok((affected, replaces))
        });
        TableStream {
            table: stream,
            data,
            sent: 0,
            used,
            statement,
        }
    }

    /// Ends the statement and waits for it: the table and the rows it stored.
    async fn finish(self) -> Result<Result<(Stream, u64), LoadError>, tokio::task::JoinError> {
        drop(self.data);
        let (stream, sent) = (self.table, self.sent);
        (self.statement.await).map(|r| {
            r.and_then(|(affected, replaces)| {
                Ok((stream, rows_stored(stream.1, replaces, sent, affected)?))
            })
        })
    }
}

/// One table's rows going into the table, empty when the file began, as the prepared statements
/// of one transaction on a connection of its own (insert method). With the connection's
/// `unique_checks` and `foreign_key_checks` off, MariaDB (10.6 and later) then inserts them as it
/// loads `LOAD DATA` into an empty table: no undo record per row, secondary indexes built by
/// sorting, one lock for the table. On the 1M-event bench log that took a fifth of the server's
/// CPU off the insert method's load (`BENCHMARKS.md`, "Insert: a table empty when a file
/// begins").
struct InsertStream {
    table: Stream,
    data: mpsc::Sender<Batch>,
    /// When its last batch came, in batches of the load (as [`TableStream::used`]).
    used: u64,
    /// The rows stored.
    statement: tokio::task::JoinHandle<Result<u64, LoadError>>,
}

impl InsertStream {
    /// Runs the batches sent to it on `connection`, in the transaction begun there, with
    /// `statement` (an `INSERT IGNORE`, also for a table whose rows replace older ones: into an
    /// empty table they store the same rows, `rows_stored` checks it), then commits.
    fn start(
        mut connection: MySqlConnection,
        statement: Arc<InsertStatement>,
        stream: Stream,
        used: u64,
    ) -> InsertStream {
        let (data, mut batches) = mpsc::channel::<Batch>(STREAM_QUEUE);
        let table = stream.1;
        let statement = tokio::spawn(async move {
            let name = table.name();
            let (mut sent, mut affected) = (0, 0);
            while let Some(batch) = batches.recv().await {
                // A deadlock would have rolled the whole transaction back: not run again here
                // (none is expected, the table is locked for the transaction).
                let done = (statement.query(&batch)?)
                    .execute(&mut connection)
                    .await
                    .map_err(|e| LoadError::write(name, e))?;
                sent += batch.rows;
                affected += done.rows_affected();
                super::spare::give(batch.data);
            }
            (connection.execute("COMMIT").await).map_err(|e| LoadError::write(name, e))?;
            let _ = connection.close().await;
            rows_stored(table, false, sent, affected)
        });
        InsertStream {
            table: stream,
            data,
            used,
            statement,
        }
    }

    /// Ends the transaction and waits for it: the table and the rows it stored.
    async fn finish(self) -> Result<Result<(Stream, u64), LoadError>, tokio::task::JoinError> {
        drop(self.data);
        let table = self.table;
        (self.statement.await).map(|r| r.map(|rows| (table, rows)))
    }
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

/// Builds the statement prefix for a table: `REPLACE` when `replace`, else `IGNORE`.
pub fn statement_head(
    method: Method,
    table: Table,
    database: &str,
    private_database: &str,
    replace: bool,
) -> String {
    let columns = table.columns().join("`, `");
    let name = qualified(table, database, private_database);
    match (method, replace) {
        (Method::Infile, replace) => format!(
            "LOAD DATA LOCAL INFILE 'moocdb-stream' {} INTO TABLE {name} CHARACTER SET utf8mb4 \
             FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' (`{columns}`)",
            if replace { "REPLACE" } else { "IGNORE" }
        ),
        (Method::Insert, false) => format!("INSERT IGNORE INTO {name} (`{columns}`) VALUES "),
        (Method::Insert, true) => format!("REPLACE INTO {name} (`{columns}`) VALUES "),
    }
}

/// A table's prepared `INSERT`: `head` then one `(?, …)` per row.
struct InsertStatement {
    head: String,
    columns: usize,
    /// The statement for a full batch, kept prepared on every connection that ran it.
    full: Arc<str>,
    full_rows: u64,
}

impl InsertStatement {
    fn new(head: String, table: Table) -> InsertStatement {
        let columns = table.columns().len();
        let full_rows = rows_per_statement(table);
        InsertStatement {
            full: Self::text(&head, columns, full_rows).into(),
            head,
            columns,
            full_rows,
        }
    }

    fn text(head: &str, columns: usize, rows: u64) -> String {
        let row = format!("({}?)", "?,".repeat(columns - 1));
        let mut sql = String::with_capacity(head.len() + (row.len() + 1) * rows as usize);
        sql.push_str(head);
        for i in 0..rows {
            if i > 0 {
                sql.push(',');
            }
            sql.push_str(&row);
        }
        sql
    }

    /// The statement for `rows` rows.
    fn for_rows(&self, rows: u64) -> Arc<str> {
        if rows == self.full_rows {
            self.full.clone()
        } else {
            Self::text(&self.head, self.columns, rows).into()
        }
    }

    /// The statement for `batch`, its values bound. A full batch's statement stays prepared on
    /// the connection for the next one; the others (a table's last rows, or rows too long for a
    /// full batch) are prepared for one run.
    fn query(&self, batch: &Batch) -> Result<Query<'static, MySql, MySqlArguments>, LoadError> {
        let values = batch.rows as usize * self.columns;
        let arguments = arguments(batch.table.name(), &batch.data, values)?;
        let sql = self.for_rows(batch.rows);
        Ok(
            sqlx::query_with(AssertSqlSafe(sql), arguments)
                .persistent(batch.rows == self.full_rows),
        )
    }
}

/// Where the statements go.
#[derive(Clone)]
pub enum Connections {
    /// `LOAD DATA LOCAL INFILE` through `mysql_async`.
    Infile(InfilePool),
    /// `INSERT` through sqlx.
    Insert(InsertConnections),
}

/// The insert method's connections.
#[derive(Clone)]
pub struct InsertConnections {
    /// The pool the statements into tables that had rows when the file began run on.
    pub pool: MySqlPool,
    /// How many tables may hold a connection of their own at once, for a transaction into the
    /// table while it is empty ([`InsertStream`]); 0 for none. Each is opened beside the pool.
    pub streams: usize,
}

impl InsertConnections {
    /// A connection for the transaction into `table` (named `qualified` in SQL), begun, if the
    /// table is empty; `None` if it has rows.
    async fn begin_if_empty(
        &self,
        table: Table,
        qualified: &str,
    ) -> Result<Option<MySqlConnection>, LoadError> {
        let name = table.name();
        let error = |e: sqlx::Error| LoadError::write(name, e);
        let options = self.pool.connect_options();
        let mut connection = MySqlConnection::connect_with(&options)
            .await
            .map_err(error)?;
        connection
            .execute(super::target::SESSION_SETUP)
            .await
            .map_err(error)?;
        let first: Option<i64> =
            sqlx::query_scalar(AssertSqlSafe(format!("SELECT 1 FROM {qualified} LIMIT 1")))
                .fetch_optional(&mut connection)
                .await
                .map_err(error)?;
        if first.is_some() {
            let _ = connection.close().await;
            return Ok(None);
        }
        connection.execute("BEGIN").await.map_err(error)?;
        Ok(Some(connection))
    }
}

/// A handle to the running writers.
pub struct Writers {
    tx: mpsc::Sender<Message>,
    destinations: Arc<std::sync::atomic::AtomicUsize>,
    task: tokio::task::JoinHandle<Result<Vec<WrittenRows>, LoadError>>,
}

impl Writers {
    /// Starts writers with at most `queued` batches waiting. `INSERT` runs up to `parallel`
    /// statements at once; `LOAD DATA` runs one statement per table that has rows, as many at
    /// once as the infile pool has connections. Batches go to `database` (and, for the private
    /// tables, `private_database`) unless they name another destination.
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
            vec![(database, private_database)],
            parallel.max(1),
        ));
        Writers {
            tx,
            destinations: Arc::new(1.into()),
            task,
        }
    }

    /// A sender usable from the (blocking) transform thread.
    pub fn sender(&self) -> WriterSender {
        WriterSender {
            tx: self.tx.clone(),
            destinations: self.destinations.clone(),
        }
    }

    /// Waits for every batch and returns the rows written, or the first error.
    pub async fn finish(self) -> Result<WrittenRows, LoadError> {
        let per_destination = self.finish_per_destination().await?;
        let mut total = WrittenRows::new();
        for written in per_destination {
            for (table, n) in written {
                *total.entry(table).or_default() += n;
            }
        }
        Ok(total)
    }

    /// Waits for every batch and returns the rows written to each destination, in the order
    /// they were added, or the first error.
    pub async fn finish_per_destination(self) -> Result<Vec<WrittenRows>, LoadError> {
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
    destinations: Arc<std::sync::atomic::AtomicUsize>,
}

impl WriterSender {
    /// Queues a batch, waiting while the queue is full.
    pub fn send(&self, batch: Batch) -> Result<(), LoadError> {
        self.tx
            .blocking_send(Message::Batch(batch))
            .map_err(|_| LoadError::WritersStopped)
    }

    /// Adds a course database (and its private one) on the writers' server: batches that name
    /// the number returned go there.
    pub fn add_destination(
        &self,
        database: String,
        private_database: String,
    ) -> Result<usize, LoadError> {
        let number = (self.destinations).fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.tx
            .blocking_send(Message::Destination(database, private_database))
            .map_err(|_| LoadError::WritersStopped)?;
        Ok(number)
    }

    /// Waits until every batch sent so far is stored; returns the rows written since the last
    /// barrier.
    pub fn barrier(&self) -> Result<WrittenRows, LoadError> {
        self.barrier_of(None)
    }

    /// Waits until every batch of `table` sent so far is stored, whatever its destination (with
    /// the insert method, every batch of every table).
    pub fn table_barrier(&self, table: Table) -> Result<(), LoadError> {
        self.barrier_of(Some(table)).map(drop)
    }

    fn barrier_of(&self, only: Option<Table>) -> Result<WrittenRows, LoadError> {
        let (done, wait) = oneshot::channel();
        self.tx
            .blocking_send(Message::Barrier(only, done))
            .map_err(|_| LoadError::WritersStopped)?;
        match wait.blocking_recv() {
            Ok(Ok(rows)) => Ok(rows),
            Ok(Err(_)) | Err(_) => Err(LoadError::WritersStopped),
        }
    }
}

/// The statements of one destination's tables.
struct Statements {
    database: String,
    private_database: String,
    /// Each table's `LOAD DATA` heads (infile method).
    infile: BTreeMap<Table, InfileHeads>,
    /// Each table's prepared `INSERT`s (insert method): the usual one, and the one into an empty
    /// table (`IGNORE` for those whose rows replace older ones too).
    insert: BTreeMap<Table, (Arc<InsertStatement>, Arc<InsertStatement>)>,
}

impl Statements {
    fn new(method: Method, database: String, private_database: String) -> Statements {
        let head = |t: Table, replace: bool| -> Arc<str> {
            statement_head(method, t, &database, &private_database, replace).into()
        };
        let infile = match method {
            Method::Infile => (Table::ALL.iter())
                .map(|&t| {
                    let into_empty = t.replaces().then(|| {
                        let name = qualified(t, &database, &private_database);
                        (head(t, false), Arc::from(name))
                    });
                    let usual = head(t, t.replaces());
                    (t, InfileHeads { usual, into_empty })
                })
                .collect(),
            Method::Insert => BTreeMap::new(),
        };
        let insert = match method {
            Method::Insert => (Table::ALL.iter())
                .map(|&t| {
                    let statement = |replace: bool| {
                        let head = statement_head(method, t, &database, &private_database, replace);
                        Arc::new(InsertStatement::new(head, t))
                    };
                    let usual = statement(t.replaces());
                    let into_empty = if t.replaces() {
                        statement(false)
                    } else {
                        usual.clone()
                    };
                    (t, (usual, into_empty))
                })
                .collect(),
            Method::Infile => BTreeMap::new(),
        };
        Statements {
            database,
            private_database,
            infile,
            insert,
        }
    }
}

async fn dispatch(
    mut rx: mpsc::Receiver<Message>,
    connections: Connections,
    destinations: Vec<(String, String)>,
    parallel: usize,
) -> Result<Vec<WrittenRows>, LoadError> {
    let method = match connections {
        Connections::Infile(_) => Method::Infile,
        Connections::Insert(_) => Method::Insert,
    };
    let mut statements: Vec<Statements> = (destinations.into_iter())
        .map(|(database, private)| Statements::new(method, database, private))
        .collect();
    let slots = Arc::new(Semaphore::new(parallel));
    let mut running: JoinSet<Result<(Stream, u64), LoadError>> = JoinSet::new();
    let mut tally = Tally::default();
    let mut streams: BTreeMap<Stream, TableStream> = BTreeMap::new();
    let mut insert_streams: BTreeMap<Stream, InsertStream> = BTreeMap::new();
    // Tables found with rows at a file's start: their batches run one statement each.
    let mut with_rows: std::collections::BTreeSet<Stream> = Default::default();
    let mut batches: u64 = 0;
    // The most statements (infile) or transactions (insert) open at once on connections of
    // their own: the infile pool's connections, or the insert streams', fewer if the server
    // refuses some.
    let mut room = match &connections {
        Connections::Infile(pool) => pool.connections(),
        Connections::Insert(insert) => insert.streams,
    };

    while let Some(message) = rx.recv().await {
        while let Some(done) = running.try_join_next() {
            tally.record(done);
        }
        if tally.failure.is_some() {
            break;
        }
        match message {
            Message::Destination(database, private) => {
                statements.push(Statements::new(method, database, private));
            }
            Message::Batch(batch) => match &connections {
                Connections::Infile(pool) => {
                    let key = (batch.destination, batch.table);
                    batches += 1;
                    if !streams.contains_key(&key) {
                        let Some(connection) =
                            open_stream_connection(pool, key, &mut streams, &mut tally, &mut room)
                                .await
                        else {
                            break;
                        };
                        let heads = statements[key.0].infile[&key.1].clone();
                        // A table this load has stored rows in is not looked at again (1,715
                        // queries fewer on 1M events of 100 courses). A `--reload` that emptied
                        // it meanwhile only makes the statement a `REPLACE`, which stores the
                        // same rows.
                        let has_rows = tally.has_rows(&key);
                        let stream = TableStream::start(
                            pool.clone(),
                            connection,
                            heads,
                            key,
                            has_rows,
                            batches,
                        );
                        streams.insert(key, stream);
                    }
                    let stream = streams.get_mut(&key).expect("a running stream");
                    stream.used = batches;
                    stream.sent += batch.rows;
                    if stream.data.send(batch.data).await.is_err() {
                        // The statement ended before its rows did: its error is the load's.
                        let stream = streams.remove(&key).expect("the stream just used");
                        let ended = match stream.finish().await {
                            // Never expected: the statement reads until the stream is closed.
                            Ok(Ok(_)) => Ok(Err(LoadError::Write {
                                table: key.1.name().to_string(),
                                message: "the statement ended before all its rows were sent; \
                                          run the same command again"
                                    .into(),
                            })),
                            other => other,
                        };
                        tally.record(ended);
                    }
                }
                Connections::Insert(own) => {
                    let key = (batch.destination, batch.table);
                    let table = key.1;
                    batches += 1;
                    let destination = &statements[key.0];
                    let (usual, into_empty) = destination.insert[&table].clone();
                    if room > 0 && !with_rows.contains(&key) && !insert_streams.contains_key(&key) {
                        let qualified =
                            qualified(table, &destination.database, &destination.private_database);
                        match open_insert_stream(
                            own,
                            key,
                            &qualified,
                            &mut insert_streams,
                            &mut tally,
                            &mut room,
                        )
                        .await
                        {
                            Ok(Some(connection)) => {
                                let stream =
                                    InsertStream::start(connection, into_empty, key, batches);
                                insert_streams.insert(key, stream);
                            }
                            Ok(None) => {
                                with_rows.insert(key);
                            }
                            Err(()) => break,
                        }
                    }
                    if let Some(stream) = insert_streams.get_mut(&key) {
                        stream.used = batches;
                        if let Err(mpsc::error::SendError(_)) = stream.data.send(batch).await {
                            // The transaction failed: its error is the load's.
                            let stream = insert_streams.remove(&key).expect("the stream used");
                            tally.record(stream.finish().await);
                            if tally.failure.is_none() {
                                tally.failure = Some(LoadError::Write {
                                    table: table.name().to_string(),
                                    message: "the transaction ended before all its rows were \
                                              sent; run the same command again"
                                        .into(),
                                });
                            }
                        }
                        continue;
                    }
                    let permit = slots.clone().acquire_owned().await.expect("semaphore open");
                    let pool = own.pool.clone();
                    running.spawn(async move {
                        let _permit = permit;
                        let sent = batch.rows;
                        let n = insert(&pool, &usual, batch).await?;
                        Ok((key, rows_stored(table, table.replaces(), sent, n)?))
                    });
                }
            },
            Message::Barrier(only, reply) => {
                let ending = |(_, t): &Stream| only.is_none_or(|o| o == *t);
                let ended: Vec<_> = streams.extract_if(.., |k, _| ending(k)).collect();
                for (_, stream) in ended {
                    tally.record(stream.finish().await);
                }
                // Committed: the table's next rows (the next file's) see whether it is empty
                // again.
                let ended: Vec<_> = insert_streams.extract_if(.., |k, _| ending(k)).collect();
                for (_, stream) in ended {
                    tally.record(stream.finish().await);
                }
                while let Some(done) = running.join_next().await {
                    tally.record(done);
                }
                match &tally.failure {
                    // A table's barrier leaves the count since the last full one running.
                    None if only.is_some() => {
                        let _ = reply.send(Ok(WrittenRows::new()));
                    }
                    None => {
                        let _ = reply.send(Ok(std::mem::take(&mut tally.since_barrier)));
                    }
                    Some(e) => {
                        let _ = reply.send(Err(e.to_string()));
                        break;
                    }
                }
            }
        }
    }
    for (_, stream) in std::mem::take(&mut streams) {
        tally.record(stream.finish().await);
    }
    // After a failure, a transaction still open commits the rows it got, as a `LOAD DATA`
    // statement still open stores them: the re-run's recovery (`ledger::recover`) makes the
    // file's next load exact.
    for (_, stream) in std::mem::take(&mut insert_streams) {
        tally.record(stream.finish().await);
    }
    while let Some(done) = running.join_next().await {
        tally.record(done);
    }
    match tally.failure {
        Some(e) => Err(e),
        None => {
            let mut per_destination = vec![WrittenRows::new(); statements.len()];
            for ((destination, table), n) in tally.total {
                per_destination[destination].insert(table, n);
            }
            Ok(per_destination)
        }
    }
}

/// A connection for a new statement into `table`. With fewer connections than tables (a server
/// near its connection limit, or several course databases loaded at once), the table whose rows
/// came longest ago ends its statement to make room; its next rows start another. A connection
/// the server refuses (other clients took the room it had when the load began) lowers `room` to
/// the statements still open, which then take turns. `None` when the load fails (`tally` has the
/// error).
async fn open_stream_connection(
    pool: &InfilePool,
    table: Stream,
    streams: &mut BTreeMap<Stream, TableStream>,
    tally: &mut Tally,
    room: &mut usize,
) -> Option<StreamConnection> {
    loop {
        if streams.len() >= *room
            && let Some(idle) = (streams.values().min_by_key(|s| s.used)).map(|s| s.table)
        {
            let stream = streams.remove(&idle).expect("a running stream");
            tally.record(stream.finish().await);
            if tally.failure.is_some() {
                return None;
            }
        }
        match pool.connection(table.1.name()).await {
            Ok(connection) => return Some(connection),
            Err(LoadError::NoConnections { message, .. }) if !streams.is_empty() => {
                *room = streams.len();
                tracing::warn!(
                    "the server refused another connection ({message}); LOAD DATA goes on with \
                     {} table(s) streaming at once, which is slower",
                    *room
                );
            }
            Err(e) => {
                tally.failure.get_or_insert(e);
                return None;
            }
        }
    }
}

/// A connection with a transaction begun for `table`'s rows if the table is empty (`Ok(None)` if
/// it has rows, or if the server has no connection to spare: its rows then run one statement
/// each on the pool). With as many transactions open as `room` allows, the one whose rows came
/// longest ago commits first. `Err` when the load fails (`tally` has the error).
async fn open_insert_stream(
    insert: &InsertConnections,
    table: Stream,
    qualified: &str,
    streams: &mut BTreeMap<Stream, InsertStream>,
    tally: &mut Tally,
    room: &mut usize,
) -> Result<Option<MySqlConnection>, ()> {
    if streams.len() >= *room
        && let Some(idle) = (streams.values().min_by_key(|s| s.used)).map(|s| s.table)
    {
        let stream = streams.remove(&idle).expect("a running stream");
        tally.record(stream.finish().await);
        if tally.failure.is_some() {
            return Err(());
        }
    }
    match insert.begin_if_empty(table.1, qualified).await {
        Ok(connection) => Ok(connection),
        Err(LoadError::NoConnections { message, .. }) => {
            *room = streams.len();
            tracing::warn!(
                "the server refused another connection ({message}); INSERT goes on with {} \
                 empty table(s) loaded in bulk at once, which is slower",
                *room
            );
            Ok(None)
        }
        Err(e) => {
            tally.failure.get_or_insert(e);
            Err(())
        }
    }
}

/// What the statements that ended have done: their rows (in all, per destination and table, and
/// since the last full barrier, per table), and the first error.
#[derive(Default)]
struct Tally {
    total: BTreeMap<Stream, u64>,
    since_barrier: WrittenRows,
    failure: Option<LoadError>,
}

impl Tally {
    /// Whether statements of this load that ended stored rows in `stream`'s table.
    fn has_rows(&self, stream: &Stream) -> bool {
        self.total.get(stream).is_some_and(|&n| n > 0)
    }

    /// Counts an ended statement's rows, or keeps its error if it is the first.
    fn record(&mut self, ended: Result<Result<(Stream, u64), LoadError>, tokio::task::JoinError>) {
        match ended {
            Ok(Ok((stream, n))) => {
                *self.total.entry(stream).or_default() += n;
                *self.since_barrier.entry(stream.1).or_default() += n;
            }
            Ok(Err(e)) => {
                self.failure.get_or_insert(e);
            }
            Err(e) => {
                self.failure.get_or_insert(LoadError::Write {
                    table: "(writer)".into(),
                    message: e.to_string(),
                });
            }
        }
    }
}

/// The rows a statement stored, from the rows `sent` and the rows the server says it `affected`:
/// `REPLACE` counts a replaced row twice, so for its statements the rows sent are reported.
/// A table whose rows replace older ones loaded with `IGNORE` (into an empty table) must have
/// stored every row: a row skipped there had the key of another of the same statement, and the
/// later one, which `REPLACE` would have kept, is lost.
fn rows_stored(table: Table, replaces: bool, sent: u64, affected: u64) -> Result<u64, LoadError> {
    if replaces {
        Ok(sent)
    } else if table.replaces() && affected < sent {
        Err(LoadError::Write {
            table: table.name().to_string(),
            message: format!(
                "internal error: {} of the {sent} rows loaded into the empty table had the key of \
                 another row of the same file, and the first of each was kept. Please report it; \
                 the same command with --method insert loads the file again without this",
                sent - affected
            ),
        })
    } else {
        Ok(affected)
    }
}

/// Runs one batch as a prepared multi-row `INSERT` (or `REPLACE`) statement.
async fn insert(
    pool: &MySqlPool,
    statement: &InsertStatement,
    batch: Batch,
) -> Result<u64, LoadError> {
    let table = batch.table.name();
    let mut first = Some(statement.query(&batch)?);
    let run = || {
        let query = match first.take() {
            Some(query) => query,
            // Running again after a deadlock: the same data, read without error the first time.
            None => statement.query(&batch).expect("parameters read before"),
        };
        query.execute(pool)
    };
    let is_deadlock = |e: &sqlx::Error| sqlx_server_code(e) == Some(DEADLOCK_CODE);
    let result = retry_deadlocks(table, run, is_deadlock)
        .await
        .map_err(|e| LoadError::write(table, e))?;
    super::spare::give(batch.data);
    Ok(result.rows_affected())
}

/// A batch's parameter values, bound for the statement; `values` is how many there must be.
/// An error is a bug (the rows were encoded wrongly), reported with the table's name.
fn arguments(table: &str, data: &[u8], values: usize) -> Result<MySqlArguments, LoadError> {
    let internal = |message: String| LoadError::Write {
        table: table.to_string(),
        message: format!(
            "{message}. Please report it; the same command with --method infile loads the file \
             without this step"
        ),
    };
    let mut arguments = MySqlArguments::default();
    arguments.reserve(values, data.len());
    for value in Parameters::new(data) {
        // Binding a plain value cannot fail: only the type's encoder could refuse it.
        let bound = match value.map_err(|e: MalformedParameters| internal(e.to_string()))? {
            Param::Null => arguments.add(None::<&str>),
            Param::Text(s) => arguments.add(s),
            Param::Int(v) => arguments.add(v),
            Param::Float(v) => arguments.add(v),
        };
        bound.expect("a plain value binds");
    }
    if arguments.len() != values {
        return Err(internal(format!(
            "internal error: {} values for a statement of {values} parameters",
            arguments.len()
        )));
    }
    Ok(arguments)
}

/// Times an `INSERT` statement is run before a deadlock fails the load. Two writers' statements
/// into one table deadlock now and then under load.
const DEADLOCK_ATTEMPTS: u32 = 6;

/// Runs an `INSERT` writer's statement, again after a short pause when the server rolled it back
/// to break a deadlock. Safe because each statement is its own transaction, rolled back whole,
/// and adds the same rows with `IGNORE` or `REPLACE` each time it runs.
async fn retry_deadlocks<T, E, Run, Attempt>(
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

    #[test]
    fn rows_loaded_with_ignore_into_a_replacing_table_must_all_be_stored() {
        // `REPLACE` counts a replaced row twice: the rows sent are what was stored.
        let stored = rows_stored(Table::ObservedEvents, true, 10, 13);
        assert_eq!(stored.ok(), Some(10));
        // `IGNORE` into an empty table: every row stored.
        let stored = rows_stored(Table::ObservedEvents, false, 10, 10);
        assert_eq!(stored.ok(), Some(10));
        // A row skipped there had another row's key: the load fails and names the table.
        match rows_stored(Table::Submissions, false, 10, 9) {
            Err(LoadError::Write { table, message }) => {
                assert_eq!(table, "submissions");
                assert!(message.contains("1 of the 10 rows"), "{message}");
            }
            other => panic!("expected a write error, got {other:?}"),
        }
        // A table whose rows are fixed by their key skips duplicates by design.
        let stored = rows_stored(Table::EdxTrackEvent, false, 10, 7);
        assert_eq!(stored.ok(), Some(7));
    }

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
