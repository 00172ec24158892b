//! `kakunin backup` and `kakunin restore` through the real binary: a restore drill after a
//! simulated ransomware attack (SQLite; PostgreSQL when installed), retention and read-only
//! generations, and tampered generations refused without touching the data directory.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_kakunin");

fn kakunin(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("KAKUNIN_DATA")
        .env_remove("KAKUNIN_DATABASE_URL")
        .output()
        .expect("run kakunin")
}

fn ok(args: &[&str]) -> String {
    let out = kakunin(args);
    assert!(
        out.status.success(),
        "kakunin {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs a command that must fail and returns its stderr.
fn refused(args: &[&str]) -> String {
    let out = kakunin(args);
    assert!(
        !out.status.success(),
        "kakunin {args:?} should have been refused: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

struct Running(Child);
impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `kakunin central` on a free port; returns it with its URL.
fn central(data: &Path, extra: &[&str]) -> (Running, String) {
    let mut child = Command::new(BIN)
        .args(["central", "--data", data.to_str().unwrap()])
        .args(["--listen", "127.0.0.1:0"])
        .args(extra)
        .env_remove("KAKUNIN_DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.trim().rsplit(' ').next().unwrap().to_string();
    assert!(url.starts_with("https://127.0.0.1:"), "{line}");
    (Running(child), url)
}

/// The insurance numbers of a person to check.
#[derive(Clone)]
struct Person {
    insurer: String,
    symbol: Option<String>,
    number: String,
    branch: Option<String>,
    birthdate: String,
}

/// An eligibility check by numbers: (validity, results) of the JSON answer.
#[derive(Clone)]
struct Checker {
    url: String,
    ca: PathBuf,
    identity: PathBuf,
    person: Person,
    date: Option<String>,
}

impl Checker {
    fn args(&self) -> Vec<String> {
        let p = &self.person;
        let mut a: Vec<String> = vec!["check".into(), "--server".into(), self.url.clone()];
        a.extend(["--ca".into(), self.ca.display().to_string()]);
        a.extend(["--identity".into(), self.identity.display().to_string()]);
        a.extend(["--insurer".into(), p.insurer.clone()]);
        if let Some(s) = &p.symbol {
            a.extend(["--symbol".into(), s.clone()]);
        }
        a.extend(["--number".into(), p.number.clone()]);
        if let Some(b) = &p.branch {
            a.extend(["--branch".into(), b.clone()]);
        }
        a.extend(["--birthdate".into(), p.birthdate.clone()]);
        if let Some(d) = &self.date {
            a.extend(["--date".into(), d.clone()]);
        }
        a.push("--json".into());
        a
    }

    fn try_check(&self) -> Option<serde_json::Value> {
        let args = self.args();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = kakunin(&args);
        if !out.status.success() {
            return None;
        }
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        Some(serde_json::json!({ "validity": v["validity"], "results": v["results"] }))
    }

    fn check(&self) -> serde_json::Value {
        let answer = self.try_check().expect("the check answers");
        assert_eq!(answer["validity"], "1", "{answer}");
        answer
    }
}

/// Checks in a loop on another thread (a central serving while backups are taken).
struct Traffic {
    stop: Arc<AtomicBool>,
    done: Arc<AtomicUsize>,
    failed: Arc<AtomicUsize>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Traffic {
    fn start(checker: &Checker) -> Self {
        let (stop, done, failed) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
        );
        let thread = {
            let (stop, done, failed, checker) =
                (stop.clone(), done.clone(), failed.clone(), checker.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match checker.try_check() {
                        Some(a) if a["validity"] == "1" => done.fetch_add(1, Ordering::Relaxed),
                        _ => failed.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        };
        Self {
            stop,
            done,
            failed,
            thread: Some(thread),
        }
    }

    /// Waits until `n` more checks have been answered.
    fn wait_for_more(&self, n: usize) {
        let target = self.done.load(Ordering::Relaxed) + n;
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.done.load(Ordering::Relaxed) < target {
            assert!(Instant::now() < deadline, "no checks answered");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops; returns (answered, failed).
    fn stop(mut self) -> (usize, usize) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        (
            self.done.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        )
    }
}

/// (row count, highest id) of the SQLite store's access log.
fn access_log(db: &Path) -> (i64, i64) {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    conn.busy_timeout(Duration::from_secs(10)).unwrap();
    conn.query_row(
        "SELECT count(*), coalesce(max(id), 0) FROM access_log",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .unwrap()
}

/// Every file under `dir` with its content (the state a refused restore must leave alone).
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    for path in files_under(dir) {
        let bytes = std::fs::read(&path).unwrap();
        out.insert(path.strip_prefix(dir).unwrap().to_path_buf(), bytes);
    }
    out
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            out.extend(files_under(&entry.path()));
        } else {
            out.push(entry.path());
        }
    }
    out.sort();
    out
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn generations(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    names
}

/// The generation path a backup printed.
fn generation_of(output: &str) -> PathBuf {
    let line = output.lines().next().unwrap_or_default();
    PathBuf::from(
        line.split(": ")
            .nth(1)
            .unwrap_or_else(|| panic!("{output}")),
    )
}

/// A generation is sealed: directories 0555, files 0444, a manifest naming every file.
fn assert_read_only(generation: &Path) {
    assert_eq!(mode(generation), 0o555, "{}", generation.display());
    assert!(generation.join("manifest.json").is_file());
    let mut stack = vec![generation.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                assert_eq!(mode(&path), 0o555, "{}", path.display());
                stack.push(path);
            } else {
                assert_eq!(mode(&path), 0o444, "{}", path.display());
            }
        }
    }
}

/// A small deterministic generator for the "attacker's" bytes.
fn noise(seed: &mut u64, len: usize) -> Vec<u8> {
    (0..len.max(64))
        .map(|_| {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            (*seed >> 24) as u8
        })
        .collect()
}

/// What ransomware does to a data directory: every file overwritten with noise and renamed
/// `….locked`, and a note left behind.
fn ransomware(dir: &Path) {
    let mut seed = 0x9e37_79b9_7f4a_7c15;
    for path in files_under(dir) {
        let len = std::fs::metadata(&path).unwrap().len() as usize;
        std::fs::write(&path, noise(&mut seed, len)).unwrap();
        let mut locked = path.clone().into_os_string();
        locked.push(".locked");
        std::fs::rename(&path, locked).unwrap();
    }
    std::fs::write(dir.join("README_RESTORE_FILES.txt"), "pay us").unwrap();
}

/// A writable copy of a generation (to tamper with).
fn copy_generation(from: &Path, to: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_generation(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
    }
}

/// Kills a process (SIGKILL, like a crash) and waits for it: its open files close with it.
fn kill(mut running: Running) {
    let _ = running.0.kill();
    let _ = running.0.wait();
}

fn demo_person(data: &Path) -> Person {
    let samples: serde_json::Value =
        serde_json::from_slice(&std::fs::read(data.join("demo-samples.json")).unwrap()).unwrap();
    let s = samples
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["validity"] == "1")
        .unwrap();
    let text = |k: &str| s[k].as_str().map(str::to_string);
    Person {
        insurer: text("insurer_number").unwrap(),
        symbol: text("symbol"),
        number: text("number").unwrap(),
        branch: text("branch"),
        birthdate: text("birthdate").unwrap(),
    }
}

/// The drill on SQLite: backups while the central serves, retention, an offline copy, a
/// "ransomware" attack, refusals of tampered generations, the restore and the same answer.
#[test]
fn restore_drill_after_ransomware() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let backups = dir.path().join("backups");
    let offline = dir.path().join("offline");
    std::fs::create_dir(&offline).unwrap();
    let d = data.to_str().unwrap();
    let b = backups.to_str().unwrap();
    ok(&[
        "demo",
        "--data",
        d,
        "--people",
        "300",
        "--cards",
        "2",
        "--medical",
        "10",
        "--listen",
        "127.0.0.1:0",
        "--terminal-listen",
        "127.0.0.1:0",
        "--card-helper-listen",
        "127.0.0.1:0",
        "--ops-listen",
        "127.0.0.1:0",
        "--smoke",
    ]);
    let db = data.join("kakunin.sqlite3");

    // Settings that are refused change nothing.
    let err = refused(&["backup", "--data", d, "--to", b, "--keep", "2"]);
    assert!(err.contains("3 世代以上"), "{err}");
    let inside = data.join("backups");
    let err = refused(&["backup", "--data", d, "--to", inside.to_str().unwrap()]);
    assert!(err.contains("データディレクトリの中"), "{err}");
    assert!(!backups.exists() && !inside.exists(), "nothing was created");
    // An offline medium that is not mounted: the generation is made, the run fails loudly.
    let missing = dir.path().join("not-mounted");
    let err = refused(&[
        "backup",
        "--data",
        d,
        "--to",
        b,
        "--offline-copy",
        missing.to_str().unwrap(),
    ]);
    assert!(err.contains("媒体をつないで"), "{err}");
    assert_eq!(generations(&backups).len(), 1);

    let (running, url) = central(&data, &[]);
    let checker = Checker {
        url,
        ca: data.join("ca.pem"),
        identity: data.join("identities/institution.pem"),
        person: demo_person(&data),
        date: None,
    };
    let before = checker.check();

    // Four backups while the central answers checks; the first also to the offline medium.
    let traffic = Traffic::start(&checker);
    let mut made = Vec::new();
    let mut logged_before_last = (0, 0);
    for i in 0..4 {
        traffic.wait_for_more(2);
        logged_before_last = access_log(&db);
        let mut args = vec!["backup", "--data", d, "--to", b, "--keep", "3"];
        if i == 0 {
            args.extend(["--offline-copy", offline.to_str().unwrap()]);
        }
        let out = ok(&args);
        assert!(out.contains("SQLite 4 個"), "{out}");
        if i == 0 {
            assert!(out.contains("オフラインコピー"), "{out}");
        }
        made.push(generation_of(&out));
    }
    traffic.wait_for_more(2);
    let (answered, failed) = traffic.stop();
    assert_eq!(failed, 0, "every check during the backups was answered");
    assert!(answered >= 10, "{answered}");
    assert!(logged_before_last.0 > 0);

    // Only the newest three remain, sealed; the offline copy is sealed and verifies.
    let kept = generations(&backups);
    assert_eq!(kept.len(), 3, "{kept:?}");
    let newest = made.last().unwrap().clone();
    for g in &made[1..] {
        assert!(kept.contains(&g.file_name().unwrap().to_string_lossy().into_owned()));
        assert_read_only(g);
    }
    assert!(!made[0].exists(), "the oldest generation was deleted");
    let offline_copy = offline.join(made[0].file_name().unwrap());
    assert_read_only(&offline_copy);
    let out = ok(&[
        "restore",
        "--from",
        offline_copy.to_str().unwrap(),
        "--verify",
    ]);
    assert!(
        out.contains("検証OK") && out.contains("何も復元していません"),
        "{out}"
    );

    // Not over a running central.
    let err = refused(&["restore", "--from", newest.to_str().unwrap(), "--data", d]);
    assert!(err.contains("pid"), "{err}");
    // Killed after answering more checks: its write-ahead log is newer than the backup.
    kill(running);
    let err = refused(&["restore", "--from", newest.to_str().unwrap(), "--data", d]);
    assert!(err.contains("--force"), "{err}");
    assert!(err.contains("kakunin.sqlite3-wal"), "{err}");

    // The attack.
    ransomware(&data);
    assert!(!db.exists());
    let attacked = snapshot(&data);
    // The next nightly backup stops instead of pushing a good generation out.
    let err = refused(&["backup", "--data", d, "--to", b, "--keep", "3"]);
    assert!(err.contains("kakunin.sqlite3"), "{err}");
    assert_eq!(generations(&backups), kept);

    // Tampered generations are refused, each naming the file, and change nothing.
    let tampered = |name: &str, change: &dyn Fn(&Path)| -> String {
        let copy = dir.path().join(name);
        copy_generation(&newest, &copy);
        change(&copy);
        let from = copy.to_str().unwrap().to_string();
        let err = refused(&["restore", "--from", &from, "--data", d, "--verify"]);
        assert!(err.contains("何も変更していません"), "{err}");
        assert_eq!(
            snapshot(&data),
            attacked,
            "{name}: the data directory changed"
        );
        err
    };
    let err = tampered("one-byte", &|g| {
        let path = g.join("data/kakunin.sqlite3");
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[5000] ^= 1;
        std::fs::write(&path, bytes).unwrap();
    });
    assert!(err.contains("data/kakunin.sqlite3: SHA-256"), "{err}");
    // Without --verify too: every file is checked as it is staged.
    let copy = dir.path().join("one-byte");
    let err = refused(&["restore", "--from", copy.to_str().unwrap(), "--data", d]);
    assert!(err.contains("data/kakunin.sqlite3"), "{err}");
    assert_eq!(snapshot(&data), attacked);
    let err = tampered("removed", &|g| {
        std::fs::remove_file(g.join("data/identities/institution.pem")).unwrap();
    });
    assert!(
        err.contains("data/identities/institution.pem: ファイルがありません"),
        "{err}"
    );
    let err = tampered("extra", &|g| {
        std::fs::write(g.join("data/authority/keys/extra.pem"), "x").unwrap();
    });
    assert!(err.contains("data/authority/keys/extra.pem"), "{err}");
    let err = tampered("escaping", &|g| {
        let path = g.join("manifest.json");
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replace("data/ca.pem", "data/../ca.pem")).unwrap();
    });
    assert!(err.contains("不正なパス"), "{err}");

    // The restore.
    let out = ok(&[
        "restore",
        "--from",
        newest.to_str().unwrap(),
        "--data",
        d,
        "--verify",
    ]);
    assert!(out.contains("検証OK"), "{out}");
    assert!(out.contains("復旧にかかった時間"), "{out}");
    assert!(
        out.contains("audit chains verified"),
        "the restore checks the audit chains: {out}"
    );
    let aside: Vec<PathBuf> = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(".before-restore-")
        })
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert!(
        aside[0].join("kakunin.sqlite3.locked").is_file(),
        "the encrypted files are kept aside"
    );
    assert!(aside[0].join("README_RESTORE_FILES.txt").is_file());
    assert!(!data.join("README_RESTORE_FILES.txt").exists());
    assert_eq!(mode(&data.join("ca-key.pem")), 0o600);
    assert_eq!(mode(&data.join("identities/institution.pem")), 0o600);
    assert_eq!(mode(&db) & 0o200, 0o200, "writable again");

    // Every access-log entry written before the last backup started is back, and the audit
    // chains verify.
    let conn =
        rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let kept_entries: i64 = conn
        .query_row(
            "SELECT count(*) FROM access_log WHERE id <= ?1",
            [logged_before_last.1],
            |r| r.get(0),
        )
        .unwrap();
    drop(conn);
    assert_eq!(kept_entries, logged_before_last.0);
    ok(&["audit", "verify", "--data", d]);

    // The restored central answers the same check.
    let (_running, url) = central(&data, &[]);
    let after = Checker { url, ..checker }.check();
    assert_eq!(after, before);
    assert!(access_log(&db).0 > logged_before_last.0);
}

