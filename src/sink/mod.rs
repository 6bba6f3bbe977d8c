//! Sink stage: rows encoded in memory and streamed to MySQL in batches sized by bytes.

pub mod database;
pub mod encode;
#[cfg(test)]
pub mod in_memory;
pub mod infile;
pub mod rows;
pub mod spare;
#[cfg(test)]
mod tricky_strings;
pub mod writer;

pub use encode::{Encoding, Param, Parameters, RowBuffer, escape_sql, escape_tsv};
pub use rows::{Batch, BatchOut, Rows};
pub use writer::{
    Connections, InsertConnections, Method, PARAMETERS_PER_STATEMENT, WriterSender, Writers,
    WrittenRows, rows_per_statement,
};
