//! Sink stage: rows encoded in memory and streamed to MySQL in batches sized by bytes.

pub mod encode;
#[cfg(test)]
pub mod in_memory;
pub mod infile;
pub mod rows;
pub mod spare;
pub mod target;
#[cfg(test)]
mod tricky_strings;
pub mod writer;

pub use encode::{Encoding, Param, Parameters, RowBuffer, escape_tsv};
pub use rows::{Batch, BatchOut, PARAMETERS_PER_STATEMENT, Rows, rows_per_statement};
pub use target::Target;
pub use writer::{Connections, InsertConnections, Method, WriterSender, Writers, WrittenRows};
