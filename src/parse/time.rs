//! Event time in every format seen in real logs, normalised to UTC (DESIGN.md decision 5).

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use serde_json::Value;

/// Parses a tracking-log `time` value to a naive UTC timestamp.
///
/// Accepted: ISO 8601 with `T` or a space, with or without fractional seconds (up to nanoseconds),
/// naive (taken as UTC, which the edX docs say it is), `Z`, `±hh:mm` or `±hhmm` offsets (converted),
/// and MongoDB exports' `{"$date": <ms since epoch>}` or `{"$date": "<iso>"}`.
pub fn parse_time(value: &Value) -> Result<NaiveDateTime, String> {
    match value {
        Value::String(s) => parse_time_str(s),
        Value::Object(map) => match map.get("$date") {
            Some(Value::Number(n)) => n
                .as_i64()
                .or_else(|| n.as_f64().map(|f| f as i64))
                .and_then(|ms| Utc.timestamp_millis_opt(ms).single())
                .map(|t| t.naive_utc())
                .ok_or_else(|| format!("unusable $date value {n}")),
            Some(Value::String(s)) => parse_time_str(s),
            _ => Err("time object without a $date member".into()),
        },
        Value::Null => Err("time is null".into()),
        other => Err(format!("time is not a string but {}", json_kind(other))),
    }
}

fn parse_time_str(raw: &str) -> Result<NaiveDateTime, String> {
    let s = raw.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc).naive_utc());
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f%z"] {
        if let Ok(t) = DateTime::parse_from_str(s, fmt) {
            return Ok(t.with_timezone(&Utc).naive_utc());
        }
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Ok(t);
        }
    }
    let shown: String = s.chars().take(60).collect();
    Err(format!("unparseable time {shown:?}"))
}

/// A short name for a JSON value's kind, for error messages.
pub fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// json_to_relation's `quarter` column: season and year of the event, December counting as the
/// winter of its own year (`2013-12-05` → `winter2013`), as the legacy code computes it.
pub fn quarter(t: &NaiveDateTime) -> String {
    use chrono::Datelike;
    let season = match t.month() {
        12 | 1 | 2 => "winter",
        3..=5 => "spring",
        6..=8 => "summer",
        _ => "fall",
    };
    // Once per event: built without `format!`.
    let mut q = String::with_capacity(season.len() + 4);
    q.push_str(season);
    q.push_str(itoa::Buffer::new().format(t.year()));
    q
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn t(v: Value) -> String {
        parse_time(&v)
            .unwrap()
            .format("%Y-%m-%d %H:%M:%S%.6f")
            .to_string()
    }

    #[test]
    fn every_format_seen_in_the_wild() {
        assert_eq!(
            t(json!("2013-08-04T06:27:13.660689+00:00")),
            "2013-08-04 06:27:13.660689"
        );
        assert_eq!(
            t(json!("2013-06-09T06:28:13.626165")),
            "2013-06-09 06:28:13.626165"
        );
        assert_eq!(
            t(json!("2013-06-09T20:47:37+00:00")),
            "2013-06-09 20:47:37.000000"
        );
        assert_eq!(
            t(json!("2015-04-14T19:31:01.123Z")),
            "2015-04-14 19:31:01.123000"
        );
        assert_eq!(
            t(json!("2026-03-02T11:00:00.5-05:00")),
            "2026-03-02 16:00:00.500000"
        );
        assert_eq!(
            t(json!("2026-03-02T11:00:00+0200")),
            "2026-03-02 09:00:00.000000"
        );
        assert_eq!(
            t(json!("2013-06-09 06:28:13")),
            "2013-06-09 06:28:13.000000"
        );
        assert_eq!(
            t(json!("2013-06-09 06:28:13.5+00:00")),
            "2013-06-09 06:28:13.500000"
        );
        assert_eq!(
            t(json!({"$date": 1356996514740i64})),
            "2012-12-31 23:28:34.740000"
        );
        assert_eq!(
            t(json!({"$date": "2013-05-08T22:47:09.762Z"})),
            "2013-05-08 22:47:09.762000"
        );
    }

    #[test]
    fn unparseable_times_are_errors() {
        for v in [
            json!("yesterday"),
            json!(""),
            json!(null),
            json!(12),
            json!({"x": 1}),
            json!("{{ start_date }}T10:00:00"),
        ] {
            assert!(parse_time(&v).is_err(), "{v}");
        }
    }

    #[test]
    fn quarters_follow_the_legacy_seasons() {
        let at = |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap();
        assert_eq!(quarter(&at("2013-12-05 00:00:00")), "winter2013");
        assert_eq!(quarter(&at("2014-01-05 00:00:00")), "winter2014");
        assert_eq!(quarter(&at("2014-03-01 00:00:00")), "spring2014");
        assert_eq!(quarter(&at("2014-08-31 00:00:00")), "summer2014");
        assert_eq!(quarter(&at("2014-11-30 00:00:00")), "fall2014");
    }
}
