//! The folder watcher: picks request files up from `req/`, answers them in `res/`.
//!
//! - **Pick-up.** Filesystem events (through `notify`) and a scan of `req/` every
//!   [`WatchConfig::scan_every`] (events can be lost: an overflowing queue, a network share).
//! - **Never a half-written file.** A file that arrived by rename (the recommended way for a
//!   レセコン: write elsewhere, then move into `req/`) is taken at once; any other file only when
//!   its size and modification time are the same at two looks [`WatchConfig::settle`] apart.
//!   Names the terminal cannot answer at all must stay unchanged for
//!   [`WatchConfig::settle_unknown`] (a レセコン's own temporary file in `req/` is left alone
//!   while it is in use). Hidden files (`.…`) and temporary names (`…tmp`, `…part`, `…~`,
//!   `~$…`) are ignored.
//! - **Claimed by rename.** A ready file is moved into `work/` under a unique name before it is
//!   read, so the request name is free again at once: a name reused while the first file is
//!   being answered is a new request (answered after the first, its result replacing the first
//!   one's). After a crash, `work/` is moved back into `req/` at start and answered again.
//! - **Bounded.** At most [`WatchConfig::concurrency`] files are answered at a time, oldest
//!   (modification time, then name) first; thousands of files wait as directory entries.
//! - **Results atomically.** Written to a hidden temporary name in `res/`, flushed to disk, then
//!   renamed to the response name (replacing an earlier result of the same name).
//! - **After answering** the request is deleted (the result holds the answer; no personal data
//!   is kept twice). A file that cannot be answered at all (not a request name) is moved to
//!   `error/`, where files older than 7 days are deleted.
//! - **Never stops.** Every error is logged (the family and a code, never a name or content:
//!   request names may carry patient ids) and the loop goes on.

use super::process::Processor;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::{mpsc, Semaphore};

/// How long `error/` keeps a file.
const ERROR_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// The folders under the interface's root.
#[derive(Debug, Clone)]
pub struct Folders {
    pub root: PathBuf,
    /// Requests from the レセコン.
    pub req: PathBuf,
    /// Results.
    pub res: PathBuf,
    /// Unsolicited results (kiosk checks, later confirmations).
    pub face: PathBuf,
    /// Requests being answered (the terminal's own).
    pub work: PathBuf,
    /// Files that could not be answered at all.
    pub error: PathBuf,
}

impl Folders {
    pub fn new(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
            req: root.join("req"),
            res: root.join("res"),
            face: root.join("face"),
            work: root.join("work"),
            error: root.join("error"),
        }
    }

    /// Creates the folders that are missing.
    pub fn create(&self) -> std::io::Result<()> {
        for d in [&self.req, &self.res, &self.face, &self.work, &self.error] {
            std::fs::create_dir_all(d)?;
        }
        Ok(())
    }
}

/// Timing and limits of the watcher.
#[derive(Debug, Clone)]
pub struct WatchConfig {
    /// Files answered at a time.
    pub concurrency: usize,
    /// The safety-net scan of `req/`.
    pub scan_every: Duration,
    /// Between the two looks at a file that did not arrive by rename.
    pub settle: Duration,
    /// How long a file without a request name must stay unchanged before it goes to `error/`.
    pub settle_unknown: Duration,
}

impl Default for WatchConfig {
    fn default() -> Self {
        Self {
            concurrency: 16,
            scan_every: Duration::from_millis(500),
            settle: Duration::from_millis(150),
            settle_unknown: Duration::from_secs(10),
        }
    }
}

/// Names the watcher leaves alone: hidden files and temporary names.
pub fn ignored(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    name.starts_with('.')
        || name.starts_with("~$")
        || name.ends_with('~')
        || lower.ends_with(".tmp")
        || lower.ends_with(".part")
}

static TEMP: AtomicU64 = AtomicU64::new(0);

