//! One database per course: a `{course}` placeholder in the database name of `--database-url`
//! splits a load so that each course's events go to a course database of their own.
//!
//! The naming rule (`docs/incremental.md`, "One database per course"):
//!
//! * the course part is the course's org, course and run joined by `_`, whichever way the log
//!   spells the course (`course-v1:MITx+6.002x+2013_Spring` and `MITx/6.002x/2013_Spring` are
//!   both `MITx_6_002x_2013_Spring`), with every character outside `[A-Za-z0-9_]` made a `_`;
//! * events that name no course go to the database whose course part is [`NO_COURSE`];
//! * a name that would not fit (with `_private` added, MySQL's 64 characters) has its course part
//!   cut and ended by `_` and 8 hex digits of a hash of the course id;
//! * a course whose name another course already holds (`A.B/C/D` and `A_B/C/D`) gets the name
//!   with the hash as well. Each course database records the course it holds, so the course
//!   that came first keeps the plain name in every later load.
//!
//! The host may hold the placeholder too (`mysql://u:p@{course}.db.example.org/moocdb_{course}`),
//! so that a site's courses are spread over several servers. Each course's server is then the
//! first line of `--course-hosts` whose pattern matches its course part (`MITx_*
//! db2.example.org:3306`), else the host with the course part written as a host name label
//! (lowercase, `-` for `_`, cut like a database name at 63 characters), which DNS or
//! `/etc/hosts` resolves.

use std::path::Path;

use crate::error::LoadError;
use crate::sink::Target;

/// What `--database-url` and `--private-database` write where the course goes.
pub const PLACEHOLDER: &str = "{course}";

/// The course part of the database of events that name no course.
pub const NO_COURSE: &str = "no_course";

/// The longest database name: MySQL's 64 characters.
const MAX_NAME: usize = 64;

/// The length of the suffix that keeps a cut name unique: `_` and 8 hex digits.
const HASH_SUFFIX: usize = 9;

/// The longest label of a host name (RFC 1035).
const MAX_LABEL: usize = 63;

/// Where the course databases are when the URL's host holds the placeholder.
#[derive(Debug, Clone)]
struct CourseServers {
    /// The host as written, with the placeholder.
    host: String,
    /// The lines of `--course-hosts`, in order: a pattern of course parts, a host, a port.
    hosts: Vec<(glob::Pattern, String, Option<u16>)>,
}

impl CourseServers {
    /// The host and port (`None`: the URL's) of the course database whose course part is `part`.
    fn of(&self, part: &str) -> (String, Option<u16>) {
        let options = glob::MatchOptions {
            case_sensitive: true,
            require_literal_separator: false,
            require_literal_leading_dot: false,
        };
        match (self.hosts.iter()).find(|(pattern, ..)| pattern.matches_with(part, options)) {
            Some((_, host, port)) => (host.clone(), *port),
            None => (self.host.replace(PLACEHOLDER, &host_label(part)), None),
        }
    }
}

/// A course part written as a host name label: lowercase, `-` for `_`, at most 63 characters
/// (a longer one cut and ended by `-` and 8 hex digits of its hash).
fn host_label(part: &str) -> String {
    let label: String = (part.chars())
        .map(|c| match c {
            '_' => '-',
            c => c.to_ascii_lowercase(),
        })
        .collect();
    let label = label.trim_matches('-');
    if label.len() <= MAX_LABEL {
        return label.to_string();
    }
    let hash = xxhash_rust::xxh3::xxh3_64(part.as_bytes()) as u32;
    let keep = label[..MAX_LABEL - HASH_SUFFIX].trim_end_matches('-');
    format!("{keep}-{hash:08x}")
}

/// Reads `--course-hosts`: one `PATTERN HOST[:PORT]` per line, `#` comments and blank lines
/// ignored.
fn read_course_hosts(path: &Path) -> Result<Vec<(glob::Pattern, String, Option<u16>)>, LoadError> {
    let error = |line: usize, reason: String| LoadError::CourseHosts {
        path: path.display().to_string(),
        line,
        reason,
    };
    let text =
        std::fs::read_to_string(path).map_err(|e| error(0, format!("cannot read it: {e}")))?;
    let mut hosts = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        let mut words = line.split_whitespace();
        let (Some(pattern), Some(server), None) = (words.next(), words.next(), words.next()) else {
            return Err(error(
                i + 1,
                "expected two words: a pattern and a host".into(),
            ));
        };
        let pattern = glob::Pattern::new(pattern)
            .map_err(|e| error(i + 1, format!("pattern `{pattern}`: {e}")))?;
        // A port after the last `:` unless the host is a bare IPv6 address.
        let (host, port) = match server.rsplit_once(':') {
            Some((host, port)) if !host.contains(':') || host.ends_with(']') => {
                let port = port.parse::<u16>().map_err(|_| {
                    error(
                        i + 1,
                        format!("port `{port}` is not a number from 1 to 65535"),
                    )
                })?;
                (host, Some(port))
            }
            _ => (server, None),
        };
        hosts.push((pattern, host.to_string(), port));
    }
    Ok(hosts)
}

