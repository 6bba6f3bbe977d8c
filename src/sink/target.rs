//! Where rows go: the database URL, the options and session settings of every loader connection,
//! and pools with them. `mysql_async` is confined to [`super::infile`].

use std::str::FromStr;
use std::time::Duration;

use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlPool, MySqlPoolOptions};
use sqlx::{ConnectOptions, Executor};

use crate::error::{LoadError, connect_advice, redact_url, scrub};

/// Session settings of every loader connection: UTC, utf8mb4, no strict-mode coercions hidden by
/// IGNORE (values are written exactly), id 0 allowed, and key checks off during bulk loading.
pub const SESSION_SETUP: &str = "SET NAMES utf8mb4 COLLATE utf8mb4_bin, time_zone = '+00:00', \
     sql_mode = 'NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION', foreign_key_checks = 0, unique_checks = 0";

/// How long an idle bookkeeping connection stays open.
const IDLE_TIMEOUT: Duration = Duration::from_secs(5);

/// Where to load: the parsed database URL.
#[derive(Clone)]
pub struct Target {
    /// The URL as given (kept private: it may hold a password).
    url: url::Url,
    /// The course database name (percent-decoded).
    pub database: String,
    /// The private database name.
    pub private_database: String,
    /// Whether the private database was named (`--private-database`) rather than derived.
    private_named: bool,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Target({})", self.redacted())
    }
}

impl Target {
    /// Parses a `mysql://user:password@host:port/database` URL. The user, password and database
    /// are percent-decoded (`%20` is a space, `%C3%BC` a `ü`; `+` is a plus), as every URL's
    /// are; a database name the server cannot hold is refused.
    pub fn parse(url: &str, private_database: Option<&str>) -> Result<Target, LoadError> {
        let bad = |reason: &str| LoadError::BadUrl {
            url: redact_url(url),
            reason: reason.to_string(),
        };
        let parsed = url::Url::parse(url).map_err(|e| bad(&e.to_string()))?;
        if !matches!(parsed.scheme(), "mysql" | "mariadb") {
            return Err(bad("the scheme must be mysql://"));
        }
        if parsed.host_str().is_none_or(str::is_empty) {
            return Err(bad("no host"));
        }
        let path = parsed.path().trim_start_matches('/');
        if path.is_empty() || path.contains('/') {
            return Err(bad("no database name after the host"));
        }
        let database = percent_decode(path).map_err(|()| {
            bad("the database name is not UTF-8 once percent-decoded: write each other character as the %XX escapes of its UTF-8 bytes (ü is %C3%BC)")
        })?;
        percent_decode(parsed.username())
            .map_err(|()| bad("the user name is not UTF-8 once percent-decoded"))?;
        if let Some(password) = parsed.password() {
            percent_decode(password)
                .map_err(|()| bad("the password is not UTF-8 once percent-decoded"))?;
        }
        check_database_name(&database).map_err(|reason| LoadError::BadDatabaseName {
            name: printable(&database),
            reason,
            advice: "give another name after the host in --database-url (or DATABASE_URL), \
                     percent-encoded where a URL needs it (%20 for a space)"
                .into(),
        })?;
        Ok(Target {
            url: parsed,
            private_database: private_database
                .map(str::to_string)
                .unwrap_or_else(|| format!("{database}_private")),
            database,
            private_named: private_database.is_some(),
        })
    }

    /// The same server and account, for another course database and private database.
    pub fn for_database(&self, database: String, private_database: String) -> Target {
        Target {
            url: self.url.clone(),
            database,
            private_database,
            private_named: self.private_named,
        }
    }

    /// The same account and databases on another server: `host`, and `port` if given (else the
    /// URL's). The host is taken as written: a name, an IPv4 address or a bracketed IPv6 one.
    pub fn on_server(&self, host: &str, port: Option<u16>) -> Result<Target, LoadError> {
        let mut url = self.url.clone();
        let bad = |reason: String| LoadError::BadUrl {
            url: self.redacted(),
            reason,
        };
        url.set_host(Some(host))
            .map_err(|e| bad(format!("host `{host}`: {e}")))?;
        if port.is_some() {
            url.set_port(port)
                .map_err(|()| bad(format!("cannot give host `{host}` a port")))?;
        }
        Ok(Target {
            url,
            ..self.clone()
        })
    }

