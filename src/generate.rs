//! A deterministic generator of realistic synthetic tracking logs, for benchmarks and load tests:
//! the same seed gives the same bytes.
//!
//! Users work through courses day by day in sessions of consecutive events with the event-type mix
//! of a real course: mostly page views (implicit courseware URLs), then video, sequence navigation,
//! problem checks (browser query strings and server events with answers and correct maps),
//! forum, enrollment and heartbeats; `i4x://` ids for old-style courses, `block-v1:` and `context`
//! for new ones. As in a real course, each problem and each video sits on one unit: a learner who
//! checks a problem or plays a video does it from that unit's page.
//!
//! [`LogEra::LearningMfe`] makes the log of a site since about 2021 instead: every course
//! `course-v1`, its units shown by the Learning MFE on a host of its own and rendered in the LMS's
//! frame (`/xblock/<unit>`, the page of the unit's browser events, and a server event without a
//! page when the LMS serves it), bare block ids in video and answer ids, and the MFE's sequence
//! navigation events.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::{Duration, NaiveDate, NaiveDateTime};
use flate2::{Compression, write::GzEncoder};

/// What to generate.
#[derive(Debug, Clone)]
pub struct GeneratorOptions {
    /// Number of events (lines).
    pub events: u64,
    /// Number of distinct users.
    pub users: u32,
    /// Number of courses.
    pub courses: u32,
    /// Number of days the events spread over.
    pub days: u32,
    /// Seed of the pseudo-random sequence.
    pub seed: u64,
    /// Which LMS the learners use, and so which pages and ids the log holds.
    pub era: LogEra,
}

/// The LMS a generated log comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogEra {
    /// The LMS's own courseware pages (`/courses/<course>/courseware/…`), as until about 2021;
    /// odd courses have `course-v1` keys and a `context`, even ones are 2013 `Org/Course/Run`.
    #[default]
    Courseware,
    /// The Learning MFE, as since about 2021: every course `course-v1`.
    LearningMfe,
}

impl Default for GeneratorOptions {
    fn default() -> Self {
        GeneratorOptions {
            events: 100_000,
            users: 2_000,
            courses: 2,
            days: 30,
            seed: 1,
            era: LogEra::Courseware,
        }
    }
}

// splitmix64: tiny, fast, and stable across versions (a crate's generator may change its stream).
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn hex32(&mut self) -> String {
        format!("{:016x}{:016x}", self.next(), self.next())
    }
}

struct Course {
    org: String,
    number: String,
    run: String,
    new_style: bool,
    /// Shown by the Learning MFE.
    mfe: bool,
    chapters: Vec<(String, Vec<String>)>,
    problems: Vec<String>,
    videos: Vec<(String, String)>,
}

impl Course {
    fn key(&self) -> String {
        if self.new_style {
            format!("course-v1:{}+{}+{}", self.org, self.number, self.run)
        } else {
            format!("{}/{}/{}", self.org, self.number, self.run)
        }
    }

    /// The usage key of block `id` of `category` (a `course-v1` course's).
    fn usage_key(&self, category: &str, id: &str) -> String {
        format!(
            "block-v1:{}+{}+{}+type@{category}+block@{id}",
            self.org, self.number, self.run
        )
    }

    fn problem_id(&self, p: &str) -> String {
        if self.new_style {
            format!(
                "block-v1:{}+{}+{}+type@problem+block@{p}",
                self.org, self.number, self.run
            )
        } else {
            format!("i4x://{}/{}/problem/{p}", self.org, self.number)
        }
    }
}

const AGENTS: [&str; 6] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 6.1; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/27.0.1453.110 Safari/537.36",
];