/// The course databases of a split load: the URL's names with the placeholder in them.
#[derive(Debug, Clone)]
pub struct CourseDatabases {
    /// The URL, whose database name holds the placeholder.
    target: Target,
    database: String,
    /// The private database's name (holding the placeholder), or `None` for the course
    /// database's name with `_private` added.
    private_database: Option<String>,
    /// The courses' servers, when the host holds the placeholder.
    servers: Option<CourseServers>,
}

impl CourseDatabases {
    /// Whether `target` splits a load: its (percent-decoded) database name has the placeholder.
    pub fn splits(target: &Target) -> bool {
        target.database.contains(PLACEHOLDER)
    }

    /// The course databases `target` names, if its database name has the placeholder; an error
    /// if only the private database's name or the host has it. `course_hosts` is the file of
    /// `--course-hosts`, for a host with the placeholder.
    pub fn of(
        target: &Target,
        private_database: Option<&str>,
        course_hosts: Option<&Path>,
    ) -> Result<Option<Self>, LoadError> {
        let split = Self::splits(target);
        let host = target.host();
        let host_split = host.contains(PLACEHOLDER);
        if host_split && !split {
            return Err(LoadError::BadUrl {
                url: target.redacted(),
                reason: format!(
                    "the host has {PLACEHOLDER} but the database name does not: put {PLACEHOLDER} \
                     in the database name too, so that each course has a database"
                ),
            });
        }
        if course_hosts.is_some() && !host_split {
            return Err(LoadError::BadUrl {
                url: target.redacted(),
                reason: format!(
                    "--course-hosts says which server holds each course, and the host does not \
                     have {PLACEHOLDER}: put {PLACEHOLDER} in the host (as \
                     mysql://user:password@{PLACEHOLDER}.example.org/moocdb_{PLACEHOLDER}), or \
                     leave --course-hosts out"
                ),
            });
        }
        let private_split = private_database.is_some_and(|p| p.contains(PLACEHOLDER));
        if !split {
            if private_split {
                return Err(LoadError::BadUrl {
                    url: target.redacted(),
                    reason: format!(
                        "--private-database has {PLACEHOLDER} but the database name does not: \
                         put {PLACEHOLDER} in both, or in neither"
                    ),
                });
            }
            return Ok(None);
        }
        if private_database.is_some() && !private_split {
            return Err(LoadError::BadUrl {
                url: target.redacted(),
                reason: format!(
                    "the database name has {PLACEHOLDER} but --private-database does not, so \
                     every course would share one private database: put {PLACEHOLDER} in \
                     --private-database too, or leave it out (each course's private database is \
                     then its database's name with `_private` added)"
                ),
            });
        }
        let servers = if host_split {
            let hosts = match course_hosts {
                Some(path) => read_course_hosts(path)?,
                None => Vec::new(),
            };
            Some(CourseServers { host, hosts })
        } else {
            None
        };
        Ok(Some(CourseDatabases {
            target: target.clone(),
            database: target.database.clone(),
            private_database: private_database.map(str::to_string),
            servers,
        }))
    }

    /// Whether the course databases are on several servers (the host has the placeholder).
    pub fn spread(&self) -> bool {
        self.servers.is_some()
    }

    /// The target of `course`'s database (`None`: events that name no course); `hashed` asks for
    /// the name with the course id's hash, for a course whose plain name another course holds.
    pub fn target(&self, course: Option<&str>, hashed: bool) -> Result<Target, LoadError> {
        let part = match course {
            Some(course) => course_part(course),
            None => NO_COURSE.to_string(),
        };
        // Room for the course part in the longer of the two names.
        let fixed = match &self.private_database {
            Some(private) => fixed_length(&self.database).max(fixed_length(private)),
            None => fixed_length(&self.database) + "_private".len(),
        };
        let room = MAX_NAME.saturating_sub(fixed).max(HASH_SUFFIX + 1);
        let part = match course {
            Some(course) if hashed || part.len() > room => {
                let keep = room.min(part.len() + HASH_SUFFIX) - HASH_SUFFIX;
                let hash = xxhash_rust::xxh3::xxh3_64(course.as_bytes()) as u32;
                format!("{}_{hash:08x}", &part[..keep])
            }
            _ => part,
        };
        let database = self.database.replace(PLACEHOLDER, &part);
        let private_database = match &self.private_database {
            Some(private) => private.replace(PLACEHOLDER, &part),
            None => format!("{database}_private"),
        };
        let target = self.target.for_database(database, private_database);
        match &self.servers {
            Some(servers) => {
                let (host, port) = servers.of(&part);
                target.on_server(&host, port)
            }
            None => Ok(target),
        }
    }

