//! The command line's arguments (clap), what they map to in the library, and the log output
//! that `-v` and `MOOCDB_LOG` select.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use moocdb_loader::generate::{GeneratorOptions, LogEra};
use moocdb_loader::load::{LoadOptions, MethodChoice};
use moocdb_loader::progress::ProgressMode;
use moocdb_loader::sink::Target;

const EXAMPLES: &str = "\
Examples:
  moocdb load --database-url mysql://user:pass@localhost/course_db logs/*.gz
  DATABASE_URL=mysql://user:pass@localhost/course_db moocdb load logs/
  moocdb load --dry-run --json tracking.log          # parse and count, no database
  zcat old.log.gz | moocdb load -                     # read standard input
  moocdb status --database-url mysql://user:pass@localhost/course_db";

#[derive(Parser)]
#[command(name = "moocdb", version, about = "Load edX / Open edX tracking logs into a MySQL course database (json_to_relation + MOOCdb tables)", after_help = EXAMPLES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// More log output (-v: debug, -vv: trace).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
}

#[derive(Subcommand)]
pub enum Command {
    /// Load tracking logs (files, directories, `-` for stdin; plain or gzip).
    #[command(after_help = EXAMPLES)]
    Load(LoadArgs),
    /// Create the databases and tables (load does this too).
    Migrate(DbArgs),
    /// Show the files loaded, rows per table and rejects.
    Status(StatusArgs),
    /// Write a deterministic synthetic tracking log (for benchmarks and load tests).
    Generate(GenerateArgs),
}

#[derive(Args)]
pub struct GenerateArgs {
    /// Number of events (lines).
    #[arg(long, default_value_t = 100_000)]
    pub events: u64,
    /// Number of distinct users.
    #[arg(long, default_value_t = 2_000)]
    pub users: u32,
    /// Number of courses (odd ones use course-v1 keys and context).
    #[arg(long, default_value_t = 2)]
    pub courses: u32,
    /// Number of days the events spread over.
    #[arg(long, default_value_t = 30)]
    pub days: u32,
    /// Seed: the same seed gives the same bytes.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output file; `.gz` is gzip-compressed; `-` for stdout. With `--files`, a folder.
    #[arg(long, short, default_value = "-")]
    pub output: PathBuf,
    /// Write the log as this many rotated files in the folder `--output`, named and compressed
    /// as Open edX's logrotate leaves them (`tracking.log-<YYYYMMDD>-<epoch>.gz`).
    #[arg(long)]
    pub files: Option<u32>,
    /// Which LMS the learners use: `courseware`, the LMS's own pages as until about 2021 (half
    /// the courses with 2013 keys), or `learning-mfe`, the Learning MFE and `course-v1` keys as
    /// since then.
    #[arg(long, value_enum, default_value_t = Era::Courseware)]
    pub era: Era,
}

/// `--era` of `generate`.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Era {
    Courseware,
    LearningMfe,
}

#[derive(Args)]
pub struct DbArgs {
    /// mysql://user:password@host:port/database (or env DATABASE_URL).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Database for the private tables (Account, EventIp); default `<database>_private`.
    #[arg(long)]
    pub private_database: Option<String>,
    /// Do not create or write the private database.
    #[arg(long)]
    pub no_pii: bool,
    /// With {course} in the URL's host: which server holds which course databases, one
    /// `PATTERN HOST[:PORT]` per line (`MITx_* db2.example.org:3306`), the first match winning;
    /// a course no line matches goes to the URL's host with its course as a name label.
    #[arg(long, value_name = "FILE")]
    pub course_hosts: Option<PathBuf>,
}