    /// The server's host as written in the URL (percent-decoded).
    pub fn host(&self) -> String {
        decoded(self.url.host_str().unwrap_or_default())
    }

    /// The server's port (3306 unless the URL gives one).
    pub fn port(&self) -> u16 {
        self.url.port().unwrap_or(3306)
    }

    /// Refuses a private database name the server cannot hold, saying how to choose another.
    pub fn check_private_database(&self) -> Result<(), LoadError> {
        check_database_name(&self.private_database).map_err(|reason| LoadError::BadDatabaseName {
            name: self.private_database.clone(),
            reason,
            advice: if self.private_named {
                "give another --private-database".into()
            } else {
                format!(
                    "it is the course database's name with `_private` added: give \
                         --private-database NAME (or --no-pii), or a shorter course database \
                         name than `{}`",
                    self.database
                )
            },
        })
    }

    /// The URL with its password removed.
    pub fn redacted(&self) -> String {
        redact_url(self.url.as_str())
    }

    /// The password, for scrubbing messages.
    pub fn password(&self) -> Option<String> {
        self.url.password().map(decoded)
    }

    /// Host, port, user and password for the infile driver.
    pub fn parts(&self) -> (String, u16, String, Option<String>) {
        (
            self.url.host_str().unwrap_or("localhost").to_string(),
            self.port(),
            decoded(self.url.username()),
            self.password(),
        )
    }

    /// The URL's query parameters (TLS settings and the like).
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        self.url
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    fn options(&self, database: Option<&str>) -> Result<MySqlConnectOptions, LoadError> {
        let mut server_url = self.url.clone();
        server_url.set_path("");
        let options =
            MySqlConnectOptions::from_str(server_url.as_str()).map_err(|e| LoadError::BadUrl {
                url: self.redacted(),
                reason: scrub(e, self.password().as_deref()),
            })?;
        let options = options.charset("utf8mb4").collation("utf8mb4_bin");
        let options = match database {
            Some(db) => options.database(db),
            None => options,
        };
        Ok(options.disable_statement_logging())
    }

    /// The error for a failed connection, without the password.
    pub fn connect_error(&self, e: impl std::fmt::Display) -> LoadError {
        let message = scrub(e, self.password().as_deref());
        LoadError::Connect {
            url: self.redacted(),
            advice: connect_advice(&message),
            message,
        }
    }

    /// A connection to the server on no database, to create the databases.
    pub async fn server_connection(&self) -> Result<MySqlConnection, LoadError> {
        self.options(None)?
            .connect()
            .await
            .map_err(|e| self.connect_error(e))
    }

    /// A pool on `database` with the loader's session settings.
    pub async fn pool(&self, database: &str, connections: u32) -> Result<MySqlPool, LoadError> {
        MySqlPoolOptions::new()
            .max_connections(connections.max(1))
            .acquire_timeout(Duration::from_secs(60))
            // An idle connection closes soon (sqlx's default keeps it 10 minutes): a split load
            // has a pool per course database, each used a moment per file and commit, and a
            // hundred idle connections would crowd the server's limit (151 by default).
            .idle_timeout(Some(IDLE_TIMEOUT))
            .after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute(SESSION_SETUP).await?;
                    Ok(())
                })
            })
            .connect_with(self.options(Some(database))?)
            .await
            .map_err(|e| self.connect_error(e))
    }
}

/// A URL component with its `%XX` escapes decoded (RFC 3986: a `+` stays a plus), as sqlx
/// decodes the user and password of its own connections; `Err` when the bytes are not UTF-8.
fn percent_decode(s: &str) -> Result<String, ()> {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .map(std::borrow::Cow::into_owned)
        .map_err(|_| ())
}

/// [`percent_decode`] of a component [`Target::parse`] has checked.
fn decoded(s: &str) -> String {
    percent_decode(s).unwrap_or_else(|()| s.to_string())
}