    /// Whether `name` is a course database of this split: the database name with a course
    /// part in place of the placeholder.
    pub fn holds(&self, name: &str) -> bool {
        let (before, after) = (self.database)
            .split_once(PLACEHOLDER)
            .expect("a split's database name has the placeholder");
        let after = after.replace(PLACEHOLDER, "");
        name.len() > before.len() + after.len()
            && name.starts_with(before)
            && name.ends_with(&after)
            && (name[before.len()..name.len() - after.len()].bytes())
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    }

    /// A `LIKE` pattern that every course database's name matches (and others may).
    pub fn like_pattern(&self) -> String {
        let escaped = self
            .database
            .replace('\\', "\\\\")
            .replace('_', "\\_")
            .replace('%', "\\%");
        escaped.replace(PLACEHOLDER, "%")
    }
}

/// The characters of a name besides its course part.
fn fixed_length(template: &str) -> usize {
    template.replace(PLACEHOLDER, "").chars().count()
}

/// The course part of a database name for `course` (an `Org/Course/Run` id, or an opaque
/// `course-v1:` one): org, course and run joined by `_`, every character outside
/// `[A-Za-z0-9_]` made a `_`.
pub fn course_part(course: &str) -> String {
    let normal = super::normal_course_id(course);
    normal
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(url: &str, private: Option<&str>) -> CourseDatabases {
        let target = Target::parse(url, private).unwrap();
        CourseDatabases::of(&target, private, None)
            .unwrap()
            .unwrap()
    }

    #[test]
    fn a_load_splits_when_its_decoded_database_name_has_the_placeholder() {
        let splits = |url: &str| CourseDatabases::splits(&Target::parse(url, None).unwrap());
        assert!(splits("mysql://u:p@h/moocdb_{course}"));
        assert!(splits("mysql://u:p@h/moocdb_%7Bcourse%7D"));
        assert!(!splits("mysql://u:p@h/moocdb"));
    }

    #[test]
    fn a_course_is_named_the_same_whichever_way_the_log_spells_it() {
        let databases = split("mysql://u:p@h/moocdb_{course}", None);
        for course in [
            "course-v1:MITx+6.002x+2013_Spring",
            "MITx/6.002x/2013_Spring",
        ] {
            let target = databases.target(Some(course), false).unwrap();
            assert_eq!(target.database, "moocdb_MITx_6_002x_2013_Spring");
            assert_eq!(
                target.private_database,
                "moocdb_MITx_6_002x_2013_Spring_private"
            );
        }
        assert_eq!(
            databases.target(None, false).unwrap().database,
            "moocdb_no_course"
        );
        assert_eq!(course_part("ccx-v1:A+B+C+ccx@3"), "A_B_C");
        assert_eq!(course_part("Ü-org/c d/r"), "__org_c_d_r");
    }

    #[test]
    fn long_names_are_cut_with_a_hash_that_keeps_them_apart() {
        let databases = split("mysql://u:p@h/moocdb_{course}", None);
        let long = |run: &str| {
            format!(
                "course-v1:AVeryLongOrganisationName+{}+{run}",
                "C".repeat(40)
            )
        };
        let (a, b) = (long("2017_T1"), long("2017_T2"));
        let (ta, tb) = (
            databases.target(Some(&a), false).unwrap(),
            databases.target(Some(&b), false).unwrap(),
        );
        assert_ne!(ta.database, tb.database);
        for t in [&ta, &tb] {
            assert!(t.database.len() <= 56, "{}", t.database);
            assert!(t.private_database.len() <= 64, "{}", t.private_database);
            assert!(
                t.database
                    .starts_with("moocdb_AVeryLongOrganisationName_CCC")
            );
            assert!(crate::sink::target::check_database_name(&t.private_database).is_ok());
        }
        // The same course always gets the same name.
        assert_eq!(
            databases.target(Some(&a), false).unwrap().database,
            ta.database
        );
        // Names that fit are not cut.
        let short = databases.target(Some("A/B/C"), false).unwrap();
        assert_eq!(short.database, "moocdb_A_B_C");
    }

    #[test]
    fn courses_that_sanitise_alike_are_told_apart_by_the_hash() {
        let databases = split("mysql://u:p@h/moocdb_{course}", None);
        let plain = databases.target(Some("A.B/C/D"), false).unwrap().database;
        assert_eq!(
            plain,
            databases.target(Some("A_B/C/D"), false).unwrap().database
        );
        let first = databases.target(Some("A.B/C/D"), true).unwrap().database;
        let second = databases.target(Some("A_B/C/D"), true).unwrap().database;
        assert_ne!(first, second);
        assert!(first.starts_with("moocdb_A_B_C_D_") && first.len() == plain.len() + 9);
    }

    #[test]
    fn the_private_databases_follow_their_own_placeholder() {
        let databases = split("mysql://u:p@h/c_{course}", Some("pii_{course}"));
        let t = databases.target(Some("A/B/C"), false).unwrap();
        assert_eq!(
            (t.database.as_str(), t.private_database.as_str()),
            ("c_A_B_C", "pii_A_B_C")
        );
        // A placeholder in one name only is refused.
        let target = Target::parse("mysql://u:p@h/c_{course}", Some("pii")).unwrap();
        let e = CourseDatabases::of(&target, Some("pii"), None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("--private-database"), "{e}");
        let target = Target::parse("mysql://u:p@h/c", Some("pii_{course}")).unwrap();
        assert!(CourseDatabases::of(&target, Some("pii_{course}"), None).is_err());
        let target = Target::parse("mysql://u:p@h/c", None).unwrap();
        assert!(CourseDatabases::of(&target, None, None).unwrap().is_none());
    }

    #[test]
    fn course_databases_are_recognised_by_name() {
        let databases = split("mysql://u:p@h/moocdb_{course}_v2", None);
        assert!(databases.holds("moocdb_A_B_C_v2"));
        assert!(databases.holds("moocdb_no_course_v2"));
        assert!(!databases.holds("moocdb__v2"));
        assert!(!databases.holds("moocdb_A_B_C_v2_private"));
        assert!(!databases.holds("other_A_B_C_v2"));
        assert_eq!(databases.like_pattern(), "moocdb\\_%\\_v2");
    }

    #[test]
    fn a_host_with_the_placeholder_puts_each_course_on_its_server() {
        let dir = tempfile::tempdir().unwrap();
        let hosts = dir.path().join("hosts");
        std::fs::write(
            &hosts,
            "# the big courses\nMITx_* db2.example.org:3308\n\nno_course 10.0.0.5 # the rest\n\
             HarvardX_?_* [::1]:3310\n",
        )
        .unwrap();
        let target =
            Target::parse("mysql://u:p@{course}.db.example.org:3307/m_{course}", None).unwrap();
        let databases = CourseDatabases::of(&target, None, Some(&hosts))
            .unwrap()
            .unwrap();
        assert!(databases.spread());
        let server = |course: Option<&str>| {
            let t = databases.target(course, false).unwrap();
            (t.host(), t.port(), t.database)
        };
        assert_eq!(
            server(Some("course-v1:MITx+6.002x+2013_Spring")),
            (
                "db2.example.org".into(),
                3308,
                "m_MITx_6_002x_2013_Spring".into()
            )
        );
        assert_eq!(
            server(None),
            ("10.0.0.5".into(), 3307, "m_no_course".into())
        );
        assert_eq!(server(Some("HarvardX/A/B")).0, "[::1]");
        assert_eq!(server(Some("HarvardX/A/B")).1, 3310);
        // No line matches: the host with the course as a label.
        assert_eq!(
            server(Some("UQx/Think101x/1T2015")),
            (
                "uqx-think101x-1t2015.db.example.org".into(),
                3307,
                "m_UQx_Think101x_1T2015".into()
            )
        );
        let long = host_label(&"Ab_".repeat(30));
        assert!(long.len() <= 63 && long.starts_with("ab-ab-"), "{long}");
        assert_ne!(long, host_label(&"Ab_".repeat(31)));
    }

    #[test]
    fn course_hosts_need_the_placeholder_in_the_host_and_lines_that_read() {
        let dir = tempfile::tempdir().unwrap();
        let hosts = dir.path().join("hosts");
        std::fs::write(&hosts, "* db1\n").unwrap();
        let target = Target::parse("mysql://u:p@h/m_{course}", None).unwrap();
        let e = CourseDatabases::of(&target, None, Some(&hosts)).unwrap_err();
        assert!(e.to_string().contains("put {course} in the host"), "{e}");
        let target = Target::parse("mysql://u:p@{course}.h/m", None).unwrap();
        let e = CourseDatabases::of(&target, None, None).unwrap_err();
        assert!(e.to_string().contains("database name too"), "{e}");
        let target = Target::parse("mysql://u:p@{course}.h/m_{course}", None).unwrap();
        for (text, says) in [
            ("MITx_* db1 extra\n", "line 1: expected two words"),
            ("# one\nMITx_* db1:http\n", "line 2: port `http`"),
            ("[ db1\n", "line 1: pattern `[`"),
        ] {
            std::fs::write(&hosts, text).unwrap();
            let e = CourseDatabases::of(&target, None, Some(&hosts)).unwrap_err();
            assert!(e.to_string().contains(says), "{e}");
        }
    }
}
