//! Source stage: turns the paths a user names into tracking logs, and tracking logs into numbered lines.
//!
//! Plain files, gzip files (every member of a multi-member gzip) and standard input are read as a
//! stream; nothing is buffered beyond one line, and a line longer than the limit is cut to the limit
//! (its true length is kept) so that a 50 MB line cannot exhaust memory.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use flate2::read::MultiGzDecoder;
use xxhash_rust::xxh3::Xxh3;

use crate::error::LoadError;

/// Where a tracking log's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A file on disk.
    File(PathBuf),
    /// The process's standard input (`-` on the command line).
    Stdin,
    /// Bytes held in memory, read as a file's content would be (see
    /// [`crate::load::dry_run_bytes`], used by the fuzz targets).
    Memory(Arc<[u8]>),
}

/// One tracking log to load: a file or standard input.
#[derive(Debug, Clone)]
pub struct TrackingLog {
    /// Where the bytes come from.
    pub origin: Origin,
    /// The name shown to the user and stored in the ledger and rejects (the path as given, or `-`).
    pub display_name: String,
    /// The size on disk (compressed size for `.gz`), 0 for standard input.
    pub size: u64,
    /// Whether the file was modified in the last five minutes: a live log still being written,
    /// whose unterminated last line may be incomplete.
    pub live: bool,
}

impl TrackingLog {
    /// The absolute `file://` URI of the log, as json_to_relation's `LoadInfo.load_file` records it.
    pub fn uri(&self) -> String {
        match &self.origin {
            Origin::File(p) => {
                let abs = std::path::absolute(p).unwrap_or_else(|_| p.clone());
                format!("file://{}", abs.display())
            }
            Origin::Stdin => "stdin://".to_string(),
            Origin::Memory(_) => "memory://".to_string(),
        }
    }

    /// Opens the log for reading, decompressing gzip (detected by its magic bytes, not its name).
    pub fn open(&self, max_line_bytes: usize) -> Result<LineReader, LoadError> {
        self.open_counted(max_line_bytes, Arc::new(AtomicU64::new(0)))
    }

    /// Like [`TrackingLog::open`], adding every byte read from storage (compressed bytes for
    /// gzip) to `stored_bytes`, for progress reporting.
    pub fn open_counted(
        &self,
        max_line_bytes: usize,
        stored_bytes: Arc<AtomicU64>,
    ) -> Result<LineReader, LoadError> {
        self.open_at(0, max_line_bytes, stored_bytes)
    }

    /// Opens the log to read its first lines: buffers of 16 KiB, not the 256 KiB a whole file's
    /// reading takes, whose filling decompressed 256 KiB of each file to look at one line.
    pub fn open_first_lines(&self, max_line_bytes: usize) -> Result<LineReader, LoadError> {
        self.open_buffered(0, max_line_bytes, Arc::new(AtomicU64::new(0)), 16 * 1024)
    }

    /// Opens the log from `raw_offset` bytes as stored: where an earlier load of a grown live file
    /// stopped (for gzip, a member boundary).
    pub fn open_at(
        &self,
        raw_offset: u64,
        max_line_bytes: usize,
        stored_bytes: Arc<AtomicU64>,
    ) -> Result<LineReader, LoadError> {
        self.open_buffered(raw_offset, max_line_bytes, stored_bytes, 256 * 1024)
    }

    fn open_buffered(
        &self,
        raw_offset: u64,
        max_line_bytes: usize,
        stored_bytes: Arc<AtomicU64>,
        buffer: usize,
    ) -> Result<LineReader, LoadError> {
        let open_err = |source| LoadError::Open {
            path: self.display_name.clone(),
            source,
        };
        let raw: Box<dyn Read + Send> = match &self.origin {
            Origin::File(p) => {
                use std::io::{Seek, SeekFrom};
                let mut f = File::open(p).map_err(open_err)?;
                if raw_offset > 0 {
                    f.seek(SeekFrom::Start(raw_offset)).map_err(open_err)?;
                }
                Box::new(f)
            }
            Origin::Stdin => Box::new(io::stdin()),
            Origin::Memory(bytes) => {
                let mut cursor = io::Cursor::new(bytes.clone());
                cursor.set_position(raw_offset);
                Box::new(cursor)
            }
        };
        let raw = CountingRead {
            inner: raw,
            count: stored_bytes,
        };
        let mut buffered = BufReader::with_capacity(buffer, raw);
        let is_gzip = {
            let head = buffered.fill_buf().map_err(|source| LoadError::Open {
                path: self.display_name.clone(),
                source,
            })?;
            head.len() >= 2 && head[0] == 0x1f && head[1] == 0x8b
        };
        let inner: Box<dyn BufRead + Send> = if is_gzip {
            Box::new(BufReader::with_capacity(
                buffer,
                MultiGzDecoder::new(buffered),
            ))
        } else {
            Box::new(buffered)
        };
        Ok(LineReader::new(inner, max_line_bytes).compressed(is_gzip))
    }