/// Writes `bytes` as `dir/name` atomically: a hidden temporary file in the same folder,
/// flushed to disk, renamed over `name`, and the folder flushed (Unix).
pub fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = dir.join(format!(
        ".{name}.{}-{}.tmp",
        std::process::id(),
        TEMP.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, dir.join(name))?;
        #[cfg(unix)]
        std::fs::File::open(dir)?.sync_all()?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Moves `from` into `dir` under `name`, or `name.1`, `name.2`, … when taken.
fn move_aside(from: &Path, dir: &Path, name: &str) -> std::io::Result<()> {
    let mut target = dir.join(name);
    let mut n = 0;
    while target.exists() {
        n += 1;
        target = dir.join(format!("{name}.{n}"));
    }
    std::fs::rename(from, target)
}

/// A file seen in `req/`, waiting to be stable.
struct Candidate {
    /// When it was last seen changed (or first seen).
    since: Instant,
    len: u64,
    mtime: Option<SystemTime>,
    /// Arrived by rename: ready at once.
    renamed: bool,
}

/// What the scheduler learns from the filesystem.
enum Seen {
    /// A file changed or appeared (`renamed` when it arrived by rename).
    Path { name: OsString, renamed: bool },
    /// Events were lost: scan now.
    Rescan,
}

/// The watcher's handle: [`run`] owns the loop.
pub struct Watcher {
    folders: Folders,
    config: WatchConfig,
    processor: Arc<Processor>,
}

impl Watcher {
    pub fn new(folders: Folders, config: WatchConfig, processor: Arc<Processor>) -> Self {
        Self {
            folders,
            config,
            processor,
        }
    }

    /// Moves requests left in `work/` by a stopped terminal back into `req/`.
    fn recover(&self) {
        let Ok(entries) = std::fs::read_dir(&self.folders.work) else {
            return;
        };
        let mut n = 0;
        for e in entries.flatten() {
            let Some(name) = e.file_name().to_str().map(str::to_string) else {
                continue;
            };
            // `work/` names are `<sequence>-<request name>`.
            let original = name.split_once('-').map_or(name.as_str(), |(_, n)| n);
            let back = self.folders.req.join(original);
            if back.exists() {
                // A newer file of the same name is waiting: it supersedes this one.
                let _ = std::fs::remove_file(e.path());
            } else if std::fs::rename(e.path(), back).is_ok() {
                n += 1;
            }
        }
        if n > 0 {
            tracing::info!(n, "requests interrupted by a stop are answered again");
        }
    }

    /// Watches and answers until the task is aborted.
    pub async fn run(self) {
        self.recover();
        let (tx, mut rx) = mpsc::channel::<Seen>(8192);
        let overflow = Arc::new(AtomicBool::new(false));
        let _events = self.events(tx.clone(), overflow.clone());
        let (done_tx, mut done_rx) = mpsc::unbounded_channel::<OsString>();
        let permits = Arc::new(Semaphore::new(self.config.concurrency.max(1)));
        let mut s = State::default();
        let mut seq: u64 = 0;
        let mut tick = tokio::time::interval(Duration::from_millis(25));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut scan = tokio::time::interval(self.config.scan_every);
        scan.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut last_cleanup: Option<Instant> = None;
        loop {
            tokio::select! {
                Some(seen) = rx.recv() => match seen {
                    Seen::Path { name, renamed } => s.saw(name, renamed),
                    Seen::Rescan => self.scan(&mut s).await,
                },
                Some(name) = done_rx.recv() => {
                    s.in_flight.remove(&name);
                }
                _ = scan.tick() => {
                    if overflow.swap(false, Ordering::Relaxed) {
                        tracing::warn!("filesystem events were lost; scanning");
                    }
                    self.scan(&mut s).await;
                    s.backoff.retain(|_, t| t.elapsed() < Duration::from_secs(10));
                    if last_cleanup.is_none_or(|t| t.elapsed() > Duration::from_secs(3600)) {
                        last_cleanup = Some(Instant::now());
                        let dir = self.folders.error.clone();
                        tokio::task::spawn_blocking(move || clean_errors(&dir));
                    }
                }
                _ = tick.tick() => {}
            }
            self.settle(&mut s);
            // Oldest first; a name being answered waits for its first file's answer.
            let mut waiting = Vec::new();
            while let Some((mtime, name)) = s.ready.pop_first() {
                if s.in_flight.contains(&name) {
                    waiting.push((mtime, name));
                    continue;
                }
                let Ok(permit) = permits.clone().try_acquire_owned() else {
                    s.ready.insert((mtime, name));
                    break;
                };
                s.ready_names.remove(&name);
                seq += 1;
                let Some(text) = name.to_str().map(str::to_string) else {
                    // Not UTF-8: no request name at all.
                    let _ = move_aside(
                        &self.folders.req.join(&name),
                        &self.folders.error,
                        &name.to_string_lossy(),
                    );
                    tracing::warn!("a file without a request name was moved to error/");
                    continue;
                };
                let work = self.folders.work.join(format!("{seq}-{text}"));
                match std::fs::rename(self.folders.req.join(&name), &work) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        tracing::info!("a request file disappeared before it was read");
                        continue;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot take a request file; retrying later");
                        s.backoff.insert(name, Instant::now());
                        continue;
                    }
                }
                s.in_flight.insert(name.clone());
                let (folders, processor, done) = (
                    self.folders.clone(),
                    self.processor.clone(),
                    done_tx.clone(),
                );
                tokio::spawn(async move {
                    answer(&folders, &processor, &text, &work).await;
                    drop(permit);
                    let _ = done.send(name);
                });
            }
            s.ready.extend(waiting);
        }
    }

    /// Starts the filesystem watcher; `None` (scans only) when the platform refuses one.
    fn events(
        &self,
        tx: mpsc::Sender<Seen>,
        overflow: Arc<AtomicBool>,
    ) -> Option<notify::RecommendedWatcher> {
        use notify::event::{EventKind, ModifyKind, RenameMode};
        use notify::Watcher as _;
        let req = self.folders.req.clone();
        let handler = move |event: notify::Result<notify::Event>| {
            let Ok(event) = event else {
                overflow.store(true, Ordering::Relaxed);
                let _ = tx.try_send(Seen::Rescan);
                return;
            };
            if event.need_rescan() {
                overflow.store(true, Ordering::Relaxed);
                let _ = tx.try_send(Seen::Rescan);
            }
            let paths: Vec<&PathBuf> = match event.kind {
                EventKind::Modify(ModifyKind::Name(RenameMode::From)) | EventKind::Remove(_) => {
                    return
                }
                // [from, to]: the file now has the second name.
                EventKind::Modify(ModifyKind::Name(RenameMode::Both)) => {
                    event.paths.get(1).into_iter().collect()
                }
                _ => event.paths.iter().collect(),
            };
            let renamed = matches!(
                event.kind,
                EventKind::Modify(ModifyKind::Name(RenameMode::To | RenameMode::Both))
            );
            for p in paths {
                if p.parent() != Some(req.as_path()) {
                    continue;
                }
                let Some(name) = p.file_name() else { continue };
                if name.to_str().is_some_and(ignored) {
                    continue;
                }
                let seen = Seen::Path {
                    name: name.to_os_string(),
                    renamed,
                };
                if tx.try_send(seen).is_err() {
                    overflow.store(true, Ordering::Relaxed);
                }
            }
        };
        match notify::recommended_watcher(handler) {
            Ok(mut w) => match w.watch(&self.folders.req, notify::RecursiveMode::NonRecursive) {
                Ok(()) => Some(w),
                Err(e) => {
                    tracing::warn!(error = %e, "no filesystem events for req/; scanning only");
                    None
                }
            },
            Err(e) => {
                tracing::warn!(error = %e, "no filesystem watcher; scanning req/ only");
                None
            }
        }
    }

    /// Adds the files in `req/` not known yet.
    async fn scan(&self, s: &mut State) {
        let req = self.folders.req.clone();
        let names = tokio::task::spawn_blocking(move || -> Vec<OsString> {
            let Ok(entries) = std::fs::read_dir(&req) else {
                return Vec::new();
            };
            entries
                .flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                .map(|e| e.file_name())
                .filter(|n| !n.to_str().is_some_and(ignored))
                .collect()
        })
        .await
        .unwrap_or_default();
        for name in names {
            if !s.in_flight.contains(&name) && !s.ready_names.contains(&name) {
                s.candidates.entry(name).or_insert_with(Candidate::new);
            }
        }
    }

    /// Looks at the candidates due for a look and moves the stable ones to `ready`.
    fn settle(&self, s: &mut State) {
        let mut gone: Vec<OsString> = Vec::new();
        let mut ready: Vec<(Option<SystemTime>, OsString)> = Vec::new();
        for (name, c) in s.candidates.iter_mut() {
            if s.backoff.contains_key(name) {
                continue;
            }
            let first_look = c.len == u64::MAX;
            if !first_look && !c.renamed && c.since.elapsed() < self.config.settle {
                continue;
            }
            let meta = match std::fs::metadata(self.folders.req.join(name)) {
                Ok(m) if m.is_file() => m,
                _ => {
                    gone.push(name.clone());
                    continue;
                }
            };
            let (len, mtime) = (meta.len(), meta.modified().ok());
            let stable = !first_look && len == c.len && mtime == c.mtime;
            if !(c.renamed || stable) {
                *c = Candidate {
                    since: Instant::now(),
                    len,
                    mtime,
                    renamed: false,
                };
                continue;
            }
            let usable = name.to_str().is_some_and(|n| {
                kakunin_formats::oqs::FileName::parse(n)
                    .is_ok_and(|f| f.direction() == kakunin_formats::oqs::Direction::Request)
            });
            if !usable && c.since.elapsed() < self.config.settle_unknown {
                // Not a request name: it must stay unchanged for longer (a レセコン's own
                // temporary file is left alone while in use).
                if c.renamed {
                    c.len = len;
                    c.mtime = mtime;
                    c.renamed = false;
                }
                continue;
            }
            ready.push((mtime, name.clone()));
        }
        for g in gone {
            s.candidates.remove(&g);
        }
        for (mtime, name) in ready {
            s.candidates.remove(&name);
            s.ready_names.insert(name.clone());
            s.ready.insert((mtime, name));
        }
    }
}