/// Why [`write_log`] failed.
#[derive(Debug, thiserror::Error)]
pub enum WriteLogError {
    /// The output file could not be created.
    #[error("cannot create {}", .path.display())]
    Create {
        /// The output path.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// Writing the lines failed.
    #[error("writing {}", .path.display())]
    Write {
        /// The output path (`-` for standard output).
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// Flushing the last buffered bytes failed; the message is the I/O error's alone.
    #[error(transparent)]
    Flush(io::Error),
}

/// Writes the log of `options` to `output`: standard output for `-`, a file otherwise, through a
/// 1 MiB buffer and gzip-compressed at the fastest level when its name ends in `.gz`.
pub fn write_log(options: &GeneratorOptions, output: &Path) -> Result<(), WriteLogError> {
    let mut out: Box<dyn Write> = if output.as_os_str() == "-" {
        Box::new(BufWriter::new(io::stdout().lock()))
    } else {
        let file = File::create(output).map_err(|source| WriteLogError::Create {
            path: output.to_path_buf(),
            source,
        })?;
        let file = BufWriter::with_capacity(1 << 20, file);
        if output.extension().is_some_and(|e| e == "gz") {
            Box::new(GzEncoder::new(file, Compression::fast()))
        } else {
            Box::new(file)
        }
    };
    generate(options, &mut out).map_err(|source| WriteLogError::Write {
        path: output.to_path_buf(),
        source,
    })?;
    out.flush().map_err(WriteLogError::Flush)
}

/// Writes the log of `options` as `files` rotated files in the folder `dir` (created if
/// missing), as Open edX's logrotate leaves them: gzip files named
/// `tracking.log-<YYYYMMDD>-<epoch seconds>.gz` by the moment of their rotation (the time of the
/// next file's first event; the last file's own last event), so that name order is time order.
/// The files hold the same lines as [`write_log`] writes in one, split into runs of equal
/// length.
pub fn write_rotated_logs(
    options: &GeneratorOptions,
    dir: &Path,
    files: u32,
) -> Result<Vec<PathBuf>, WriteLogError> {
    let files = u64::from(files.max(1));
    std::fs::create_dir_all(dir).map_err(|source| WriteLogError::Create {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut written = Vec::new();
    let mut current: Option<(PathBuf, GzEncoder<BufWriter<File>>)> = None;
    // The file in progress is written under a temporary name until its rotation time is known.
    let mut finish = |current: &mut Option<(PathBuf, GzEncoder<BufWriter<File>>)>,
                      rotated_at: &NaiveDateTime|
     -> Result<(), WriteLogError> {
        if let Some((partial, encoder)) = current.take() {
            let write = |source| WriteLogError::Write {
                path: partial.clone(),
                source,
            };
            let mut file = encoder.finish().map_err(write)?;
            file.flush().map_err(write)?;
            let name = format!(
                "tracking.log-{}-{}.gz",
                rotated_at.format("%Y%m%d"),
                rotated_at.and_utc().timestamp()
            );
            let path = dir.join(name);
            std::fs::rename(&partial, &path).map_err(write)?;
            written.push(path);
        }
        Ok(())
    };
    let per_file = options.events.div_ceil(files).max(1);
    let mut last_time = NaiveDateTime::default();
    let mut failure = None;
    generate_events(options, |n, time, line| {
        if n % per_file == 0 {
            finish(&mut current, time).map_err(|e| {
                let io = io::Error::other(e.to_string());
                failure = Some(e);
                io
            })?;
            let partial = dir.join(format!(".tracking.log.{n}.partial"));
            let file = File::create(&partial)?;
            let encoder =
                GzEncoder::new(BufWriter::with_capacity(1 << 20, file), Compression::fast());
            current = Some((partial, encoder));
        }
        last_time = *time;
        let (_, out) = current.as_mut().expect("a file is open");
        out.write_all(line)
    })
    .map_err(|source| {
        failure.take().unwrap_or_else(|| WriteLogError::Write {
            path: dir.to_path_buf(),
            source,
        })
    })?;
    finish(&mut current, &last_time)?;
    Ok(written)
}

/// Writes `options.events` lines of tracking log to `out`.
pub fn generate(options: &GeneratorOptions, out: &mut dyn Write) -> io::Result<()> {
    generate_events(options, |_, _, line| out.write_all(line))
}

/// Makes the log of `options`, handing each line (with its newline), its number and its time
/// to `emit`.
fn generate_events(
    options: &GeneratorOptions,
    mut emit: impl FnMut(u64, &NaiveDateTime, &[u8]) -> io::Result<()>,
) -> io::Result<()> {
    let mut rng = Random(options.seed);
    let courses: Vec<Course> = (0..options.courses.max(1))
        .map(|i| {
            let mfe = options.era == LogEra::LearningMfe;
            let new_style = mfe || i % 2 == 1;
            let chapters = (0..8)
                .map(|_| (rng.hex32(), (0..6).map(|_| rng.hex32()).collect()))
                .collect();
            Course {
                org: format!("SynthX{i}"),
                number: format!("CS{}", 101 + i),
                run: if new_style {
                    "2026_T1".into()
                } else {
                    "2013_Spring".into()
                },
                new_style,
                mfe,
                chapters,
                problems: (0..40).map(|_| rng.hex32()).collect(),
                videos: (0..30)
                    .map(|_| (rng.hex32(), format!("v{:08x}", rng.next() as u32)))
                    .collect(),
            }
        })
        .collect();
    let users = options.users.max(1) as u64;
    let start = NaiveDate::from_ymd_opt(2026, 1, 5)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .unwrap_or_default();
    let span_ms = i64::from(options.days.max(1)) * 86_400_000;
    // Events are emitted in time order: each event advances the clock by the mean gap.
    let step = (span_ms as f64 / options.events.max(1) as f64).max(1.0);
    let mut clock = 0f64;
    let mut line = String::with_capacity(2048);
    // Per user: current course, chapter, section, position.
    let mut places: Vec<(usize, usize, usize, u32)> = vec![(0, 0, 0, 1); users as usize];
    for n in 0..options.events {
        clock += step * (0.5 + (rng.below(1000) as f64) / 1000.0);
        let time = start + Duration::milliseconds(clock as i64);
        let u = (rng.below(users) ^ (n / 50 % users)) % users;
        let place = &mut places[u as usize];
        if rng.below(20) == 0 {
            place.0 = rng.below(courses.len() as u64) as usize;
            place.1 = rng.below(8) as usize;
            place.2 = rng.below(6) as usize;
        }
        let course = &courses[place.0];
        line.clear();
        if course.mfe {
            write_mfe_event(&mut line, &mut rng, course, place, u, &time);
        } else {
            write_event(&mut line, &mut rng, course, place, u, &time);
        }
        line.push('\n');
        emit(n, &time, line.as_bytes())?;
    }
    Ok(())
}

/// Units per course: 8 chapters of 6 sequentials of 6 units.
const UNITS: usize = 8 * 6 * 6;

/// Moves a learner to `unit` (counted chapter by chapter) of their course.
fn go_to_unit(place: &mut (usize, usize, usize, u32), unit: usize) {
    place.1 = unit / 36 % 8;
    place.2 = unit / 6 % 6;
    place.3 = (unit % 6) as u32 + 1;
}

/// The page of the learner's current unit.
fn unit_page(course: &Course, place: &(usize, usize, usize, u32)) -> String {
    let (chapter, sections) = &course.chapters[place.1];
    format!(
        "https://courses.example.org/courses/{}/courseware/{chapter}/{}/{}/",
        course.key(),
        sections[place.2],
        place.3
    )
}

/// The video events a learner sends, equally often.
const VIDEO_EVENTS: [&str; 5] = [
    "play_video",
    "pause_video",
    "seek_video",
    "load_video",
    "speed_change_video",
];

/// What each event of a learner at a moment carries of the learner's browser: address, agent,
/// session (one per two hours) and the time as logged.
struct Client {
    ip: String,
    agent: &'static str,
    session: String,
    ts: String,
}

impl Client {
    fn of(user: u64, time: &NaiveDateTime) -> Client {
        Client {
            ip: format!("198.51.{}.{}", user / 250 % 250, user % 250 + 1),
            agent: AGENTS[(user % AGENTS.len() as u64) as usize],
            session: format!(
                "{:032x}",
                user.wrapping_mul(0x9E37_79B9) ^ (time.and_utc().timestamp() as u64 / 7200)
            ),
            ts: time.format("%Y-%m-%dT%H:%M:%S%.6f+00:00").to_string(),
        }
    }
}

fn write_event(
    line: &mut String,
    rng: &mut Random,
    course: &Course,
    place: &mut (usize, usize, usize, u32),
    user: u64,
    time: &NaiveDateTime,
) {
    use std::fmt::Write as _;
    let (chapter, sections) = &course.chapters[place.1];
    let section = &sections[place.2];
    let page = unit_page(course, place);
    let Client {
        ip,
        agent,
        session,
        ts,
    } = Client::of(user, time);
    let username = format!("learner{user:06}");
    let context = if course.new_style {
        format!(
            r#","context":{{"course_id":"{}","org_id":"{}","user_id":{user},"path":"/event"}}"#,
            course.key(),
            course.org
        )
    } else {
        String::new()
    };
    let roll = rng.below(100);
    let (event_type, source, event, page_field) = if roll < 45 {
        // Implicit page view of a courseware unit.
        let path = format!("/courses/{}/courseware/{chapter}/{section}/", course.key());
        place.3 = 1 + rng.below(6) as u32;
        (
            path,
            "server",
            r#""{\"POST\": {}, \"GET\": {}}""#.to_string(),
            "null".to_string(),
        )
    } else if roll < 70 {
        let v = rng.below(course.videos.len() as u64) as usize;
        let (id, code) = &course.videos[v];
        go_to_unit(place, (v * 9 + 4) % UNITS);
        let page = unit_page(course, place);
        let kind = VIDEO_EVENTS[rng.below(VIDEO_EVENTS.len() as u64) as usize];
        let video = format!("i4x-{}-{}-video-{id}", course.org, course.number);
        let t = rng.below(6000) as f64 / 10.0;
        let ev = match kind {
            "seek_video" => format!(
                r#""{{\"id\":\"{video}\",\"code\":\"{code}\",\"old_time\":{t},\"new_time\":{},\"type\":\"onSlideSeek\"}}""#,
                t + 30.0
            ),
            "speed_change_video" => format!(
                r#""{{\"id\":\"{video}\",\"code\":\"{code}\",\"currentTime\":{t},\"old_speed\":\"1.0\",\"new_speed\":\"1.5\"}}""#
            ),
            _ => format!(
                r#""{{\"id\":\"{video}\",\"code\":\"{code}\",\"currentTime\":{t},\"speed\":\"1.0\"}}""#
            ),
        };
        (kind.to_string(), "browser", ev, format!("\"{page}\""))
    } else if roll < 80 {
        let old = place.3;
        place.3 = 1 + rng.below(6) as u32;
        let ev = format!(
            r#""{{\"old\":{old},\"new\":{},\"id\":\"i4x://{}/{}/sequential/{section}\"}}""#,
            place.3, course.org, course.number
        );
        ("seq_goto".to_string(), "browser", ev, format!("\"{page}\""))
    } else if roll < 90 {
        let p = rng.below(course.problems.len() as u64) as usize;
        go_to_unit(place, p * 7 % UNITS);
        let page = unit_page(course, place);
        let p = &course.problems[p];
        let input = format!("i4x-{}-{}-problem-{p}", course.org, course.number);
        if rng.below(2) == 0 {
            let ev = format!(
                r#""input_{input}_2_1=choice_{}&input_{input}_3_1=choice_{}""#,
                rng.below(4),
                rng.below(4)
            );
            (
                "problem_check".to_string(),
                "browser",
                ev,
                format!("\"{page}\""),
            )
        } else {
            let c2 = if rng.below(2) == 0 {
                "correct"
            } else {
                "incorrect"
            };
            let ev = format!(
                r#"{{"success":"{c2}","attempts":{},"problem_id":"{}","answers":{{"{input}_2_1":"choice_{}"}},"correct_map":{{"{input}_2_1":{{"correctness":"{c2}","npoints":null,"msg":"","hint":"","hintmode":null,"queuestate":null}}}},"state":{{"seed":1,"done":true,"student_answers":{{}},"correct_map":{{}},"input_state":{{"{input}_2_1":{{}}}}}}}}"#,
                1 + rng.below(3),
                course.problem_id(p),
                rng.below(4)
            );
            (
                "problem_check".to_string(),
                "server",
                ev,
                "\"x_module\"".to_string(),
            )
        }
    } else if roll < 93 {
        let ev = format!(
            r#"{{"query":"week {}","page":0,"total_results":{}}}"#,
            rng.below(12),
            rng.below(50)
        );
        (
            "edx.forum.searched".to_string(),
            "server",
            ev,
            "null".to_string(),
        )
    } else if roll < 95 {
        let ev = format!(
            r#"{{"course_id":"{}","mode":"audit","user_id":{user}}}"#,
            course.key()
        );
        (
            "edx.course.enrollment.activated".to_string(),
            "server",
            ev,
            "null".to_string(),
        )
    } else {
        (
            "/heartbeat".to_string(),
            "server",
            r#""{\"POST\": {}, \"GET\": {}}""#.to_string(),
            "null".to_string(),
        )
    };
    let username = if event_type == "/heartbeat" {
        ""
    } else {
        username.as_str()
    };
    let _ = write!(
        line,
        r#"{{"username":"{username}","event_source":"{source}","event_type":"{event_type}","time":"{ts}","ip":"{ip}","agent":"{agent}","host":"courses.example.org","session":"{session}","page":{page_field},"event":{event}{context}}}"#
    );
}

/// The learner's current unit in the Learning MFE: its sequential's and its own usage keys (a
/// unit's block id is its sequential's with the position as its last digit).
fn mfe_unit(course: &Course, place: &(usize, usize, usize, u32)) -> (String, String) {
    let section = &course.chapters[place.1].1[place.2];
    let unit = format!("{}{}", &section[..section.len() - 1], place.3);
    (
        course.usage_key("sequential", section),
        course.usage_key("vertical", &unit),
    )
}

/// One event of a learner in a course shown by the Learning MFE, with the same mix as
/// [`write_event`]: the LMS serving a unit's frame, video events and browser problem checks in
/// the frame, the MFE's sequence navigation on its own page, server problem checks with bare
/// answer ids, forum searches, enrollments and heartbeats.
fn write_mfe_event(
    line: &mut String,
    rng: &mut Random,
    course: &Course,
    place: &mut (usize, usize, usize, u32),
    user: u64,
    time: &NaiveDateTime,
) {
    use std::fmt::Write as _;
    const LMS: &str = "https://courses.example.org";
    let frame = |unit: &str| {
        format!(
            "\"{LMS}/xblock/{unit}?show_title=0&show_bookmark_button=0&recheck_access=1&view=student_view\""
        )
    };
    let Client {
        ip,
        agent,
        session,
        ts,
    } = Client::of(user, time);
    let key = course.key();
    let roll = rng.below(100);
    let mut path = "/event".to_string();
    // The page a server event's request came from.
    let mut referer = String::new();
    let (event_type, source, event, page_field) = if roll < 45 {
        // The LMS serving a unit's frame to the MFE.
        place.3 = 1 + rng.below(6) as u32;
        let (sequential, unit) = mfe_unit(course, place);
        path = format!("/xblock/{unit}");
        referer = format!("https://apps.example.org/learning/course/{key}/{sequential}/{unit}");
        (
            path.clone(),
            "server",
            r#"{"GET": {"show_title": ["0"], "show_bookmark_button": ["0"], "recheck_access": ["1"], "view": ["student_view"]}, "POST": {}}"#.to_string(),
            "null".to_string(),
        )
    } else if roll < 70 {
        let v = rng.below(course.videos.len() as u64) as usize;
        let (id, code) = &course.videos[v];
        go_to_unit(place, (v * 9 + 4) % UNITS);
        let (_, unit) = mfe_unit(course, place);
        let kind = VIDEO_EVENTS[rng.below(VIDEO_EVENTS.len() as u64) as usize];
        let t = rng.below(6000) as f64 / 10.0;
        let ev = match kind {
            "seek_video" => format!(
                r#""{{\"id\":\"{id}\",\"code\":\"{code}\",\"old_time\":{t},\"new_time\":{},\"type\":\"onSlideSeek\",\"duration\":600}}""#,
                t + 30.0
            ),
            "speed_change_video" => format!(
                r#""{{\"id\":\"{id}\",\"code\":\"{code}\",\"current_time\":{t},\"old_speed\":\"1.0\",\"new_speed\":\"1.5\",\"duration\":600}}""#
            ),
            _ => format!(
                r#""{{\"id\":\"{id}\",\"code\":\"{code}\",\"currentTime\":{t},\"duration\":600}}""#
            ),
        };
        (kind.to_string(), "browser", ev, frame(&unit))
    } else if roll < 80 {
        let old = place.3;
        place.3 = 1 + rng.below(6) as u32;
        let mfe_page = {
            let (sequential, unit) = mfe_unit(course, &(place.0, place.1, place.2, old));
            format!("\"https://apps.example.org/learning/course/{key}/{sequential}/{unit}\"")
        };
        let (sequential, _) = mfe_unit(course, place);
        let ev = format!(
            r#"{{"current_tab":{old},"id":"{sequential}","tab_count":6,"target_tab":{},"widget_placement":"top"}}"#,
            place.3
        );
        (
            "edx.ui.lms.sequence.tab_selected".to_string(),
            "browser",
            ev,
            mfe_page,
        )
    } else if roll < 90 {
        let p = rng.below(course.problems.len() as u64) as usize;
        go_to_unit(place, p * 7 % UNITS);
        let (_, unit) = mfe_unit(course, place);
        let p = &course.problems[p];
        if rng.below(2) == 0 {
            let ev = format!(
                r#""input_{p}_2_1=choice_{}&input_{p}_3_1=choice_{}""#,
                rng.below(4),
                rng.below(4)
            );
            ("problem_check".to_string(), "browser", ev, frame(&unit))
        } else {
            let c2 = if rng.below(2) == 0 {
                "correct"
            } else {
                "incorrect"
            };
            let usage = course.problem_id(p);
            referer = frame(&unit).trim_matches('"').to_string();
            path = format!("/courses/{key}/xblock/{usage}/handler/xmodule_handler/problem_check");
            let ev = format!(
                r#"{{"success":"{c2}","attempts":{},"problem_id":"{usage}","answers":{{"{p}_2_1":"choice_{}"}},"correct_map":{{"{p}_2_1":{{"correctness":"{c2}","npoints":null,"msg":"","hint":"","hintmode":null,"queuestate":null}}}},"grade":{},"max_grade":1,"state":{{"seed":1,"done":true,"student_answers":{{}},"correct_map":{{}},"input_state":{{"{p}_2_1":{{}}}}}},"submission":{{"{p}_2_1":{{"question":"","answer":"","response_type":"multiplechoiceresponse","input_type":"choicegroup","correct":{},"variant":"","group_label":""}}}}}}"#,
                1 + rng.below(3),
                rng.below(4),
                u8::from(c2 == "correct"),
                c2 == "correct",
            );
            (
                "problem_check".to_string(),
                "server",
                ev,
                "\"x_module\"".to_string(),
            )
        }
    } else if roll < 93 {
        let ev = format!(
            r#"{{"query":"week {}","page":0,"total_results":{}}}"#,
            rng.below(12),
            rng.below(50)
        );
        path = format!("/courses/{key}/discussion/forum/search");
        referer = format!("https://apps.example.org/discussions/{key}/posts");
        (
            "edx.forum.searched".to_string(),
            "server",
            ev,
            "null".to_string(),
        )
    } else if roll < 95 {
        let ev = format!(r#"{{"course_id":"{key}","mode":"audit","user_id":{user}}}"#);
        (
            "edx.course.enrollment.activated".to_string(),
            "server",
            ev,
            "null".to_string(),
        )
    } else {
        let _ = write!(
            line,
            r#"{{"username":"","event_source":"server","event_type":"/heartbeat","time":"{ts}","ip":"{ip}","agent":"{agent}","host":"courses.example.org","session":"","page":null,"event":{{"POST": {{}}, "GET": {{}}}},"context":{{"course_id":"","org_id":"","path":"/heartbeat"}}}}"#
        );
        return;
    };
    if source == "browser" {
        // The browser posts its events from the page they are on.
        referer = page_field.trim_matches('"').to_string();
    }
    let _ = write!(
        line,
        r#"{{"username":"learner{user:06}","event_source":"{source}","event_type":"{event_type}","time":"{ts}","ip":"{ip}","agent":"{agent}","host":"courses.example.org","session":"{session}","referer":"{referer}","page":{page_field},"event":{event},"context":{{"course_id":"{key}","org_id":"{}","user_id":{user},"path":"{path}"}}}}"#,
        course.org
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_bytes_and_every_line_parses() {
        let options = GeneratorOptions {
            events: 2_000,
            users: 50,
            ..GeneratorOptions::default()
        };
        let (mut a, mut b) = (Vec::new(), Vec::new());
        generate(&options, &mut a).unwrap();
        generate(&options, &mut b).unwrap();
        assert_eq!(a, b);
        let text = String::from_utf8(a).unwrap();
        assert_eq!(text.lines().count(), 2_000);
        let mut types = std::collections::BTreeSet::new();
        for line in text.lines() {
            let e = crate::parse::TrackingEvent::parse(line).expect(line);
            types.insert(
                e.event_type()
                    .split('/')
                    .nth(1)
                    .map_or_else(|| e.event_type().to_string(), |_| "implicit".to_string()),
            );
        }
        assert!(types.len() >= 8, "{types:?}");
        let mut other = Vec::new();
        generate(&GeneratorOptions { seed: 2, ..options }, &mut other).unwrap();
        assert_ne!(text.as_bytes(), other.as_slice());
    }

    #[test]
    fn a_learning_mfe_log_holds_only_todays_keys_and_pages() {
        let options = GeneratorOptions {
            events: 2_000,
            users: 50,
            courses: 3,
            era: LogEra::LearningMfe,
            ..GeneratorOptions::default()
        };
        let mut bytes = Vec::new();
        generate(&options, &mut bytes).unwrap();
        let text = String::from_utf8(bytes).unwrap();
        assert!(!text.contains("i4x"), "no 2013 key");
        let mut pages = std::collections::BTreeSet::new();
        for line in text.lines() {
            let e = crate::parse::TrackingEvent::parse(line).expect(line);
            let course = e.context.as_ref().and_then(|c| c.get("course_id"));
            let course = course
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default();
            assert!(
                course.starts_with("course-v1:") || e.event_type() == "/heartbeat",
                "{line}"
            );
            let page = e.page().split('/').nth(3).unwrap_or(e.page());
            pages.insert(page.to_string());
        }
        let pages: Vec<&str> = pages.iter().map(String::as_str).collect();
        assert_eq!(pages, ["", "learning", "x_module", "xblock"]);
    }

    #[test]
    fn rotated_files_hold_the_same_lines_in_time_order() {
        let options = GeneratorOptions {
            events: 1_000,
            users: 20,
            days: 3,
            ..GeneratorOptions::default()
        };
        let mut whole = Vec::new();
        generate(&options, &mut whole).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let files = write_rotated_logs(&options, dir.path(), 7).unwrap();
        assert_eq!(files.len(), 7);
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names.len(), 7, "no partial file is left: {names:?}");
        let mut joined = Vec::new();
        let mut previous = 0i64;
        for name in &names {
            let epoch: i64 = name
                .trim_start_matches("tracking.log-")
                .trim_end_matches(".gz")
                .split_once('-')
                .unwrap()
                .1
                .parse()
                .unwrap();
            assert!(epoch >= previous, "{name} is in time order");
            previous = epoch;
            let bytes = std::fs::read(dir.path().join(name)).unwrap();
            std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut joined)
                .unwrap();
        }
        assert_eq!(joined, whole);
    }

    #[test]
    fn a_log_file_holds_the_generated_lines_gzipped_when_named_gz() {
        let options = GeneratorOptions {
            events: 300,
            users: 20,
            ..GeneratorOptions::default()
        };
        let mut expected = Vec::new();
        generate(&options, &mut expected).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("log");
        write_log(&options, &plain).unwrap();
        assert_eq!(std::fs::read(&plain).unwrap(), expected);
        let gz = dir.path().join("log.gz");
        write_log(&options, &gz).unwrap();
        let mut inflated = Vec::new();
        io::Read::read_to_end(
            &mut flate2::read::MultiGzDecoder::new(File::open(&gz).unwrap()),
            &mut inflated,
        )
        .unwrap();
        assert_eq!(inflated, expected);
        let missing = dir.path().join("no/such/dir/log.gz");
        let e = write_log(&options, &missing).unwrap_err();
        assert!(matches!(e, WriteLogError::Create { .. }), "{e}");
        assert_eq!(
            e.to_string(),
            format!("cannot create {}", missing.display())
        );
    }
}
