//! The `moocdb` command line: parses arguments and calls the library.

mod cli;
mod memory;

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::Parser;
use cli::{Cli, Command, LoadArgs};
use moocdb_loader::load::StatusReport;
use moocdb_loader::progress::Progress;

fn main() -> ExitCode {
    memory::without_transparent_huge_pages();
    let cli = Cli::parse();
    let quiet = matches!(&cli.command, Command::Load(args) if args.quiet);
    cli::init_logging(cli.verbose, quiet);
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
            let target = db.target()?;
            anyhow::ensure!(
                !target.database.contains("{course}"),
                "migrate prepares one database, and {} names one per course: a load with it \
                 creates and migrates each course database when it first sees the course",
                target.redacted()
            );
            let pool = moocdb_loader::store::prepare(&target, !db.no_pii, 1).await?;
            pool.close().await;
            eprintln!("database {} is up to date", target.redacted());
            Ok(ExitCode::SUCCESS)
        }
        Command::Generate(args) => {
            match args.files {
                Some(files) => {
                    moocdb_loader::generate::write_rotated_logs(
                        &args.options(),
                        &args.output,
                        files,
                    )?;
                }
                None => moocdb_loader::generate::write_log(&args.options(), &args.output)?,
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Status(args) => {
            let (url, private) = (args.db.url()?, args.db.private_database.as_deref());
            let report = moocdb_loader::load::status(
                url,
                private,
                args.db.no_pii,
                args.db.course_hosts.as_deref(),
            )
            .await?;
            match (args.json, report) {
                (true, StatusReport::One(status)) => {
                    println!("{}", serde_json::to_string(&status)?)
                }
                (true, StatusReport::Split(statuses)) => {
                    let databases = serde_json::json!({ "databases": statuses });
                    println!("{databases}");
                }
                (false, StatusReport::One(status)) => {
                    print!("{}", moocdb_loader::report::status(&status));
                }
                (false, StatusReport::Split(statuses)) => {
                    if statuses.is_empty() {
                        println!("No course database of this URL is on the server yet.");
                    }
                    for status in &statuses {
                        print!("{}", moocdb_loader::report::status(status));
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn load(args: LoadArgs) -> anyhow::Result<ExitCode> {
    let (json, quiet) = (args.json, args.quiet);
    let progress = Progress::new(args.progress_mode());
    let options = args.into_options();
    if options.splits() {
        memory::split_loads_allocate_from_system();
    }
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
    // The summary goes to stdout, or to stderr when stdout carries the JSON object; --quiet
    // leaves it out.
    if !quiet {
        let text = moocdb_loader::report::load_summary(&summary);
        if json {
            eprint!("{text}");
        } else {
            print!("{text}");
        }
    }
    if json {
        println!("{}", serde_json::to_string(&summary)?);
    }
    Ok(ExitCode::SUCCESS)
}
