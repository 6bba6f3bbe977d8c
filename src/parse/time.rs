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

/// The usual `time` text, `YYYY-MM-DDTHH:MM:SS[.f]` in UTC (no offset, `Z` or `+00:00`), read
/// without chrono's general parsers: every event has one. `None` for anything else, which
/// [`parse_time`] reads as before.
pub fn parse_utc_time_fast(s: &str) -> Option<NaiveDateTime> {
    let b = s.as_bytes();
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let number = |digits: &[u8]| {
        digits.iter().try_fold(0u32, |n, &d| {
            d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
        })
    };
    let date = chrono::NaiveDate::from_ymd_opt(
        number(&b[0..4])? as i32,
        number(&b[5..7])?,
        number(&b[8..10])?,
    )?;
    let mut rest = &b[19..];
    let mut nanos = 0;
    if let [b'.', fraction @ ..] = rest {
        let digits = fraction.iter().take_while(|d| d.is_ascii_digit()).count();
        if digits == 0 || digits > 9 {
            return None;
        }
        nanos = number(&fraction[..digits])? * 10u32.pow(9 - digits as u32);
        rest = &fraction[digits..];
    }
    if !matches!(rest, b"" | b"Z" | b"+00:00") {
        return None;
    }
    let time = chrono::NaiveTime::from_hms_nano_opt(
        number(&b[11..13])?,
        number(&b[14..16])?,
        number(&b[17..19])?,
        nanos,
    )?;
    Some(NaiveDateTime::new(date, time))
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
    fn the_fast_path_reads_what_the_general_parsers_read_or_leaves_it_to_them() {
        for s in [
            "2013-08-04T06:27:13.660689+00:00",
            "2013-06-09T06:28:13.626165",
            "2013-06-09T20:47:37+00:00",
            "2015-04-14T19:31:01.123Z",
            "2026-01-05T00:01:26.745000+00:00",
            "2026-01-05T00:01:26.1",
            "2026-01-05T00:01:26.123456789Z",
            "2024-02-29T23:59:59.999999Z",
        ] {
            let general = parse_time_str(s).unwrap();
            assert_eq!(parse_utc_time_fast(s), Some(general), "{s}");
        }
        for s in [
            "2026-03-02T11:00:00.5-05:00",
            "2013-06-09 06:28:13",
            " 2013-06-09T06:28:13",
            "2013-06-09T06:28:13 ",
            "2013-06-09T06:28:13.",
            "2013-06-09T06:28:13.1234567891",
            "2013-06-09T06:28:60",
            "2023-02-29T06:28:13",
            "2013-13-09T06:28:13",
            "2013-06-09T24:00:00",
            "2013-06-09T06:28:13+0000",
            "2013-06-09T06:28:13-00:00",
            "+013-06-09T06:28:13",
            "2013-06-0xT06:28:13",
            "2013-06-09",
        ] {
            assert_eq!(parse_utc_time_fast(s), None, "{s}");
        }
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