/// The drill with the store in PostgreSQL: pg_dump while the central serves, the database
/// dropped by the "attacker", pg_restore, the same answer.
#[test]
fn restore_drill_on_postgres() {
    let Some(bins) = kakunin_testkit::pg::binaries_or_skip() else {
        return;
    };
    let pg = kakunin_testkit::pg::PgServer::start_primary(&bins);
    let url = pg.create_database("kakunin");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let backups = dir.path().join("backups");
    let d = data.to_str().unwrap();
    let b = backups.to_str().unwrap();
    ok(&[
        "seed",
        "--data",
        d,
        "--database",
        &url,
        "--people",
        "200",
        "--rng-seed",
        "3",
        "--as-of",
        "20261124",
    ]);
    ok(&["ca", "init", "--data", d]);
    let clinic = dir.path().join("clinic.pem");
    ok(&[
        "ca",
        "issue",
        "--data",
        d,
        "--role",
        "institution",
        "--id",
        "0110113719",
        "--out",
        clinic.to_str().unwrap(),
    ]);
    let row = pg.psql(
        "kakunin",
        "SELECT q.insurer_number, v.symbol_raw, v.number_raw, q.branch, v.birthdate FROM qualifications q
         JOIN qualification_versions v ON v.id = q.current_version_id
         WHERE v.disqualification_date IS NULL AND v.symbol_raw ~ '^[0-9]+$' AND q.branch <> '' ORDER BY q.id LIMIT 1",
    );
    let f: Vec<&str> = row.split('|').collect();
    let (running, server) = central(&data, &["--database", &url]);
    let checker = Checker {
        url: server,
        ca: data.join("ca.pem"),
        identity: clinic.clone(),
        person: Person {
            insurer: f[0].into(),
            symbol: Some(f[1].into()),
            number: f[2].into(),
            branch: Some(f[3].into()),
            birthdate: f[4].into(),
        },
        date: Some("20261124".into()),
    };
    let before = checker.check();
    let traffic = Traffic::start(&checker);
    traffic.wait_for_more(2);
    let logged = pg.psql("kakunin", "SELECT count(*), max(id) FROM access_log");
    let out = ok(&[
        "backup",
        "--data",
        d,
        "--database",
        &url,
        "--to",
        b,
        "--keep",
        "3",
    ]);
    assert!(out.contains("pg_dump"), "{out}");
    traffic.wait_for_more(2);
    let (_, failed) = traffic.stop();
    assert_eq!(failed, 0);
    let generation = generation_of(&out);
    assert_read_only(&generation);
    let manifest = std::fs::read_to_string(generation.join("manifest.json")).unwrap();
    assert!(manifest.contains("\"postgres.dump\""), "{manifest}");
    assert!(
        !manifest.contains("postgres://"),
        "no connection URL in the manifest"
    );
    let g = generation.to_str().unwrap();
    let out = ok(&["restore", "--from", g, "--verify"]);
    assert!(out.contains("pg_dump の目次"), "{out}");

    // Not while the central is connected; not without the database to restore into.
    let err = refused(&["restore", "--from", g, "--data", d, "--database", &url]);
    assert!(err.contains("止めて"), "{err}");
    let err = refused(&["restore", "--from", g, "--data", d]);
    assert!(err.contains("--database"), "{err}");
    kill(running);
    let deadline = Instant::now() + Duration::from_secs(20);
    while pg.psql(
        "kakunin",
        "SELECT count(*) FROM pg_stat_activity WHERE datname = 'kakunin' AND pid <> pg_backend_pid()",
    ) != "0"
    {
        assert!(Instant::now() < deadline, "the central's sessions did not end");
        std::thread::sleep(Duration::from_millis(100));
    }

    // The attack: tables dropped, a note left (the rest of the schema, partitioned access log
    // included, is still there), the data directory encrypted.
    pg.psql(
        "kakunin",
        "DROP TABLE qualification_versions, qualifications CASCADE; CREATE TABLE ransom_note (t text)",
    );
    ransomware(&data);

    let out = ok(&[
        "restore",
        "--from",
        g,
        "--data",
        d,
        "--database",
        &url,
        "--verify",
    ]);
    assert!(out.contains("pg_dump の目次"), "{out}");
    assert!(out.contains("pg_restore"), "{out}");
    // What the attacker left is kept aside in its own schema, not in the restored one.
    let aside = pg.psql(
        "kakunin",
        "SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relname = 'ransom_note'",
    );
    assert!(aside.starts_with("kakunin_before_restore_"), "{aside}");
    assert!(out.contains(&aside), "{out}");
    let (count, max_id) = logged.split_once('|').unwrap();
    assert_eq!(
        pg.psql(
            "kakunin",
            &format!("SELECT count(*) FROM access_log WHERE id <= {max_id}")
        ),
        count,
        "the access log written before the backup is back"
    );
    ok(&["audit", "verify", "--data", d, "--database", &url]);
    let (_running, server) = central(&data, &["--database", &url]);
    let after = Checker {
        url: server,
        ..checker
    }
    .check();
    assert_eq!(after, before);
}