    /// Hashes the first `len` bytes of the file as stored (xxh3-128), to recognise a grown file.
    pub fn prefix_hash(&self, len: u64) -> Result<Option<String>, LoadError> {
        let Origin::File(p) = &self.origin else {
            return Ok(None);
        };
        let open_err = |source| LoadError::Open {
            path: self.display_name.clone(),
            source,
        };
        let file = File::open(p).map_err(open_err)?;
        let mut limited = file.take(len);
        let mut hasher = Xxh3::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut total = 0u64;
        loop {
            let n = limited.read(&mut buf).map_err(open_err)?;
            if n == 0 {
                break;
            }
            total += n as u64;
            hasher.update(&buf[..n]);
        }
        Ok((total == len).then(|| format!("{:032x}", hasher.digest128())))
    }

    /// Hashes the file's bytes as stored (xxh3-128), so a file already loaded is recognised before
    /// it is decompressed. Standard input has no identity.
    pub fn content_hash(&self) -> Result<Option<String>, LoadError> {
        let Origin::File(p) = &self.origin else {
            return Ok(None);
        };
        let open_err = |source| LoadError::Open {
            path: self.display_name.clone(),
            source,
        };
        let mut file = File::open(p).map_err(open_err)?;
        let mut hasher = Xxh3::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = file.read(&mut buf).map_err(open_err)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        Ok(Some(format!("{:032x}", hasher.digest128())))
    }
}

struct CountingRead {
    inner: Box<dyn Read + Send>,
    count: Arc<AtomicU64>,
}

impl Read for CountingRead {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Expands the command line's paths: files as given, directories walked recursively in name
/// order (hidden entries skipped), `-` as standard input.
pub fn discover(paths: &[PathBuf]) -> Result<Vec<TrackingLog>, LoadError> {
    let mut logs = Vec::new();
    for path in paths {
        if path.as_os_str() == "-" {
            logs.push(TrackingLog {
                origin: Origin::Stdin,
                display_name: "-".into(),
                size: 0,
                live: false,
            });
            continue;
        }
        let meta = std::fs::metadata(path).map_err(|source| LoadError::Open {
            path: path.display().to_string(),
            source,
        })?;
        if meta.is_dir() {
            walk_dir(path, &mut logs)?;
        } else {
            logs.push(TrackingLog {
                origin: Origin::File(path.clone()),
                display_name: path.display().to_string(),
                size: meta.len(),
                live: is_live(&meta),
            });
        }
    }
    Ok(logs)
}

fn is_live(meta: &std::fs::Metadata) -> bool {
    meta.modified()
        .ok()
        .and_then(|m| m.elapsed().ok())
        .is_some_and(|age| age.as_secs() < 300)
}

fn walk_dir(dir: &Path, logs: &mut Vec<TrackingLog>) -> Result<(), LoadError> {
    let read_err = |source| LoadError::Open {
        path: dir.display().to_string(),
        source,
    };
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(read_err)?
        .collect::<Result<_, _>>()
        .map_err(read_err)?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        let meta = std::fs::metadata(&path).map_err(|source| LoadError::Open {
            path: path.display().to_string(),
            source,
        })?;
        if meta.is_dir() {
            walk_dir(&path, logs)?;
        } else if meta.is_file() {
            logs.push(TrackingLog {
                display_name: path.display().to_string(),
                origin: Origin::File(path),
                size: meta.len(),
                live: is_live(&meta),
            });
        }
    }
    Ok(())
}

/// One physical line of a tracking log.
#[derive(Debug)]
pub struct RawLine<'a> {
    /// 1-based line number in the (decompressed) log.
    pub number: u64,
    /// Byte offset of the line's first byte in the decompressed log.
    pub offset: u64,
    /// The line without its line terminator, cut to the line limit.
    pub bytes: &'a [u8],
    /// Whether a newline ended the line (the last line of a live file may still be incomplete).
    pub terminated: bool,
    /// The line's full length when it was longer than the limit.
    pub overlong: Option<u64>,
}

/// Reads numbered lines from a (decompressed) byte stream, with a bounded line buffer.
pub struct LineReader {
    inner: Box<dyn BufRead + Send>,
    buf: Vec<u8>,
    max_line_bytes: usize,
    next_number: u64,
    offset: u64,
    /// Compressed or plain bytes are not known here; this counts decompressed bytes read.
    bytes_read: u64,
    compressed: bool,
}

