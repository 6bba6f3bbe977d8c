//! Per-table row buffers that hand full batches to the writers.

use crate::error::LoadError;
use crate::schema::{Table, TableRow};

use super::encode::{Encoding, RowBuffer};

/// Parameters in a full prepared `INSERT`: a statement of N rows has N × columns of them (the
/// protocol allows 65,535). Each prepared statement stays in the server's memory, about 300
/// bytes per parameter, for each table and connection. Measured on MariaDB 10.11 with the 1M-event
/// bench log and 4 writers: 2,048 parameters took 33.0 s (86 MB of session memory at the peak),
/// 4,096 took 29.9-30.0 s (150 MB), 8,192 29.9 s (289 MB), 16,384 28.9-31.4 s (595 MB).
pub const PARAMETERS_PER_STATEMENT: usize = 4096;

/// The rows of a full prepared `INSERT` into `table`. The insert method's batches end at this
/// many rows (or sooner at the batch size in bytes), so that one prepared statement serves most.
pub fn rows_per_statement(table: Table) -> u64 {
    (PARAMETERS_PER_STATEMENT / table.columns().len()).max(1) as u64
}

/// A batch of encoded rows for one table, ready to be sent as one statement.
#[derive(Debug)]
pub struct Batch {
    /// The table the rows belong to.
    pub table: Table,
    /// The encoded rows.
    pub data: Vec<u8>,
    /// How many rows `data` holds.
    pub rows: u64,
    /// The databases it goes to, as the writers numbered them
    /// ([`super::WriterSender::add_destination`]; 0 for those the writers started with).
    pub destination: usize,
}

/// Where full batches go: the database writers, or nowhere in a dry run.
pub type BatchOut = Box<dyn FnMut(Batch) -> Result<(), LoadError> + Send>;

/// The row buffers of every table, flushed by size.
pub struct Rows {
    buffers: Vec<RowBuffer>,
    /// Each table's most rows per batch: a full prepared statement's for the insert method.
    max_rows: [u64; Table::ALL.len()],
    batch_bytes: usize,
    out: BatchOut,
    write_private: bool,
    produced: [u64; Table::ALL.len()],
}

impl Rows {
    /// Buffers encoding rows as `encoding`, flushing a table's buffer when it reaches
    /// `batch_bytes`, or, for a prepared `INSERT`'s parameters, its statement's rows. Rows of
    /// private tables are dropped unless `write_private`.
    pub fn new(encoding: Encoding, batch_bytes: usize, write_private: bool, out: BatchOut) -> Self {
        Rows {
            max_rows: Table::ALL.map(|t| match encoding {
                Encoding::Tsv => u64::MAX,
                Encoding::Params => rows_per_statement(t),
            }),
            buffers: Table::ALL
                .iter()
                // Room for the row that crosses the limit, so that it needs no reallocation.
                .map(|_| {
                    RowBuffer::new(encoding).with_batch_capacity(batch_bytes + batch_bytes / 4)
                })
                .collect(),
            batch_bytes: batch_bytes.max(1024),
            out,
            write_private,
            produced: [0; Table::ALL.len()],
        }
    }

    /// Makes every buffer grow from nothing as its rows come, rather than each taking a
    /// full batch's room with its first row: for the many course databases of a split load,
    /// whose tables mostly hold a few rows each.
    pub fn make_growing(&mut self) {
        self.buffers.iter_mut().for_each(RowBuffer::make_growing);
    }

    /// Adds one row to its table, encoded as the table declares it.
    pub fn push<R: TableRow>(&mut self, row: &R) -> Result<(), LoadError> {
        self.add(R::TABLE, |buffer| row.write_cells(buffer))
    }

    /// Adds one row to `table`: `fill` appends the row's values in column order.
    fn add(&mut self, table: Table, fill: impl FnOnce(&mut RowBuffer)) -> Result<(), LoadError> {
        if table.is_private() && !self.write_private {
            return Ok(());
        }
        let slot = table.index();
        let buffer = &mut self.buffers[slot];
        buffer.ready_for_rows();
        let before = buffer.len();
        let had_rows = !buffer.is_empty();
        fill(buffer);
        buffer.end_row();
        self.produced[slot] += 1;
        if buffer.len() > self.batch_bytes && had_rows {
            // Keep every statement under the limit: send what was there, keep the new row.
            let (data, rows) = buffer.take_all_but_last(before);
            (self.out)(Batch {
                table,
                data,
                rows,
                destination: 0,
            })?;
        }
        let buffer = &self.buffers[slot];
        if buffer.len() >= self.batch_bytes || buffer.rows() >= self.max_rows[slot] {
            self.flush(table)?;
        }
        Ok(())
    }

    /// Rows produced so far for `table` (sent or still buffered).
    pub fn produced(&self, table: Table) -> u64 {
        self.produced[table.index()]
    }

    /// The memory the buffers hold: the rows waiting in them and the room they have grown for
    /// more (a buffer that grows by doubling holds up to twice its rows).
    pub fn buffered_bytes(&self) -> usize {
        self.buffers.iter().map(RowBuffer::room).sum()
    }

    /// The memory each table's buffer holds, as [`Rows::buffered_bytes`] counts it, for the
    /// tables whose buffers hold any.
    pub fn rooms(&self) -> impl Iterator<Item = (Table, usize)> + '_ {
        (Table::ALL.iter().zip(&self.buffers))
            .map(|(table, buffer)| (*table, buffer.room()))
            .filter(|(_, room)| *room > 0)
    }

    /// Sends `table`'s buffered rows, if any.
    pub fn flush(&mut self, table: Table) -> Result<(), LoadError> {
        let buffer = &mut self.buffers[table.index()];
        if buffer.is_empty() {
            return Ok(());
        }
        let (data, rows) = buffer.take();
        (self.out)(Batch {
            table,
            data,
            rows,
            destination: 0,
        })
    }

    /// Sends every buffered row.
    pub fn flush_all(&mut self) -> Result<(), LoadError> {
        for table in Table::ALL {
            self.flush(table)?;
        }
        Ok(())
    }
}