/// The scheduler's view of `req/`.
#[derive(Default)]
struct State {
    /// Files waiting to be stable.
    candidates: HashMap<OsString, Candidate>,
    /// Stable files waiting for a free slot, oldest first.
    ready: BTreeSet<(Option<SystemTime>, OsString)>,
    ready_names: HashSet<OsString>,
    /// Names being answered.
    in_flight: HashSet<OsString>,
    /// A claim that failed for a reason other than "gone": not retried for a while.
    backoff: HashMap<OsString, Instant>,
}

impl State {
    fn saw(&mut self, name: OsString, renamed: bool) {
        if self.ready_names.contains(&name) {
            return;
        }
        let c = self.candidates.entry(name).or_insert_with(Candidate::new);
        c.renamed |= renamed;
        if !renamed {
            // Changed again: look anew.
            c.len = u64::MAX;
        }
    }
}

impl Candidate {
    fn new() -> Self {
        Self {
            since: Instant::now(),
            len: u64::MAX,
            mtime: None,
            renamed: false,
        }
    }
}

/// Reads a claimed request, answers it, removes it (or moves it to `error/`).
async fn answer(folders: &Folders, processor: &Processor, name: &str, work: &Path) {
    let path = work.to_path_buf();
    let bytes = match tokio::task::spawn_blocking(move || read_limited(&path)).await {
        Ok(Ok(b)) => b,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "cannot read a request file");
            let _ = move_aside(work, &folders.error, name);
            return;
        }
        Err(_) => return,
    };
    // The prefix only: the rest of a name may carry a patient id.
    let family = kakunin_formats::oqs::FileName::parse(name)
        .map(|f| f.prefix().to_string())
        .unwrap_or_else(|_| "?".into());
    let Some(answer) = processor.answer(name, &bytes).await else {
        tracing::warn!("a file without a request name was moved to error/");
        let _ = move_aside(work, &folders.error, name);
        return;
    };
    let (res, file, out) = (folders.res.clone(), answer.name.clone(), answer.bytes);
    match tokio::task::spawn_blocking(move || write_atomic(&res, &file, &out)).await {
        Ok(Ok(())) => {
            let _ = std::fs::remove_file(work);
            match answer.error_code {
                Some(code) if answer.segment == "9" => {
                    tracing::info!(family = %family, code, "request answered with an error")
                }
                _ => {
                    tracing::debug!(family = %family, segment = answer.segment, "request answered")
                }
            }
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, family = %family, "cannot write a result; the request was moved to error/");
            let _ = move_aside(work, &folders.error, name);
        }
        Err(_) => {}
    }
}

