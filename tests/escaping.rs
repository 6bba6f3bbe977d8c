//! Property test through a real server: generated strings (arbitrary Unicode weighted towards
//! NUL, tab, newline, CR, backslash, quotes, `\N` and 4-byte UTF-8) and NULLs are written into a
//! real table by the library's writers, with `LOAD DATA LOCAL INFILE` and with `INSERT`, and read
//! back byte for byte. The fast, many-case version with an independent decoder is beside the
//! encoder (`src/sink/encode.rs`); this one proves the server reads the encoding the same way.

mod common;

use common::*;
use moocdb_loader::schema::Table;
use moocdb_loader::sink::Target;
use moocdb_loader::sink::infile::InfilePool;
use moocdb_loader::sink::{Batch, Connections, Encoding, InsertConnections, RowBuffer, Writers};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use sqlx::mysql::MySqlPool;

#[path = "../src/sink/tricky_strings.rs"]
mod tricky_strings;
use tricky_strings::tricky_string;

/// Server round trips are slow: fewer cases than the unit property test.
const CASES: u32 = 64;

fn values() -> impl Strategy<Value = Vec<Option<String>>> {
    prop::collection::vec(
        prop_oneof![1 => Just(None), 5 => tricky_string().prop_map(Some)],
        1..24,
    )
}

/// The server the rows go to: a fresh course database with the loader's tables; rows go into
/// `urls` (`url_id INT` primary key, `url TEXT NULL`, utf8mb4_bin).
struct Server {
    runtime: tokio::runtime::Runtime,
    database: String,
    pool: MySqlPool,
    infile: InfilePool,
}

impl Server {
    fn new() -> Server {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let (url, database) = runtime.block_on(fresh_database("escaping"));
        let target = Target::parse(&url, None).unwrap();
        let pool = runtime
            .block_on(moocdb_loader::store::prepare(&target, false, 2))
            .unwrap();
        let infile = InfilePool::new(&target, 1).unwrap();
        runtime
            .block_on(infile.probe())
            .expect("the test server allows LOAD DATA LOCAL INFILE");
        Server {
            runtime,
            database,
            pool,
            infile,
        }
    }

    /// Writes `values` as rows (i, value) through the writers with `encoding`'s method, and reads
    /// the table back as (i, bytes or NULL).
    fn round_trip(
        &self,
        encoding: Encoding,
        values: &[Option<String>],
    ) -> Vec<(i32, Option<Vec<u8>>)> {
        let mut buffer = RowBuffer::new(encoding);
        for (i, v) in values.iter().enumerate() {
            buffer.int(i as i64);
            buffer.opt_text(v.as_deref());
            buffer.end_row();
        }
        let (data, rows) = buffer.take();
        let connections = match encoding {
            Encoding::Tsv => Connections::Infile(self.infile.clone()),
            Encoding::Params => Connections::Insert(InsertConnections {
                pool: self.pool.clone(),
                streams: 2,
            }),
        };
        self.runtime.block_on(async {
            sqlx::query("DELETE FROM urls")
                .execute(&self.pool)
                .await
                .unwrap();
        });
        let writers = self.runtime.block_on(async {
            Writers::start(
                connections,
                self.database.clone(),
                format!("{}_private", self.database),
                1,
                1,
            )
        });
        // The sender blocks: called from this (non-runtime) thread, as the transform thread does.
        let sender = writers.sender();
        sender
            .send(Batch {
                table: Table::Urls,
                data,
                rows,
                destination: 0,
            })
            .unwrap();
        drop(sender);
        let written = self.runtime.block_on(writers.finish()).unwrap();
        assert_eq!(
            written.get(&Table::Urls).copied(),
            Some(rows),
            "{encoding:?}"
        );
        self.runtime.block_on(async {
            sqlx::query_as("SELECT url_id, CAST(url AS BINARY) FROM urls ORDER BY url_id")
                .fetch_all(&self.pool)
                .await
                .unwrap()
        })
    }
}

fn expected(values: &[Option<String>]) -> Vec<(i32, Option<Vec<u8>>)> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| (i as i32, v.as_ref().map(|s| s.as_bytes().to_vec())))
        .collect()
}

#[test]
fn any_string_round_trips_through_the_server_with_both_methods() {
    let server = Server::new();
    // NULL, the text `\N`, the empty string and the text `NULL` stay four different values.
    let fixed: Vec<Option<String>> = vec![
        None,
        Some("\\N".into()),
        Some("".into()),
        Some("NULL".into()),
    ];
    for encoding in [Encoding::Tsv, Encoding::Params] {
        assert_eq!(
            server.round_trip(encoding, &fixed),
            expected(&fixed),
            "{encoding:?}"
        );
    }
    let mut runner = TestRunner::new(Config {
        cases: CASES,
        // The failing case is printed; a regression file under tests/ is not wanted.
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&values(), |values| {
            for encoding in [Encoding::Tsv, Encoding::Params] {
                prop_assert_eq!(
                    server.round_trip(encoding, &values),
                    expected(&values),
                    "{:?}",
                    encoding
                );
            }
            Ok(())
        })
        .unwrap();
}
