//! Throwaway PostgreSQL servers: `initdb` in a temporary directory, a free loopback port,
//! trust authentication for the test user, stopped by pid when dropped (and by a watchdog if the
//! test process dies first). When run as root, the server runs as the `postgres` user, as
//! PostgreSQL refuses to run as root.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The PostgreSQL programs of this machine.
#[derive(Debug, Clone)]
pub struct Binaries {
    dir: PathBuf,
}

impl Binaries {
    /// Finds `initdb`, `pg_ctl`, `pg_basebackup`, `psql`: `$KAKUNIN_PG_BIN`, then the newest
    /// `/usr/lib/postgresql/*/bin`, then `$PATH`.
    pub fn find() -> Option<Self> {
        let has = |d: &Path| {
            ["initdb", "pg_ctl", "pg_basebackup", "psql"]
                .iter()
                .all(|b| d.join(b).exists())
        };
        if let Some(d) = std::env::var_os("KAKUNIN_PG_BIN").map(PathBuf::from) {
            return has(&d).then_some(Self { dir: d });
        }
        let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path().join("bin"))
            .filter(|d| has(d))
            .collect();
        versions.sort_by_key(|p| {
            p.parent()
                .and_then(|v| v.file_name())
                .and_then(|v| v.to_str())
                .and_then(|v| v.parse::<u32>().ok())
                .unwrap_or(0)
        });
        if let Some(d) = versions.pop() {
            return Some(Self { dir: d });
        }
        std::env::var_os("PATH")
            .into_iter()
            .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
            .find(|d| has(d))
            .map(|dir| Self { dir })
    }

    fn bin(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

/// The PostgreSQL binaries, or `None` after printing the skip message (or panicking under
/// `KAKUNIN_REQUIRE_EXTERNAL=1`).
pub fn binaries_or_skip() -> Option<Binaries> {
    let b = Binaries::find();
    if b.is_none() {
        crate::external_missing("PostgreSQL (Debian package `postgresql`)");
    }
    b
}

fn is_root() -> bool {
    // The effective uid, read without libc: /proc/self/status "Uid: real effective …".
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

/// A command run as the user that owns the cluster.
fn as_owner(program: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn run(mut c: Command, what: &str) {
    let out = c
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

#[cfg(unix)]
fn give_to_postgres(path: &Path) {
    if is_root() {
        let out = Command::new("id")
            .args(["-u", "postgres"])
            .output()
            .expect("id postgres");
        let uid: u32 = String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("postgres user exists");
        let out = Command::new("id")
            .args(["-g", "postgres"])
            .output()
            .expect("id postgres");
        let gid: u32 = String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("postgres group");
        std::os::unix::fs::chown(path, Some(uid), Some(gid)).expect("chown to postgres");
    }
}

/// Test user with trust authentication.
pub const USER: &str = "kakunin";
/// A role that must give its password (create it with [`PgServer::create_guarded_role`]).
pub const GUARDED: &str = "guarded";

/// One running PostgreSQL server.
#[derive(Debug)]
pub struct PgServer {
    bins: Binaries,
    dir: tempfile::TempDir,
    pub port: u16,
    stopped: bool,
}

impl PgServer {
    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn new_dir() -> tempfile::TempDir {
        let dir = tempfile::Builder::new()
            .prefix("kakunin-pg-")
            .tempdir()
            .expect("temp dir");
        give_to_postgres(dir.path());
        dir
    }

    /// `initdb` and start a primary that accepts streaming replicas.
    pub fn start_primary(bins: &Binaries) -> Self {
        let dir = Self::new_dir();
        let mut c = as_owner(&bins.bin("initdb"));
        c.arg("-D").arg(dir.path().join("data"));
        c.args([
            "-A",
            "trust",
            "-U",
            USER,
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ]);
        run(c, "initdb");
        let conf = dir.path().join("data/postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).expect("postgresql.conf");
        text.push_str(
            "\nlisten_addresses = '127.0.0.1'\nwal_level = replica\nmax_wal_senders = 8\nhot_standby = on\n\
             fsync = on\nsynchronous_commit = on\nmax_connections = 200\nshared_buffers = 64MB\n\
             timezone = 'UTC'\nlog_min_messages = warning\n",
        );
        std::fs::write(&conf, text).expect("write postgresql.conf");
        let hba = dir.path().join("data/pg_hba.conf");
        let text = std::fs::read_to_string(&hba).expect("pg_hba.conf");
        // The role `guarded` needs a password (for tests of wrong credentials); everyone else
        // is trusted on loopback.
        let text = format!("host all {GUARDED} 127.0.0.1/32 scram-sha-256\n{text}\nhost replication all 127.0.0.1/32 trust\n");
        std::fs::write(&hba, text).expect("write pg_hba.conf");
        let mut s = Self {
            bins: bins.clone(),
            dir,
            port: free_port(),
            stopped: true,
        };
        s.start();
        s
    }

    /// A streaming replica of `primary` (`pg_basebackup -R`). With `synchronous`, the primary
    /// waits for this replica before acknowledging a commit (no acknowledged write is lost when
    /// it is promoted).
    pub fn start_replica(primary: &PgServer, synchronous: bool) -> Self {
        let dir = Self::new_dir();
        let name = format!("replica{}", free_port());
        let mut c = as_owner(&primary.bins.bin("pg_basebackup"));
        c.arg("-D").arg(dir.path().join("data"));
        c.args([
            "-h",
            "127.0.0.1",
            "-p",
            &primary.port.to_string(),
            "-U",
            USER,
            "-R",
            "-X",
            "stream",
            "--no-sync",
            "--checkpoint=fast",
        ]);
        run(c, "pg_basebackup");
        let auto = dir.path().join("data/postgresql.auto.conf");
        let mut text = std::fs::read_to_string(&auto).unwrap_or_default();
        // Name the replica so the primary can require it as a synchronous standby.
        text = text.replace(
            "primary_conninfo = '",
            &format!("primary_conninfo = 'application_name={name} "),
        );
        std::fs::write(&auto, text).expect("write postgresql.auto.conf");
        let mut s = Self {
            bins: primary.bins.clone(),
            dir,
            port: free_port(),
            stopped: true,
        };
        s.start();
        if synchronous {
            primary.psql(
                "postgres",
                &format!("ALTER SYSTEM SET synchronous_standby_names = '{name}'"),
            );
            primary.psql("postgres", "SELECT pg_reload_conf()");
        }
        s
    }

    fn start(&mut self) {
        let mut c = as_owner(&self.bins.bin("pg_ctl"));
        c.arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(self.dir.path().join("server.log"));
        c.arg("-o")
            .arg(format!("-p {} -k {}", self.port, self.dir.path().display()));
        c.args(["-w", "-t", "60", "start"]);
        run(c, "pg_ctl start");
        self.stopped = false;
        self.watchdog();
    }

    /// Stops the server when this test process ends, even if it dies without dropping us.
    fn watchdog(&self) {
        let script = format!(
            "while [ -d /proc/{pid} ]; do sleep 1; done; \
             if [ -f '{pidfile}' ]; then p=$(head -1 '{pidfile}'); kill -INT $p 2>/dev/null; \
             while [ -d /proc/$p ]; do sleep 0.2; done; fi; rm -rf '{dir}'; exit 0",
            pid = std::process::id(),
            pidfile = self.data().join("postmaster.pid").display(),
            dir = self.dir.path().display()
        );
        let _ = Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
    }

    /// The postmaster's pid.
    pub fn pid(&self) -> Option<i32> {
        std::fs::read_to_string(self.data().join("postmaster.pid"))
            .ok()?
            .lines()
            .next()?
            .trim()
            .parse()
            .ok()
    }

    /// Stops the server by pid (fast shutdown) and waits for it to exit.
    pub fn stop(&mut self) {
        self.signal("INT");
    }

    /// Kills the server abruptly (SIGKILL to the postmaster and its children), like a crash.
    pub fn crash(&mut self) {
        if let Some(pid) = self.pid() {
            let _ = Command::new("pkill")
                .args(["-KILL", "-P", &pid.to_string()])
                .status();
        }
        self.signal("KILL");
    }

    fn signal(&mut self, sig: &str) {
        if self.stopped {
            return;
        }
        if let Some(pid) = self.pid() {
            let _ = Command::new("kill")
                .arg(format!("-{sig}"))
                .arg(pid.to_string())
                .status();
            let deadline = Instant::now() + Duration::from_secs(30);
            while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        self.stopped = true;
    }

    /// Promotes a replica to primary.
    pub fn promote(&self) {
        let mut c = as_owner(&self.bins.bin("pg_ctl"));
        c.arg("-D").arg(self.data()).args(["-w", "promote"]);
        run(c, "pg_ctl promote");
    }

    /// Runs SQL with psql and returns its unaligned output.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let out = Command::new(self.bins.bin("psql"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                USER,
                "-d",
                db,
                "-XAtq",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
            ])
            .stdin(Stdio::null())
            .output()
            .expect("psql");
        assert!(
            out.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Creates the password-protected role [`GUARDED`] with `password`, owning database `db`.
    pub fn create_guarded_role(&self, password: &str, db: &str) {
        self.psql(
            "postgres",
            &format!("CREATE ROLE {GUARDED} LOGIN PASSWORD '{password}'"),
        );
        self.psql("postgres", &format!("CREATE DATABASE {db} OWNER {GUARDED}"));
    }

    /// Creates a database and returns its URL.
    pub fn create_database(&self, name: &str) -> String {
        self.psql("postgres", &format!("CREATE DATABASE {name}"));
        self.url(name)
    }

    /// `postgres://kakunin@127.0.0.1:PORT/DB`.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://{USER}@127.0.0.1:{}/{db}", self.port)
    }

    /// The server log, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A fresh database on one PostgreSQL primary shared by the whole test binary (started on first
/// use), named `{prefix}{n}`; `None` when PostgreSQL is not installed (after the visible skip).
pub fn shared_database(prefix: &str) -> Option<String> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::OnceLock;
    static CLUSTER: OnceLock<Option<PgServer>> = OnceLock::new();
    static N: AtomicUsize = AtomicUsize::new(0);
    let pg = CLUSTER
        .get_or_init(|| binaries_or_skip().map(|b| PgServer::start_primary(&b)))
        .as_ref()?;
    Some(pg.create_database(&format!("{prefix}{}", N.fetch_add(1, Ordering::Relaxed))))
}
