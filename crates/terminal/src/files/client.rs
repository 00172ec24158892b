//! A model レセコン: what clinic software does with the folders, for tests, the benchmark and
//! vendors to read. It writes each request under a temporary name in a folder of its own, then
//! moves it into `req/` (so the terminal never sees it half-written), waits for the result in
//! `res/` (removing any stale one first), reads it with the path view and deletes it, and reads
//! the unsolicited results in `face/`. Blocking, with short polls: a real レセコン would combine
//! a filesystem watcher with a periodic scan.

use kakunin_formats::oqs::{
    decode, write, CharacterCode, Direction, Document, Element, Family, FileName, OqsError,
};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum RecekonError {
    #[error("file: {0}")]
    Io(#[from] std::io::Error),
    #[error("no result for {0} within {1:?}")]
    Timeout(String, Duration),
    #[error("the result {0} does not decode: {1}")]
    Decode(String, OqsError),
}

/// A result file, read.
#[derive(Debug, Clone)]
pub struct Reply {
    pub name: String,
    pub bytes: Vec<u8>,
    pub doc: Document,
}

impl Reply {
    /// The trimmed text at a path from `XmlMsg`.
    pub fn value(&self, path: &str) -> Option<&str> {
        self.doc.value(path)
    }

    pub fn all(&self, path: &str) -> Vec<&Element> {
        self.doc.all(path)
    }

    /// `SegmentOfResult`.
    pub fn segment(&self) -> Option<&str> {
        self.value("MessageHeader/SegmentOfResult")
    }

    /// `ErrorCode`.
    pub fn error_code(&self) -> Option<&str> {
        self.value("MessageHeader/ErrorCode")
    }
}

static INSTANCE: AtomicU64 = AtomicU64::new(0);

/// A レセコン on the interface folder `root` (the terminal's `--files DIR`).
pub struct Recekon {
    root: PathBuf,
    outgoing: PathBuf,
    tag: String,
    seq: AtomicU64,
}

impl Recekon {
    /// Uses `root/req`, `root/res`, `root/face` and a folder of its own for writing.
    pub fn new(root: &Path) -> std::io::Result<Self> {
        let instance = INSTANCE.fetch_add(1, Ordering::Relaxed);
        let outgoing = root.join(format!("recekon-{}-{instance}", std::process::id()));
        std::fs::create_dir_all(&outgoing)?;
        Ok(Self {
            root: root.to_path_buf(),
            outgoing,
            tag: format!("{}{instance}", std::process::id()),
            seq: AtomicU64::new(0),
        })
    }

    pub fn req(&self) -> PathBuf {
        self.root.join("req")
    }

    pub fn res(&self) -> PathBuf {
        self.root.join("res")
    }

    pub fn face(&self) -> PathBuf {
        self.root.join("face")
    }

    /// A fresh request name of a family: `<prefix>req_<tag><sequence>.xml`.
    pub fn name(&self, family: Family) -> String {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        FileName::new(family, Direction::Request, &format!("{}{n:06}", self.tag))
            .map(|f| f.to_string())
            .unwrap_or_default()
    }

    /// Drops `bytes` into `req/` as `name`: written beside, then moved in. A stale result of
    /// the same name is removed first.
    pub fn send_bytes(&self, name: &str, bytes: &[u8]) -> std::io::Result<()> {
        if let Ok(f) = FileName::parse(name) {
            let _ = std::fs::remove_file(self.res().join(f.response_name()));
        }
        let tmp = self.outgoing.join(name);
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, self.req().join(name))
    }

    /// Writes a message in `code` and drops it; returns its name.
    pub fn send(
        &self,
        family: Family,
        message: &Element,
        code: CharacterCode,
    ) -> std::io::Result<String> {
        let name = self.name(family);
        self.send_bytes(&name, &write(message, code))?;
        Ok(name)
    }

    /// Waits for the result of the request `name`, reads it and deletes it.
    pub fn wait(&self, name: &str, timeout: Duration) -> Result<Reply, RecekonError> {
        let response = FileName::parse(name)
            .map(|f| f.response_name())
            .unwrap_or_else(|_| name.replacen("req", "res", 1));
        let path = self.res().join(&response);
        let started = Instant::now();
        loop {
            match std::fs::read(&path) {
                Ok(bytes) => {
                    let _ = std::fs::remove_file(&path);
                    return read(response, bytes);
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
            if started.elapsed() > timeout {
                return Err(RecekonError::Timeout(response, timeout));
            }
            // Short polls first (results usually come in milliseconds), then gentler ones.
            let pause = if started.elapsed() < Duration::from_millis(200) {
                Duration::from_millis(1)
            } else {
                Duration::from_millis(10)
            };
            std::thread::sleep(pause);
        }
    }

    /// Sends a message and waits for its result.
    pub fn call(
        &self,
        family: Family,
        message: &Element,
        code: CharacterCode,
        timeout: Duration,
    ) -> Result<Reply, RecekonError> {
        let name = self.send(family, message, code)?;
        self.wait(&name, timeout)
    }

    /// The names in `face/`, oldest first (the counter orders them).
    pub fn faces(&self) -> std::io::Result<Vec<String>> {
        let mut names: Vec<String> = std::fs::read_dir(self.face())?
            .flatten()
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .filter(|n| FileName::parse(n).is_ok_and(|f| f.is_face()))
            .collect();
        names.sort();
        Ok(names)
    }

    /// Waits for a face file not in `seen`, reads it and adds it to `seen` (the file stays).
    pub fn next_face(
        &self,
        seen: &mut BTreeSet<String>,
        timeout: Duration,
    ) -> Result<Reply, RecekonError> {
        let started = Instant::now();
        loop {
            if let Some(name) = self.faces()?.into_iter().find(|n| !seen.contains(n)) {
                let bytes = std::fs::read(self.face().join(&name))?;
                seen.insert(name.clone());
                return read(name, bytes);
            }
            if started.elapsed() > timeout {
                return Err(RecekonError::Timeout("face/".into(), timeout));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

fn read(name: String, bytes: Vec<u8>) -> Result<Reply, RecekonError> {
    match decode(&bytes) {
        Ok(doc) => Ok(Reply { name, bytes, doc }),
        Err(e) => Err(RecekonError::Decode(name, e)),
    }
}
