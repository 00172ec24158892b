//! Files of the authority directory: PEM, private files, durable writes.

use crate::AuthorityError;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use std::fs;
use std::io::Write;
use std::path::Path;

/// PEM with 64-character lines.
pub(crate) fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The DER of the first PEM block labelled `label`.
pub(crate) fn pem_decode(label: &str, pem: &str) -> Result<Vec<u8>, AuthorityError> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = pem
        .find(&begin)
        .ok_or_else(|| AuthorityError::Crypto(format!("no {label} PEM block")))?
        + begin.len();
    let stop = pem[start..]
        .find(&end)
        .ok_or_else(|| AuthorityError::Crypto(format!("unterminated {label} PEM block")))?
        + start;
    let b64: String = pem[start..stop]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    STANDARD
        .decode(b64)
        .map_err(|e| AuthorityError::Crypto(format!("bad base64 in {label} PEM: {e}")))
}

/// Creates `path` (which must not exist) with `contents`, mode 0600 when `private`, and syncs it.
pub(crate) fn write_new(path: &Path, contents: &[u8], private: bool) -> Result<(), AuthorityError> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if private { 0o600 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut file = options.open(path).map_err(AuthorityError::io(path))?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .map_err(AuthorityError::io(path))
}

/// Creates a directory readable by the owner only.
pub(crate) fn create_private_dir(path: &Path) -> Result<(), AuthorityError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(path).map_err(AuthorityError::io(path))
}

/// Makes a rename or a file creation in `dir` durable (best effort where unsupported).
pub(crate) fn sync_dir(dir: &Path) {
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

pub(crate) fn read(path: &Path) -> Result<Vec<u8>, AuthorityError> {
    fs::read(path).map_err(AuthorityError::io(path))
}

pub(crate) fn read_string(path: &Path) -> Result<String, AuthorityError> {
    fs::read_to_string(path).map_err(AuthorityError::io(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_round_trip() {
        let der: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let pem = pem_encode("CERTIFICATE", &der);
        assert!(pem.lines().all(|l| l.len() <= 64));
        assert_eq!(pem_decode("CERTIFICATE", &pem).unwrap(), der);
        assert!(pem_decode("PRIVATE KEY", &pem).is_err());
    }
}
