//! Every fuzz target on stable Rust, bounded and seeded so that `cargo test` (and CI) runs it
//! the same way each time: first every file of `fuzz/corpus/<target>/` and
//! `fuzz/regressions/<target>/` (inputs that once crashed stay there), then mutations of the
//! seeds (fixtures of the real formats, certificates and CRLs made here, JSON bodies): byte
//! flips, insertions, deletions, duplications, truncations and splices. A panic fails the test
//! and prints the input as hex, to be saved under `fuzz/regressions/<target>/`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

const ITERATIONS: usize = 2_500;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every file under `dir`, recursively, sorted.
fn files(dir: &Path) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    let mut paths = Vec::new();
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                paths.push(p);
            }
        }
    }
    paths.sort();
    for p in paths {
        if let Ok(bytes) = std::fs::read(&p) {
            if bytes.len() <= 1 << 20 {
                out.push(bytes);
            }
        }
    }
    out
}

fn certificates() -> Vec<Vec<u8>> {
    let dir = tempfile::tempdir().unwrap();
    let authority = kakunin_authority::Authority::open_or_init(&dir.path().join("a")).unwrap();
    let ca = authority.ca_certificates();
    let ours = kakunin_central::pki::Ca::init(&dir.path().join("c"), "fuzz CA").unwrap();
    let code = kakunin_domain::check_digit::complete("131000001").unwrap();
    let client = ours
        .issue(&kakunin_central::pki::Role::parse("institution", &code).unwrap())
        .unwrap();
    let client_der: Vec<u8> = {
        let b64: String = client
            .lines()
            .skip_while(|l| !l.starts_with("-----BEGIN CERTIFICATE"))
            .skip(1)
            .take_while(|l| !l.starts_with("-----END"))
            .collect();
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .expect("the issued certificate's PEM")
    };
    vec![
        ca.root_der,
        ca.issuing_der,
        authority.crl_der().unwrap(),
        client_der,
    ]
}

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let fixtures = root().join("crates/formats/tests/fixtures");
    let mut seeds = match target {
        "roster" => vec![std::fs::read(root().join("docs/examples/roster-example.csv")).unwrap()],
        "uke" => files(&fixtures.join("uke"))
            .into_iter()
            .filter(|f| f.len() > 200)
            .collect(),
        "cda" => files(&fixtures.join("checkup")),
        "oqs" => files(&fixtures.join("oqs")),
        "masters" => files(&fixtures.join("masters")),
        // APDUs and API bodies have no fixtures elsewhere: their seeds are fuzz/corpus/<target>/
        // (read below, and by libFuzzer in fuzz/run-bounded).
        "apdu" | "api_json" => vec![],
        "certificate" => certificates(),
        other => panic!("no seeds for {other}"),
    };
    for kind in ["corpus", "regressions"] {
        seeds.extend(files(&root().join("fuzz").join(kind).join(target)));
    }
    assert!(!seeds.is_empty(), "{target} has seeds");
    seeds
}

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

fn mutate(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut v = seeds[rng.below(seeds.len())].clone();
    for _ in 0..1 + rng.below(4) {
        let len = v.len();
        match rng.below(6) {
            0 if len > 0 => {
                let i = rng.below(len);
                v[i] ^= 1 << rng.below(8);
            }
            1 => {
                let i = rng.below(len + 1);
                let b = [0u8, 0xFF, b',', b'<', b'>', b'"', 0x30, 0x82, b'\n', 0x81][rng.below(10)];
                v.insert(i, b);
            }
            2 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(64));
                v.drain(i..i + n);
            }
            3 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(64));
                let chunk = v[i..i + n].to_vec();
                let at = rng.below(v.len() + 1);
                v.splice(at..at, chunk);
            }
            4 => v.truncate(rng.below(len + 1)),
            _ => {
                let other = &seeds[rng.below(seeds.len())];
                let cut = rng.below(len + 1);
                let from = rng.below(other.len() + 1);
                v.truncate(cut);
                v.extend_from_slice(&other[from..]);
            }
        }
    }
    v
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn run(target: &str) {
    let f = kakunin_fuzz_targets::TARGETS
        .iter()
        .find(|(n, _)| *n == target)
        .unwrap()
        .1;
    let seeds = seeds(target);
    for s in &seeds {
        if catch_unwind(AssertUnwindSafe(|| f(s))).is_err() {
            panic!("{target}: a seed or corpus file panics: {}", hex(s));
        }
    }
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ target.len() as u64);
    for i in 0..ITERATIONS {
        let input = mutate(&mut rng, &seeds);
        if catch_unwind(AssertUnwindSafe(|| f(&input))).is_err() {
            panic!(
                "{target}: panicked on mutation {i}; save this input under fuzz/regressions/{target}/: {}",
                hex(&input)
            );
        }
    }
}

#[test]
fn roster() {
    run("roster");
}
#[test]
fn uke() {
    run("uke");
}
#[test]
fn cda() {
    run("cda");
}
#[test]
fn oqs() {
    run("oqs");
}
#[test]
fn masters() {
    run("masters");
}
#[test]
fn apdu() {
    run("apdu");
}
#[test]
fn certificate() {
    run("certificate");
}
#[test]
fn api_json() {
    run("api_json");
}

#[test]
fn every_target_is_run_here() {
    let names: Vec<&str> = kakunin_fuzz_targets::TARGETS
        .iter()
        .map(|(n, _)| *n)
        .collect();
    assert_eq!(
        names,
        [
            "roster",
            "uke",
            "cda",
            "oqs",
            "masters",
            "apdu",
            "certificate",
            "api_json"
        ]
    );
}