/// A name as a message shows it: control characters escaped (`\u{0}`).
fn printable(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Why MySQL and MariaDB cannot hold a database of this name, if they cannot: at most 64
/// characters, all in Unicode's Basic Multilingual Plane except NUL, no `/`, `\` or `.` (names
/// become directory names), no trailing space; and no backquote, which the loader's statements
/// quote names with.
pub fn check_database_name(name: &str) -> Result<(), String> {
    let length = name.chars().count();
    if name.is_empty() {
        Err("it is empty".into())
    } else if length > 64 {
        Err(format!(
            "it has {length} characters, and MySQL allows at most 64"
        ))
    } else if let Some(c) = name.chars().find(|c| matches!(c, '/' | '\\' | '.')) {
        Err(format!(
            "it contains `{c}`, which MySQL does not allow in a database name"
        ))
    } else if name.contains('`') {
        Err("it contains a backquote".into())
    } else if name.contains('\0') {
        Err("it contains a NUL character".into())
    } else if let Some(c) = name.chars().find(|c| u32::from(*c) > 0xFFFF) {
        Err(format!(
            "it contains `{c}` (U+{:X}), beyond the characters MySQL allows in names (U+0001 to U+FFFF)",
            u32::from(c)
        ))
    } else if name.ends_with(' ') {
        Err("it ends with a space, which MySQL does not allow".into())
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_password_and_database_are_percent_decoded() {
        let t = Target::parse("mysql://us%40er:p%2Bq+r%20@h:3306/db_%7Bcourse%7D", None).unwrap();
        assert_eq!(t.database, "db_{course}");
        assert_eq!(t.private_database, "db_{course}_private");
        let (host, port, user, password) = t.parts();
        assert_eq!((host.as_str(), port), ("h", 3306));
        assert_eq!(user, "us@er");
        assert_eq!(password.as_deref(), Some("p+q+r "));

        let t = Target::parse(
            "mysql://u@h/t_%C3%BCn%C3%AF-code%20x?ssl-mode=REQUIRED",
            None,
        );
        assert_eq!(t.unwrap().database, "t_ünï-code x");
        // Written unescaped, the URL parser escapes it; decoding gives it back.
        assert_eq!(
            Target::parse("mysql://u@h/t_ünï", None).unwrap().database,
            "t_ünï"
        );
        let sixty_four = "d".repeat(64);
        let url = format!("mysql://u@h/{sixty_four}");
        assert_eq!(Target::parse(&url, None).unwrap().database, sixty_four);
    }

    #[test]
    fn names_the_server_cannot_hold_are_refused_with_what_to_do() {
        let long = "d".repeat(65);
        for (path, name, why) in [
            ("a%2Fb", "a/b", "`/`"),
            ("a%5Cb", "a\\b", "`\\`"),
            ("a.b", "a.b", "`.`"),
            ("ab%20", "ab ", "ends with a space"),
            (&long, &long, "65 characters"),
            ("a%60b", "a`b", "backquote"),
            ("a%00b", "a\\u{0}b", "NUL"),
            ("a%F0%9F%98%80", "a😀", "U+1F600"),
        ] {
            let url = format!("mysql://u:s3cret@h/{path}");
            let e = Target::parse(&url, None).unwrap_err().to_string();
            assert!(e.contains(&format!("`{name}`")), "{e}");
            assert!(e.contains(why), "{e}");
            assert!(e.contains("--database-url"), "{e}");
            assert!(!e.contains("s3cret"), "{e}");
        }
        let e = Target::parse("mysql://u:s3cret@h/a%FFb", None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not UTF-8"), "{e}");
        assert!(!e.contains("s3cret"), "{e}");
        let e = Target::parse("mysql://u:s3cret%FF@h/db", None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("password is not UTF-8"), "{e}");
        assert!(!e.contains("s3cret"), "{e}");
    }

    #[test]
    fn a_private_database_name_too_long_says_how_to_choose_another() {
        let course = "c".repeat(60);
        let t = Target::parse(&format!("mysql://u@h/{course}"), None).unwrap();
        let e = t.check_private_database().unwrap_err().to_string();
        assert!(e.contains(&format!("`{course}_private`")), "{e}");
        assert!(
            e.contains("--private-database") && e.contains("--no-pii"),
            "{e}"
        );

        let t = Target::parse("mysql://u@h/course", Some("secret/db")).unwrap();
        let e = t.check_private_database().unwrap_err().to_string();
        assert!(
            e.contains("`secret/db`") && e.contains("another --private-database"),
            "{e}"
        );
        let t = Target::parse("mysql://u@h/course", Some("course_pii")).unwrap();
        assert!(t.check_private_database().is_ok());
    }
}
