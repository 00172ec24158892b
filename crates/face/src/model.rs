//! The one setup step: the face networks' weights come from the npm registry package
//! `@vladmandic/face-api` 1.7.15 (MIT; the descriptor net is a port of dlib's public-domain
//! ResNet). The package tarball is checked against the registry's published SHA-512, and only
//! the three networks' files and the licence are written. Nothing is downloaded at run time.

use crate::nets::{Descriptor, Detector, Landmarks};
use crate::FaceError;
use sha2::{Digest, Sha512};
use std::io::Read;
use std::path::Path;

/// The package, its tarball's address and its integrity as the registry publishes it.
pub const PACKAGE: &str = "@vladmandic/face-api@1.7.15";
pub const TARBALL_URL: &str =
    "https://registry.npmjs.org/@vladmandic/face-api/-/face-api-1.7.15.tgz";
/// `dist.integrity` of the package (base64 SHA-512 of the tarball).
pub const INTEGRITY: &str =
    "sha512-WDMmK3CfNLo8jylWqMoQgf4nIst3M0fzx1dnac96wv/dvMTN4DxC/Pq1DGtduDk1lktCamQ3MIDXFnvrdHTXDw==";

/// The package's demo photos (people in groups, under the package's licence), kept as
/// `samples/sampleN.jpg`: the demo's virtual cards and test camera, and the tests, use them.
pub const SAMPLES: usize = 6;

/// The files taken from the package: the three networks of its `model/` folder, the licence
/// and the demo photos (`samples/`).
pub fn wanted_files() -> Vec<String> {
    let mut files = vec!["LICENSE".to_string()];
    for model in [Detector::MODEL, Landmarks::MODEL, Descriptor::MODEL] {
        files.push(format!("{model}-weights_manifest.json"));
        files.push(format!("{model}.bin"));
    }
    files.extend((1..=SAMPLES).map(|i| format!("samples/sample{i}.jpg")));
    files
}

/// Where a file of the package goes, relative to the install directory.
fn target_of(name: &str) -> Option<String> {
    if let Some(file) = name.strip_prefix("package/demo/") {
        return Some(format!("samples/{file}"));
    }
    name.strip_prefix("package/model/")
        .or_else(|| name.strip_prefix("package/"))
        .map(str::to_string)
}

/// Largest tarball accepted (the package is 11 MB compressed).
const MAX_TARBALL: usize = 64 << 20;
/// Largest unpacked size read (the package is 24 MB).
const MAX_UNPACKED: u64 = 256 << 20;

fn base64_sha512(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let digest = Sha512::digest(bytes);
    let mut out = String::new();
    for chunk in digest.chunks(3) {
        let n = chunk.iter().fold(0u32, |n, &b| (n << 8) | u32::from(b)) << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
        }
        out.extend(std::iter::repeat_n('=', 3 - chunk.len()));
    }
    out
}

/// Checks the tarball against [`INTEGRITY`], unpacks the wanted files into `dir` (created if
/// needed) and loads the networks once to prove them whole. Returns the files written.
pub fn install(tarball: &[u8], dir: &Path) -> Result<Vec<String>, FaceError> {
    let bad = |detail: String| FaceError::Model {
        model: PACKAGE.into(),
        detail,
    };
    if tarball.len() > MAX_TARBALL {
        return Err(bad(format!(
            "{} bytes is too large for the package",
            tarball.len()
        )));
    }
    let integrity = format!("sha512-{}", base64_sha512(tarball));
    if integrity != INTEGRITY {
        return Err(bad(format!(
            "the tarball's integrity is {integrity}, the registry publishes {INTEGRITY}"
        )));
    }
    let mut tar = Vec::new();
    flate2::read::GzDecoder::new(tarball)
        .take(MAX_UNPACKED)
        .read_to_end(&mut tar)
        .map_err(|e| bad(format!("gzip: {e}")))?;
    let wanted = wanted_files();
    let mut found = Vec::new();
    let samples = dir.join("samples");
    std::fs::create_dir_all(&samples).map_err(|e| bad(format!("{}: {e}", samples.display())))?;
    for (name, data) in tar_entries(&tar).map_err(&bad)? {
        let Some(file) = target_of(&name) else {
            continue;
        };
        let file = file.as_str();
        if !wanted.iter().any(|w| w == file) || found.iter().any(|f| f == file) {
            continue;
        }
        // Written whole to a temporary name, then renamed: a half-written model never loads.
        let tmp = dir.join(format!("{file}.part"));
        std::fs::write(&tmp, data).map_err(|e| bad(format!("{}: {e}", tmp.display())))?;
        std::fs::rename(&tmp, dir.join(file)).map_err(|e| bad(format!("{file}: {e}")))?;
        found.push(file.to_string());
    }
    if let Some(missing) = wanted.iter().find(|w| !found.contains(w)) {
        return Err(bad(format!("the package has no {missing}")));
    }
    crate::FaceMatcher::load(dir)?;
    Ok(found)
}

/// The regular files of a ustar archive: (name, contents).
fn tar_entries(tar: &[u8]) -> Result<Vec<(String, &[u8])>, String> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 512 <= tar.len() {
        let header = &tar[at..at + 512];
        if header.iter().all(|&b| b == 0) {
            break;
        }
        let field = |from: usize, len: usize| {
            let f = &header[from..from + len];
            let end = f.iter().position(|&b| b == 0).unwrap_or(len);
            String::from_utf8_lossy(&f[..end]).into_owned()
        };
        let size = usize::from_str_radix(field(124, 12).trim(), 8)
            .map_err(|_| format!("tar: bad size at byte {at}"))?;
        let mut name = field(0, 100);
        let prefix = field(345, 155);
        if &header[257..262] == b"ustar" && !prefix.is_empty() {
            name = format!("{prefix}/{name}");
        }
        let kind = header[156];
        let start = at + 512;
        let data = tar
            .get(start..start + size)
            .ok_or_else(|| format!("tar: {name} ends past the archive"))?;
        if kind == b'0' || kind == 0 {
            out.push((name, data));
        }
        at = start + size.div_ceil(512) * 512;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha512_integrity_is_base64() {
        // printf abc | sha512sum | xxd -r -p | base64
        assert_eq!(
            base64_sha512(b"abc"),
            "3a81oZNherrMQXNJriBBMRLm+k6JqX6iCp7u5ktV05ohkpkqJ0/BqDa6PCOj/uu9RU1EI2Q86A4qmslPpUyknw=="
        );
    }

    #[test]
    fn a_tarball_that_is_not_the_package_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err = install(b"not the package", dir.path()).unwrap_err();
        assert!(err.to_string().contains("integrity"), "{err}");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "nothing written"
        );
    }

    #[test]
    fn reads_ustar_entries() {
        let mut tar = Vec::new();
        for (name, body) in [
            ("package/a.txt", &b"hello"[..]),
            ("package/model/b.bin", &[1u8, 2][..]),
        ] {
            let mut h = [0u8; 512];
            h[..name.len()].copy_from_slice(name.as_bytes());
            let size = format!("{:011o}\0", body.len());
            h[124..136].copy_from_slice(size.as_bytes());
            h[156] = b'0';
            h[257..262].copy_from_slice(b"ustar");
            tar.extend(h);
            tar.extend(body);
            tar.resize(tar.len().div_ceil(512) * 512, 0);
        }
        tar.extend([0u8; 1024]);
        let entries = tar_entries(&tar).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0], ("package/a.txt".to_string(), &b"hello"[..]));
        assert_eq!(entries[1].1, &[1, 2]);
    }
}
