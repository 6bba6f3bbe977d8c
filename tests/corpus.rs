//! Every file of `../shared/corpus` (real events from public projects) loads without a panic or
//! an error, and every line is accounted for: an event stored as `EdxTrackEvent` rows, an event
//! not stored for a counted reason, a duplicate, a skipped line, or a reject with its reason.

mod common;

use common::*;

#[tokio::test]
async fn corpus_loads_and_every_line_is_accounted_for() {
    let Some(shared) = shared("corpus_loads_and_every_line_is_accounted_for") else {
        return;
    };
    let mut folders: Vec<_> = std::fs::read_dir(shared.join("corpus"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    folders.sort();
    assert!(!folders.is_empty());
    for folder in folders {
        let name = folder
            .file_name()
            .unwrap()
            .to_string_lossy()
            .replace('-', "_");
        let (url, _) = fresh_database(&format!("corpus_{}", &name[..name.len().min(20)])).await;
        let mut o = options(&url, &[&folder]);
        o.max_bad_ratio = 1.0;
        let s = load(o).await;
        assert_eq!(s.lines, s.events + s.rejected + s.duplicates + s.skipped);
        let pool = pool(&url).await;
        let stored_events: i64 =
            sqlx::query_scalar("SELECT COUNT(DISTINCT event_id) FROM EdxTrackEvent")
                .fetch_one(&pool)
                .await
                .unwrap();
        let not_stored: u64 = s.events_not_stored.values().sum();
        assert_eq!(
            stored_events as u64 + not_stored,
            s.events,
            "{}: every event is stored or counted as not stored ({:?})",
            folder.display(),
            s.events_not_stored
        );
        let unreasoned: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM moocdb_loader_rejects WHERE reason = ''")
                .fetch_one(&pool)
                .await
                .unwrap();
        assert_eq!(unreasoned, 0);
        println!(
            "{}: {} files, {} lines, {} events ({} not stored: {:?}), {} rejected, {} duplicates, {} skipped",
            folder.file_name().unwrap().to_string_lossy(),
            s.files,
            s.lines,
            s.events,
            not_stored,
            s.events_not_stored,
            s.rejected,
            s.duplicates,
            s.skipped
        );
        let files: Vec<(String, i64, i64, i64, i64, i64, String)> = sqlx::query_as(
            "SELECT path, lines_read, events, rejected, duplicates, skipped, row_counts \
             FROM moocdb_loader_files ORDER BY path",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        for (path, lines, events, rejected, duplicates, skipped, rows) in files {
            let file = std::path::Path::new(&path)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            println!(
                "  {file:<70} lines {lines:>5} events {events:>5} rejected {rejected:>4} dup {duplicates:>4} skipped {skipped:>5} rows {rows}"
            );
        }
    }
}
