//! The MOOCdb stage run without a database for the unit tests of each table family: tracking-log
//! events in (each a line of JSON, parsed, then through the relations stage as a load takes
//! them), the rows of the family's tables out.

use std::collections::BTreeMap;

use crate::identity::LineIdentity;
use crate::parse::TrackingEvent;
use crate::relations::{GeoIp, RelationBuilder};
use crate::sink::Encoding;
use crate::sink::in_memory::{self, TableRows};

use super::{KnownEntries, MoocdbBuilder, MoocdbOptions};

/// The rows of `tables` (by name) that one file of `events` gives, each a line of JSON, as a
/// first load with the loader's default durations writes them: each row as column → value.
pub(super) fn moocdb_rows(events: &[serde_json::Value], tables: &[&str]) -> TableRows {
    let (mut rows, batches) = in_memory::collecting(Encoding::Tsv);
    let mut relations = RelationBuilder::new("load".into(), GeoIp::Embedded, Vec::new());
    let options = MoocdbOptions {
        domain: None,
        max_duration: 3600,
        default_duration: 100,
    };
    let mut moocdb = MoocdbBuilder::new(options, KnownEntries::default(), Vec::new(), None);
    for line in events.iter().map(serde_json::Value::to_string) {
        let line = line.as_str();
        let event = TrackingEvent::parse(line).expect("test line parses");
        let identity = LineIdentity::new(line.as_bytes(), &event.time);
        let outcome = relations.add_event(&mut rows, &event, &identity).unwrap();
        // As a load: events without an `EdxTrackEvent` row are not MOOCdb's.
        if outcome.track_event_rows > 0 {
            moocdb.add_event(&mut rows, &event, &outcome).unwrap();
        }
    }
    moocdb.end_of_file(&mut rows).unwrap();
    moocdb.end_of_commit(&mut rows).unwrap();
    rows.flush_all().unwrap();
    let mut out = in_memory::tsv_rows(&batches.lock().unwrap());
    out.retain(|table, _| tables.contains(table));
    out
}

/// A tracking-log event of `user` at `time` (`2013-06-12T09:19:41` form), as edX logs it: a
/// browser event's `event` is a JSON text, a server event's an object.
pub(super) fn tracking_event(
    user: &str,
    time: &str,
    event_type: &str,
    source: &str,
    page: &str,
    event: serde_json::Value,
) -> serde_json::Value {
    serde_json::json!({
        "username": user,
        "event_source": source,
        "event_type": event_type,
        "time": format!("{time}.000000+00:00"),
        "ip": "8.8.8.8",
        "agent": "Mozilla/5.0 (Windows NT 6.1; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/27.0.1453.110 Safari/537.36",
        "page": page,
        "session": "s1",
        "event": event,
    })
}

/// The rows of `table` whose `column` holds `value`.
pub(super) fn rows_where<'t>(
    t: &'t TableRows,
    table: &str,
    column: &str,
    value: &str,
) -> Vec<&'t BTreeMap<&'static str, String>> {
    let rows = t.get(table).map(Vec::as_slice).unwrap_or_default();
    rows.iter().filter(|r| r[column] == value).collect()
}

/// The one row of `table` whose `column` holds `value`.
pub(super) fn row_where<'t>(
    t: &'t TableRows,
    table: &str,
    column: &str,
    value: &str,
) -> &'t BTreeMap<&'static str, String> {
    match rows_where(t, table, column, value)[..] {
        [row] => row,
        ref rows => panic!("{table} with {column} = {value}: {rows:?}"),
    }
}
