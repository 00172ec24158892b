//! The レセコン file interface (`kakunin terminal … --files DIR`): the XML files every レセコン
//! and 電子カルテ in Japan exchanges with its 資格確認端末 through shared folders (research
//! `jp-system.md` §2; the contract for vendors is `docs/file-interface.md`).
//!
//! - `DIR/req/`: requests from the レセコン, picked up within a second ([`watch`]).
//! - `DIR/res/`: one result per request, named as the request with `req` → `res`, written
//!   atomically in the request's encoding ([`process`], [`result`]).
//! - `DIR/face/`: unsolicited results of kiosk card checks and of the later confirmation of
//!   visits recorded offline ([`face`]).
//! - `DIR/work/` (requests being answered) and `DIR/error/` (files that cannot be answered at
//!   all) are the terminal's.
//!
//! The families: `OQSsiquc01` (a check, recorded for a later check when the central is out of
//! reach), `OQSmuquc01`/`02` (一括照会 through the central), `OQSsiimm01` (照会番号),
//! `OQSmuimm01`/`02` (bulk 照会番号, carried out by the terminal itself, [`process::Registrar`]),
//! `YZKsiquc01` and `TKKsiquc01` (medical information, relayed to the central, which enforces
//! consent and today's check).
//!
//! Invariants: the watcher never stops on an error and logs no personal data (no file names,
//! no content); a result file appears whole or not at all; every request with a usable name
//! gets a result; the terminal's own state (face counter, bulk uploads and registrations) is
//! in `files.sqlite3` in its data directory ([`store`]).

pub mod backend;
pub mod client;
pub mod codes;
pub mod face;
pub mod process;
pub mod result;
pub mod store;
pub mod watch;

use crate::visit::Terminal;
use kakunin_formats::oqs::CharacterCode;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::task::JoinHandle;

/// How the file interface is run.
#[derive(Debug, Clone)]
pub struct FilesConfig {
    /// The folder holding `req/`, `res/`, `face/` (created when missing).
    pub dir: PathBuf,
    /// The terminal's data directory (for `files.sqlite3`); `None` keeps it in memory.
    pub data: Option<PathBuf>,
    /// The institution's 医療機関コード: requests for another are refused.
    pub institution: String,
    /// The encoding of `face/` files that answer no request (kiosk checks).
    pub encoding: CharacterCode,
    pub watch: watch::WatchConfig,
}

#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    #[error("cannot create the folders under {0}: {1}")]
    Folders(String, std::io::Error),
    #[error(transparent)]
    Store(#[from] store::StoreError),
}

/// The running file interface; stopped when dropped.
pub struct Files {
    pub folders: watch::Folders,
    tasks: Vec<JoinHandle<()>>,
}

impl Files {
    /// Starts the watcher, the bulk registrations and the face files (in the current tokio
    /// runtime).
    pub fn start(terminal: Arc<Terminal>, config: FilesConfig) -> Result<Files, FilesError> {
        let folders = watch::Folders::new(&config.dir);
        folders
            .create()
            .map_err(|e| FilesError::Folders(config.dir.display().to_string(), e))?;
        let store = Arc::new(match &config.data {
            Some(dir) => store::FileStore::open(dir)?,
            None => store::FileStore::in_memory()?,
        });
        let backend: Arc<dyn backend::Backend> = terminal.clone();
        let processor = Arc::new(process::Processor::new(
            backend.clone(),
            store.clone(),
            &config.institution,
            process::system_clock,
        ));
        let registrar = Arc::new(process::Registrar::new(
            backend,
            store.clone(),
            process::system_clock,
        ));
        let woken = processor.registrations_added();
        let watcher = watch::Watcher::new(folders.clone(), config.watch.clone(), processor);
        let tasks = vec![
            tokio::spawn(watcher.run()),
            tokio::spawn(registrar.run(woken)),
            tokio::spawn(face::run(
                terminal,
                folders.face.clone(),
                store,
                config.institution.clone(),
                config.encoding,
            )),
        ];
        Ok(Files { folders, tasks })
    }

    /// Stops every task (a request being answered is answered again at the next start).
    pub fn stop(mut self) {
        for t in self.tasks.drain(..) {
            t.abort();
        }
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}
