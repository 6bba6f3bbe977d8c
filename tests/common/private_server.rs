//! A private MariaDB server that one test owns: for faults (restart, kill) and server settings
//! (`max_allowed_packet`, lock timeouts, TLS) that must not touch the shared test server.
//!
//! It runs Debian's `mariadbd` on a free port of 127.0.0.1 with a data directory in a temporary
//! directory (copied from a template that `mariadb-install-db` initialises once per build
//! directory, which keeps a start under a second), creates the user [`USER`] with
//! [`PASSWORD`] through an init file (real password authentication, no `--skip-grant-tables`),
//! and is killed when dropped.

use std::io::Read;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The user every private server creates (with all privileges).
pub const USER: &str = "moocdb_priv";
/// Its password.
pub const PASSWORD: &str = "Priv4te-Pa55";

const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running private server.
pub struct PrivateServer {
    dir: tempfile::TempDir,
    cnf: PathBuf,
    port: u16,
    child: Option<Child>,
}

/// `name` found in PATH, `/usr/sbin` or `/sbin` (Debian keeps `mariadbd` in `/usr/sbin`, which a
/// non-root PATH lacks).
fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn programs() -> Option<(PathBuf, PathBuf)> {
    Some((
        find_program("mariadbd")?,
        find_program("mariadb-install-db")?,
    ))
}