/// The file's bytes, at most one more than the largest file accepted (so "too large" is
/// still answered).
fn read_limited(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::new();
    std::fs::File::open(path)?
        .take(kakunin_formats::oqs::MAX_BYTES as u64 + 1)
        .read_to_end(&mut out)?;
    Ok(out)
}

/// Deletes files in `error/` older than the retention.
fn clean_errors(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > ERROR_RETENTION);
        if old {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignored_names() {
        for (name, expected) in [
            ("OQSsiquc01req_1.xml", false),
            ("notes.txt", false),
            (".OQSsiquc01req_1.xml", true),
            ("OQSsiquc01req_1.xml.tmp", true),
            ("OQSsiquc01req_1.TMP", true),
            ("OQSsiquc01req_1.xml.part", true),
            ("OQSsiquc01req_1.xml~", true),
            ("~$OQSsiquc01req_1.xml", true),
        ] {
            assert_eq!(ignored(name), expected, "{name}");
        }
    }

    #[test]
    fn atomic_writes_replace_and_leave_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        write_atomic(dir.path(), "a.xml", b"1").unwrap();
        write_atomic(dir.path(), "a.xml", b"22").unwrap();
        assert_eq!(std::fs::read(dir.path().join("a.xml")).unwrap(), b"22");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["a.xml"]);
    }

    #[test]
    fn moved_aside_under_a_free_name() {
        let dir = tempfile::tempdir().unwrap();
        let to = dir.path().join("error");
        std::fs::create_dir(&to).unwrap();
        for i in 0..3 {
            let from = dir.path().join(format!("f{i}"));
            std::fs::write(&from, b"x").unwrap();
            move_aside(&from, &to, "same.xml").unwrap();
        }
        let mut names: Vec<_> = std::fs::read_dir(&to)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["same.xml", "same.xml.1", "same.xml.2"]);
    }
}
