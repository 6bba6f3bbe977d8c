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

/// The course database an event goes to (`load::event_course`) and the course the MOOCdb stage
/// resolves its ids against (`course_key::course_of` of the same sources) are one course for
/// every event of the corpus and of the conformance inputs: the same key, spelled for each use
/// (a CCX is its master course's database, and a run of its own in the resource tree).
#[test]
fn the_split_and_the_moocdb_stage_find_the_same_course_for_every_event() {
    use moocdb_loader::load::event_course;
    use moocdb_loader::moocdb::course_key::{course_of, course_sources};
    use moocdb_loader::parse::TrackingEvent;

    let Some(shared) =
        shared("the_split_and_the_moocdb_stage_find_the_same_course_for_every_event")
    else {
        return;
    };
    let mut files = vec![shared.join("conformance/set1_unit_test_events/input.json")];
    let mut folders = vec![shared.join("corpus")];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
            } else if !path.extension().is_some_and(|e| e == "md" || e == "txt") {
                files.push(path);
            }
        }
    }
    let set2 = shared.join("conformance/set2_tracking_log_20130609/input.log.gz");
    let mut set2_text = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(std::fs::File::open(set2).unwrap()),
        &mut set2_text,
    )
    .unwrap();
    let mut texts: Vec<(String, String)> = files
        .iter()
        .map(|f| {
            let text = String::from_utf8_lossy(&std::fs::read(f).unwrap()).into_owned();
            (f.display().to_string(), text)
        })
        .collect();
    texts.push(("set2 input.log.gz".to_string(), set2_text));
    let (mut events, mut with_course, mut differ) = (0, 0, Vec::new());
    for (file, text) in &texts {
        for line in text.lines() {
            let Ok(event) = TrackingEvent::parse(line) else {
                continue;
            };
            events += 1;
            let database = event_course(&event);
            let context = event.context_str("course_id");
            let stage = course_sources(context.as_deref(), event.page(), event.event_type())
                .into_iter()
                .find_map(course_of);
            // A CCX's run in the resource tree, `Run.ccxN`, is its master's run in the split.
            let stage_master = stage.as_deref().map(|c| match c.rsplit_once(".ccx") {
                Some((master, n)) if n.bytes().all(|b| b.is_ascii_digit()) => master.to_string(),
                _ => c.to_string(),
            });
            with_course += usize::from(database.is_some());
            if database != stage_master {
                differ.push(format!(
                    "{file}: split {database:?}, MOOCdb {stage:?}: page {:?}, type {:?}",
                    event.page(),
                    event.event_type()
                ));
            }
        }
    }
    println!("{events} events, {with_course} in a course");
    assert!(
        events > 8_000 && with_course > 2_000,
        "{events} {with_course}"
    );
    assert!(differ.is_empty(), "{}", differ.join("\n"));
}