fn current_user() -> String {
    let out = Command::new("id").arg("-un").output().expect("run id -un");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a free port")
        .port()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Settings shared by the template and every server: small and fast, since tests hold little
/// data and a crash of a test server loses nothing.
const BASE_OPTIONS: &str = "\
bind-address=127.0.0.1
skip-name-resolve
local_infile=1
innodb_buffer_pool_size=64M
innodb_log_file_size=32M
innodb_flush_log_at_trx_commit=2
performance_schema=OFF
character-set-server=utf8mb4
collation-server=utf8mb4_unicode_ci
max_connections=200
";

/// A data directory initialised once (per build directory and server version) and copied for
/// every server: `mariadb-install-db` takes seconds, a copy a fraction of one.
fn template(install_db: &Path, mariadbd: &Path) -> PathBuf {
    static TEMPLATE: OnceLock<PathBuf> = OnceLock::new();
    TEMPLATE
        .get_or_init(|| {
            let version = Command::new(mariadbd)
                .arg("--version")
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default();
            let tag: String = version
                .split_whitespace()
                .nth(2)
                .unwrap_or("unknown")
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '-')
                .collect();
            let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
            let dir = base.join(format!("mariadb-template-{tag}"));
            if dir.join("mysql").is_dir() {
                return dir;
            }
            // Build beside it and rename: a run killed half-way leaves no half template.
            let work = tempfile::Builder::new()
                .prefix("mariadb-template-work")
                .tempdir_in(&base)
                .unwrap();
            let data = work.path().join("data");
            let cnf = work.path().join("my.cnf");
            std::fs::write(
                &cnf,
                format!("[mysqld]\ndatadir={}\n{BASE_OPTIONS}", data.display()),
            )
            .unwrap();
            let out = Command::new(install_db)
                .arg(format!("--defaults-file={}", cnf.display()))
                .arg(format!("--user={}", current_user()))
                .args(["--skip-test-db", "--auth-root-authentication-method=socket"])
                .output()
                .expect("run mariadb-install-db");
            assert!(
                out.status.success(),
                "mariadb-install-db failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            // Another test binary may have won the race: keep theirs.
            if std::fs::rename(&data, &dir).is_err() {
                assert!(
                    dir.join("mysql").is_dir(),
                    "cannot create {}",
                    dir.display()
                );
            }
            dir
        })
        .clone()
}

impl PrivateServer {
    /// Starts a server with the extra `[mysqld]` option lines `options` (e.g.
    /// `"max_allowed_packet=1M"`), or returns `None`, saying so on stderr, when MariaDB is not
    /// installed.
    pub fn start(test: &str, options: &[&str]) -> Option<PrivateServer> {
        let Some((mariadbd, install_db)) = programs() else {
            eprintln!(
                "SKIPPED {test}: mariadbd is not installed (apt-get install mariadb-server; see scripts/db-server)"
            );
            return None;
        };
        let template = template(&install_db, &mariadbd);
        let dir = tempfile::Builder::new()
            .prefix("moocdb-ps")
            .tempdir()
            .unwrap();
        let data = dir.path().join("data");
        copy_dir(&template, &data);
        // A Unix socket path must fit in sun_path (108 bytes).
        let mut socket = dir.path().join("s.sock");
        if socket.as_os_str().len() > 100 {
            socket = PathBuf::from(format!("/tmp/moocdb-ps-{}.sock", free_port()));
        }
        let init = dir.path().join("init.sql");
        // Run at every start; IF NOT EXISTS makes that harmless.
        std::fs::write(
            &init,
            format!(
                "CREATE USER IF NOT EXISTS '{USER}'@'%' IDENTIFIED BY '{PASSWORD}';\n\
                 GRANT ALL PRIVILEGES ON *.* TO '{USER}'@'%' WITH GRANT OPTION;\n"
            ),
        )
        .unwrap();
        let port = free_port();
        let cnf = dir.path().join("my.cnf");
        let mut text = format!(
            "[mysqld]\nuser={}\ndatadir={}\nsocket={}\npid-file={}\nlog-error={}\nport={port}\ninit-file={}\n{BASE_OPTIONS}",
            current_user(),
            data.display(),
            socket.display(),
            dir.path().join("mariadbd.pid").display(),
            dir.path().join("error.log").display(),
            init.display(),
        );
        for option in options {
            text.push_str(option);
            text.push('\n');
        }
        std::fs::write(&cnf, text).unwrap();
        let mut server = PrivateServer {
            dir,
            cnf,
            port,
            child: None,
        };
        server.start_again();
        Some(server)
    }

    /// The URL of `database` on this server, as [`USER`] with its password; `query` (e.g.
    /// `"ssl-mode=REQUIRED"`) is appended when not empty.
    pub fn url_with(&self, database: &str, query: &str) -> String {
        let mut url = format!(
            "mysql://{USER}:{PASSWORD}@127.0.0.1:{}/{database}",
            self.port
        );
        if !query.is_empty() {
            url.push('?');
            url.push_str(query);
        }
        url
    }

    /// The URL of `database` on this server.
    pub fn url(&self, database: &str) -> String {
        self.url_with(database, "")
    }

    /// The TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's error log (for failure messages).
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(25)..].join("\n")
    }

    /// Starts the server (again, after [`kill`](Self::kill) or [`stop`](Self::stop)) and waits
    /// until it accepts connections.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "the server is already running");
        let (mariadbd, _) = programs().expect("mariadbd is installed");
        let child = Command::new(mariadbd)
            .arg(format!("--defaults-file={}", self.cnf.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mariadbd");
        self.child = Some(child);
        let started = Instant::now();
        while !self.answers() {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                self.child = None;
                panic!(
                    "mariadbd exited during start-up ({status}):\n{}",
                    self.log_tail()
                );
            }
            assert!(
                started.elapsed() < START_TIMEOUT,
                "mariadbd did not answer within {START_TIMEOUT:?}:\n{}",
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Does the server greet a TCP client (protocol 10)? The init file has run by then: the
    /// server executes it before it listens.
    fn answers(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
        let mut greeting = [0u8; 5];
        stream.read_exact(&mut greeting).is_ok() && greeting[4] == 10
    }

    /// Kills the server with SIGKILL (a crash: no shutdown, no flush) and waits for it to die.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Shuts the server down normally (SIGTERM: connections are closed, InnoDB flushes) and
    /// waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let started = Instant::now();
            while child.try_wait().unwrap().is_none() {
                if started.elapsed() > START_TIMEOUT {
                    let _ = child.kill();
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// Adds `[mysqld]` option lines for the next start; a later line overrides an earlier one of
    /// the same option.
    pub fn add_options(&mut self, options: &[&str]) {
        let mut text = std::fs::read_to_string(&self.cnf).unwrap();
        for option in options {
            text.push_str(option);
            text.push('\n');
        }
        std::fs::write(&self.cnf, text).unwrap();
    }

    /// The server's data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// A normal restart: [`stop`](Self::stop), then [`start_again`](Self::start_again).
    pub fn restart(&mut self) {
        self.stop();
        self.start_again();
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        // Its data is thrown away with the directory: no need for a clean shutdown.
        self.kill();
    }
}