#[derive(Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct LoadArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// Keep only this course's events (course-v1:Org+Course+Run or Org/Course/Run).
    #[arg(long)]
    pub course_id: Option<String>,
    /// Scheme and host for relative URLs (qpipe's DOMAIN), e.g. https://courses.edx.org;
    /// learned from the log's own URLs when absent.
    #[arg(long)]
    pub domain: Option<String>,
    /// How rows reach the server: LOAD DATA LOCAL INFILE, multi-row INSERT, or infile with a
    /// fallback to insert when the server refuses it.
    #[arg(long, value_enum, default_value = "auto")]
    pub method: MethodChoice,
    /// Read, parse and transform everything, but touch no database.
    #[arg(long)]
    pub dry_run: bool,
    /// Print one JSON object with the counts on stdout at the end.
    #[arg(long)]
    pub json: bool,
    /// Fail (exit non-zero) when a file has a larger share of rejected lines.
    #[arg(long, default_value_t = 0.5)]
    pub max_bad_ratio: f64,
    /// Gaps between a user's events longer than this (seconds) get --default-duration.
    #[arg(long, default_value_t = 3600)]
    pub max_duration: i64,
    /// Duration (seconds) given to an event followed by a gap over --max-duration.
    #[arg(long, default_value_t = 100)]
    pub default_duration: i64,
    /// Target size of one batch of rows, in MiB.
    #[arg(long, default_value_t = 2)]
    pub batch_mib: usize,
    /// Commit consecutive files together until they hold this many MiB (as stored): a site's
    /// small rotated files load as fast as one file. 0 commits each file on its own.
    #[arg(long, default_value_t = 256)]
    pub commit_group_mib: u64,
    /// Statements sent to the server at once.
    #[arg(long, default_value_t = 4)]
    pub writers: usize,
    /// A MaxMind-format (.mmdb) country database for ip_country, e.g. GeoLite2-Country.mmdb
    /// (default: the embedded table of the Regional Internet Registries' delegations).
    #[arg(long, value_name = "FILE")]
    pub geoip: Option<PathBuf>,
    /// Replace the rows of FILE when its content changed since it was loaded (repeatable);
    /// without it a changed file is reported and left alone.
    #[arg(long, value_name = "FILE")]
    pub reload: Vec<PathBuf>,
    /// Only warnings and errors: no progress, no summary, no informational messages (the
    /// --json object is still printed; -v or MOOCDB_LOG still choose more log output).
    #[arg(short, long)]
    pub quiet: bool,
    /// Tracking logs: files, directories (walked in name order) or `-` for stdin.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
}

impl GenerateArgs {
    /// The generator's options: everything but the output.
    pub fn options(&self) -> GeneratorOptions {
        GeneratorOptions {
            events: self.events,
            users: self.users,
            courses: self.courses,
            days: self.days,
            seed: self.seed,
            era: match self.era {
                Era::Courseware => LogEra::Courseware,
                Era::LearningMfe => LogEra::LearningMfe,
            },
        }
    }
}

impl DbArgs {
    /// The database URL these arguments name.
    pub fn url(&self) -> anyhow::Result<&str> {
        self.database_url
            .as_deref()
            .context("no database URL: give --database-url or set DATABASE_URL")
    }

    /// The course database (and its private one) these arguments name.
    pub fn target(&self) -> anyhow::Result<Target> {
        Ok(Target::parse(
            self.url()?,
            self.private_database.as_deref(),
        )?)
    }
}

impl LoadArgs {
    /// No progress output with `--quiet`, nor with `--json`.
    pub fn progress_mode(&self) -> ProgressMode {
        if self.quiet || self.json {
            ProgressMode::Quiet
        } else {
            ProgressMode::Auto
        }
    }

    /// The library's options for this load.
    pub fn into_options(self) -> LoadOptions {
        LoadOptions {
            paths: self.paths,
            database_url: self.db.database_url,
            private_database: self.db.private_database,
            no_pii: self.db.no_pii,
            course_hosts: self.db.course_hosts,
            course_id: self.course_id,
            domain: self.domain,
            method: self.method,
            dry_run: self.dry_run,
            max_bad_ratio: self.max_bad_ratio,
            max_duration: self.max_duration,
            default_duration: self.default_duration,
            batch_bytes: self.batch_mib.max(1) << 20,
            commit_group_bytes: self.commit_group_mib << 20,
            writers: self.writers.max(1),
            geoip: self.geoip,
            reload: self.reload,
            ..LoadOptions::default()
        }
    }
}

/// Sends log output to standard error: what `MOOCDB_LOG` asks for (a `tracing` filter) when it
/// is set and valid, else info (warnings only when `quiet`), debug (`-v`) or trace (`-vv`) from
/// the loader, and warnings from the crates it uses.
pub fn init_logging(verbose: u8, quiet: bool) {
    let filter = match verbose {
        0 if quiet => "warn",
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("MOOCDB_LOG").unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new(format!(
                    "moocdb_loader={filter},moocdb={filter},warn"
                ))
            }),
        )
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}
