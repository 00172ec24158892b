//! The one error type of the authority, local or remote.

use std::path::PathBuf;

/// Why an authority operation failed. Messages never contain personal data.
#[derive(Debug, thiserror::Error)]
pub enum AuthorityError {
    #[error("no resident is registered under this individual number")]
    UnknownResident,
    #[error("no card has this serial number")]
    UnknownCard,
    /// The card is revoked: it can neither be resumed nor suspended.
    #[error("the card is revoked; a revoked card cannot be resumed or suspended")]
    CardRevoked,
    #[error("the PIN must be exactly 4 digits")]
    InvalidPin,
    /// A resident of a registration batch is not well formed (`index` in the batch).
    #[error("resident #{index} of the batch: {reason}")]
    InvalidResident { index: usize, reason: String },
    /// A request the authority refuses as such (bad validity, too many queries, …).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// `open` on a directory that holds no authority (or only part of one).
    #[error("{} is not an initialised authority directory ({missing} is missing); initialise it first", dir.display())]
    NotInitialized { dir: PathBuf, missing: String },
    #[error("registry storage error: {0}")]
    Storage(String),
    #[error("certificate or key error: {0}")]
    Crypto(String),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write the virtual card: {0}")]
    Card(#[from] kakunin_card::VirtualCardError),
    /// The remote authority answered with an error.
    #[error("the authority answered HTTP {status} ({code}): {detail}")]
    Remote {
        status: u16,
        code: String,
        detail: String,
    },
    /// The remote authority could not be reached, or answered something unreadable.
    #[error("cannot talk to the authority: {0}")]
    Transport(String),
}

impl AuthorityError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { path, source }
    }
}

impl From<rusqlite::Error> for AuthorityError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Storage(e.to_string())
    }
}

impl From<rcgen::Error> for AuthorityError {
    fn from(e: rcgen::Error) -> Self {
        Self::Crypto(e.to_string())
    }
}

impl From<kakunin_card::KeyError> for AuthorityError {
    fn from(e: kakunin_card::KeyError) -> Self {
        Self::Crypto(e.to_string())
    }
}