impl LineReader {
    fn new(inner: Box<dyn BufRead + Send>, max_line_bytes: usize) -> Self {
        LineReader {
            inner,
            buf: Vec::with_capacity(8 * 1024),
            max_line_bytes,
            next_number: 1,
            offset: 0,
            bytes_read: 0,
            compressed: false,
        }
    }

    /// Numbers lines from `first_line` and offsets from `offset` (a continued segment).
    pub fn starting_at(mut self, first_line: u64, offset: u64) -> Self {
        self.next_number = first_line.max(1);
        self.offset = offset;
        self
    }

    fn compressed(mut self, compressed: bool) -> Self {
        self.compressed = compressed;
        self
    }

    /// Whether the log is gzip-compressed (its byte offsets are then not offsets in the file).
    pub fn is_compressed(&self) -> bool {
        self.compressed
    }

    /// Decompressed bytes read so far.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// The next line, or `None` at the end of the log. An I/O or decompression error (a damaged
    /// gzip) is returned as is; the lines before it have been delivered.
    pub fn next_line(&mut self) -> io::Result<Option<RawLine<'_>>> {
        self.buf.clear();
        let mut total: u64 = 0;
        let mut saw_newline = false;
        loop {
            let available = match self.inner.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                break;
            }
            let (chunk, consumed, done) = match memchr::memchr(b'\n', available) {
                Some(i) => (&available[..i], i + 1, true),
                None => (available, available.len(), false),
            };
            let room = self.max_line_bytes.saturating_sub(self.buf.len());
            self.buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
            total += chunk.len() as u64;
            self.inner.consume(consumed);
            self.bytes_read += consumed as u64;
            if done {
                saw_newline = true;
                break;
            }
        }
        if total == 0 && !saw_newline {
            return Ok(None);
        }
        let number = self.next_number;
        let offset = self.offset;
        self.next_number += 1;
        self.offset += total + u64::from(saw_newline);
        if self.buf.last() == Some(&b'\r') {
            self.buf.pop();
        }
        let overlong = (total > self.max_line_bytes as u64).then_some(total);
        Ok(Some(RawLine {
            number,
            offset,
            bytes: &self.buf,
            terminated: saw_newline,
            overlong,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn reader(data: &[u8], max: usize) -> LineReader {
        LineReader::new(Box::new(Cursor::new(data.to_vec())), max)
    }

    #[test]
    fn numbers_and_offsets_lines() {
        let mut r = reader(b"ab\n\ncd\r\nlast", 100);
        let mut seen = Vec::new();
        while let Some(l) = r.next_line().unwrap() {
            seen.push((l.number, l.offset, l.bytes.to_vec()));
        }
        assert_eq!(
            seen,
            vec![
                (1, 0, b"ab".to_vec()),
                (2, 3, b"".to_vec()),
                (3, 4, b"cd".to_vec()),
                (4, 8, b"last".to_vec()),
            ]
        );
    }

    #[test]
    fn overlong_lines_are_cut_but_measured() {
        let mut data = vec![b'x'; 1000];
        data.extend_from_slice(b"\nok\n");
        let mut r = reader(&data, 10);
        let l = r.next_line().unwrap().unwrap();
        assert_eq!(l.bytes.len(), 10);
        assert_eq!(l.overlong, Some(1000));
        let l = r.next_line().unwrap().unwrap();
        assert_eq!(l.bytes, b"ok");
        assert_eq!(l.offset, 1001);
        assert!(r.next_line().unwrap().is_none());
    }

    #[test]
    fn multi_member_gzip_reads_every_member() {
        use flate2::{Compression, write::GzEncoder};
        use std::io::Write;
        let mut all = Vec::new();
        for part in [&b"one\ntwo\n"[..], b"three\n"] {
            let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
            enc.write_all(part).unwrap();
            all.extend(enc.finish().unwrap());
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("multi.gz");
        std::fs::write(&path, &all).unwrap();
        let log = &discover(&[path]).unwrap()[0];
        let mut r = log.open(1 << 20).unwrap();
        let mut lines = Vec::new();
        while let Some(l) = r.next_line().unwrap() {
            lines.push(String::from_utf8(l.bytes.to_vec()).unwrap());
        }
        assert_eq!(lines, ["one", "two", "three"]);
    }

    #[test]
    fn directories_are_walked_in_name_order() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["b.log", "a.log", ".hidden", "c/d.log"] {
            let p = dir.path().join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "x\n").unwrap();
        }
        let logs = discover(&[dir.path().to_path_buf()]).unwrap();
        let names: Vec<_> = logs
            .iter()
            .map(|l| {
                Path::new(&l.display_name)
                    .strip_prefix(dir.path())
                    .unwrap()
                    .display()
                    .to_string()
            })
            .collect();
        assert_eq!(names, ["a.log", "b.log", "c/d.log"]);
    }
}
