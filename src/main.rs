//! The `moocdb` command line: parses arguments and calls the library.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use std::io::Write;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use moocdb_loader::load::{LoadOptions, MethodChoice};
use moocdb_loader::progress::{Progress, ProgressMode};
use moocdb_loader::sink::database::Target;

const EXAMPLES: &str = "\
Examples:
  moocdb load --database-url mysql://user:pass@localhost/course_db logs/*.gz
  DATABASE_URL=mysql://user:pass@localhost/course_db moocdb load logs/
  moocdb load --dry-run --json tracking.log          # parse and count, no database
  zcat old.log.gz | moocdb load -                     # read standard input
  moocdb status --database-url mysql://user:pass@localhost/course_db";

#[derive(Parser)]
#[command(name = "moocdb", version, about = "Load edX / Open edX tracking logs into a MySQL course database (json_to_relation + MOOCdb tables)", after_help = EXAMPLES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// More log output (-v: debug, -vv: trace).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
}

#[derive(Subcommand)]
enum Command {
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
struct GenerateArgs {
    /// Number of events (lines).
    #[arg(long, default_value_t = 100_000)]
    events: u64,
    /// Number of distinct users.
    #[arg(long, default_value_t = 2_000)]
    users: u32,
    /// Number of courses (odd ones use course-v1 keys and context).
    #[arg(long, default_value_t = 2)]
    courses: u32,
    /// Number of days the events spread over.
    #[arg(long, default_value_t = 30)]
    days: u32,
    /// Seed: the same seed gives the same bytes.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Output file; `.gz` is gzip-compressed; `-` for stdout.
    #[arg(long, short, default_value = "-")]
    output: PathBuf,
}

#[derive(Args)]
struct DbArgs {
    /// mysql://user:password@host:port/database (or env DATABASE_URL).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// Database for the private tables (Account, EventIp); default `<database>_private`.
    #[arg(long)]
    private_database: Option<String>,
    /// Do not create or write the private database.
    #[arg(long)]
    no_pii: bool,
}

#[derive(Args)]
struct StatusArgs {
    #[command(flatten)]
    db: DbArgs,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct LoadArgs {
    #[command(flatten)]
    db: DbArgs,
    /// Keep only this course's events (course-v1:Org+Course+Run or Org/Course/Run).
    #[arg(long)]
    course_id: Option<String>,
    /// Scheme and host for relative URLs (qpipe's DOMAIN), e.g. https://courses.edx.org;
    /// learned from the log's own URLs when absent.
    #[arg(long)]
    domain: Option<String>,
    /// How rows reach the server: LOAD DATA LOCAL INFILE, multi-row INSERT, or infile with a
    /// fallback to insert when the server refuses it.
    #[arg(long, value_enum, default_value = "auto")]
    method: MethodChoice,
    /// Read, parse and transform everything, but touch no database.
    #[arg(long)]
    dry_run: bool,
    /// Print one JSON object with the counts on stdout at the end.
    #[arg(long)]
    json: bool,
    /// Fail (exit non-zero) when a file has a larger share of rejected lines.
    #[arg(long, default_value_t = 0.5)]
    max_bad_ratio: f64,
    /// Gaps between a user's events longer than this (seconds) get --default-duration.
    #[arg(long, default_value_t = 3600)]
    max_duration: i64,
    /// Duration (seconds) given to an event followed by a gap over --max-duration.
    #[arg(long, default_value_t = 100)]
    default_duration: i64,
    /// Target size of one batch of rows, in MiB.
    #[arg(long, default_value_t = 2)]
    batch_mib: usize,
    /// Statements sent to the server at once.
    #[arg(long, default_value_t = 4)]
    writers: usize,
    /// A MaxMind-format (.mmdb) country database for ip_country, e.g. GeoLite2-Country.mmdb
    /// (default: the embedded table of the Regional Internet Registries' delegations).
    #[arg(long, value_name = "FILE")]
    geoip: Option<PathBuf>,
    /// Replace the rows of FILE when its content changed since it was loaded (repeatable);
    /// without it a changed file is reported and left alone.
    #[arg(long, value_name = "FILE")]
    reload: Vec<PathBuf>,
    /// No progress output.
    #[arg(short, long)]
    quiet: bool,
    /// Tracking logs: files, directories (walked in name order) or `-` for stdin.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
}

fn main() -> ExitCode {
    without_transparent_huge_pages();
    let cli = Cli::parse();
    let filter = match cli.verbose {
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
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(run(cli.command)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Load(args) => load(args).await,
        Command::Migrate(db) => {
            let target = target(&db)?;
            let pool = target.prepare(!db.no_pii, 1).await?;
            pool.close().await;
            eprintln!("database {} is up to date", target.redacted());
            Ok(ExitCode::SUCCESS)
        }
        Command::Generate(args) => {
            let options = moocdb_loader::generate::GeneratorOptions {
                events: args.events,
                users: args.users,
                courses: args.courses,
                days: args.days,
                seed: args.seed,
            };
            let mut out: Box<dyn std::io::Write> = if args.output.as_os_str() == "-" {
                Box::new(std::io::BufWriter::new(std::io::stdout().lock()))
            } else {
                let file = std::fs::File::create(&args.output)
                    .with_context(|| format!("cannot create {}", args.output.display()))?;
                let file = std::io::BufWriter::with_capacity(1 << 20, file);
                if args.output.extension().is_some_and(|e| e == "gz") {
                    Box::new(flate2::write::GzEncoder::new(
                        file,
                        flate2::Compression::fast(),
                    ))
                } else {
                    Box::new(file)
                }
            };
            moocdb_loader::generate::generate(&options, &mut out)
                .with_context(|| format!("writing {}", args.output.display()))?;
            out.flush()?;
            drop(out);
            Ok(ExitCode::SUCCESS)
        }
        Command::Status(args) => {
            let target = target(&args.db)?;
            let pool = target.prepare(!args.db.no_pii, 1).await?;
            let status = moocdb_loader::status::read(&pool, &target.database).await?;
            pool.close().await;
            if args.json {
                println!("{}", serde_json::to_string(&status)?);
            } else {
                print!("{}", moocdb_loader::report::status(&status));
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn target(db: &DbArgs) -> anyhow::Result<Target> {
    let url = db
        .database_url
        .as_deref()
        .context("no database URL: give --database-url or set DATABASE_URL")?;
    Ok(Target::parse(url, db.private_database.as_deref())?)
}

async fn load(args: LoadArgs) -> anyhow::Result<ExitCode> {
    let options = LoadOptions {
        paths: args.paths,
        database_url: args.db.database_url,
        private_database: args.db.private_database,
        no_pii: args.db.no_pii,
        course_id: args.course_id,
        domain: args.domain,
        method: args.method,
        dry_run: args.dry_run,
        max_bad_ratio: args.max_bad_ratio,
        max_duration: args.max_duration,
        default_duration: args.default_duration,
        batch_bytes: args.batch_mib.max(1) << 20,
        writers: args.writers.max(1),
        geoip: args.geoip,
        reload: args.reload,
        ..LoadOptions::default()
    };
    let progress = Progress::new(if args.quiet || args.json {
        ProgressMode::Quiet
    } else {
        ProgressMode::Auto
    });
    let stop = Arc::new(AtomicBool::new(false));
    let stop_on_signal = stop.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!(
                "\ninterrupted: finishing the current batch, then stopping (files not finished stay unrecorded)"
            );
            stop_on_signal.store(true, Ordering::Relaxed);
        }
    });
    let summary = moocdb_loader::run(options, progress, stop).await?;
    for advice in &summary.advice {
        tracing::info!("server tuning: {advice}");
    }
    if args.json {
        eprint!("{}", moocdb_loader::report::load_summary(&summary));
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        print!("{}", moocdb_loader::report::load_summary(&summary));
    }
    Ok(ExitCode::SUCCESS)
}

// The transform allocates and frees many small strings per event; mimalloc does that in a
// fraction of glibc's time (see BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Turns transparent huge pages off for this process. mimalloc asks for them on its arenas
/// (`MADV_HUGEPAGE`), so every first touch of a 2 MiB region, and every touch after it hands
/// memory back, makes the kernel zero 2 MiB: a 100k-event dry run zeroed gigabytes for a
/// 130 MB peak and spent 20% of its time in `clear_page`. With 4 KiB pages the same run's peak
/// RSS is 38% lower and its system time a sixth (BENCHMARKS.md). Process-wide, so it is set here
/// and not in the library.
fn without_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE takes plain integers and only sets a flag of this process.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}
