//! A bounded mutation fuzzer for the OQS readers that runs on stable Rust in CI: starting from the
//! request fixtures in both encodings (and their file names), it changes the structure (leaf text
//! replaced by digits, spaces, full-width characters and entities; elements deleted, duplicated,
//! repeated past the bulk bound, renamed) and the bytes (flips, Shift_JIS lead and trail bytes,
//! markup, splices of other fixtures, digit runs, truncation), with a fixed seed, and feeds
//! every case to `oqs::fuzz_one` (decode, parse as every family, write back in both encodings
//! and decode again). Bounded by a case count and by wall time, so a slow debug build only runs
//! fewer cases. `OQS_FUZZ_CASES` / `OQS_FUZZ_SECS` / `OQS_FUZZ_SEED` override the bounds.

use kakunin_formats::oqs::{self, Family, FileName, Request};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::time::{Duration, Instant};

/// xorshift64*: deterministic and dependency-free.
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

/// The fixtures in both encodings, and their file names.
fn corpus() -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/oqs");
    let (mut docs, mut names) = (Vec::new(), Vec::new());
    for sub in ["utf8", "shift_jis"] {
        let mut paths: Vec<_> = std::fs::read_dir(root.join(sub))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "xml"))
            .collect();
        paths.sort();
        for p in paths {
            docs.push(std::fs::read(&p).unwrap());
            names.push(p.file_name().unwrap().to_str().unwrap().as_bytes().to_vec());
        }
    }
    assert!(docs.len() >= 16, "fixtures missing");
    (docs, names)
}

/// Bytes that matter: markup, digits, spaces, Shift_JIS lead/trail bytes, UTF-8 lead bytes, a BOM
/// byte, path characters for file names.
const INTERESTING: &[u8] =
    b"<>/&;\"'=?!-_. 0123456789\x81\x82\x83\x88\x9F\xA0\xE0\xE3\xEA\xEF\xFC\xFD\xFF\x40\x7F\x80\xBB\xBF\\:\t\r\n";

/// Text that keeps the markup intact: digits, spaces, letters, full-width characters (UTF-8 and
/// Shift_JIS bytes alike), entities.
const TEXTS: &[&[u8]] = &[
    b"0",
    b"1",
    b"9",
    b"00",
    b" ",
    b"  ",
    b"\t",
    b"\n",
    b"a",
    b"Z",
    b"-",
    b"/",
    b"..",
    b"&amp;",
    b"&#x20BB7;",
    b"&#1;",
    b"\xEF\xBC\x91",
    b"\x82\x50",
    b"\xE3\x81\x82",
    b"\x82\xA0",
];

/// Byte ranges of `<…>` tags.
fn tags(b: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, &c) in b.iter().enumerate() {
        match c {
            b'<' => start = Some(i),
            b'>' => {
                if let Some(s) = start.take() {
                    out.push((s, i + 1));
                }
            }
            _ => {}
        }
    }
    out
}

/// A byte range.
type Span = (usize, usize);

/// Byte ranges of whole elements `<N>…</N>` (OQS elements do not nest in themselves) and of
/// their text when they are leaves.
fn elements(b: &[u8]) -> (Vec<Span>, Vec<Span>) {
    let t = tags(b);
    let (mut whole, mut texts) = (Vec::new(), Vec::new());
    for (i, &(s, e)) in t.iter().enumerate() {
        let tag = &b[s + 1..e - 1];
        if tag.is_empty() || matches!(tag[0], b'/' | b'?' | b'!') || tag.ends_with(b"/") {
            continue;
        }
        let mut close = b"</".to_vec();
        close.extend_from_slice(tag);
        close.push(b'>');
        if let Some(&(cs, ce)) = t[i + 1..].iter().find(|&&(cs, ce)| b[cs..ce] == close[..]) {
            whole.push((s, ce));
            if t.get(i + 1).is_some_and(|&(ns, _)| ns == cs) {
                texts.push((e, cs));
            }
        }
    }
    (whole, texts)
}

fn filler(rng: &mut Rng) -> Vec<u8> {
    let n = rng.below(12);
    (0..n)
        .flat_map(|_| TEXTS[rng.below(TEXTS.len())].to_vec())
        .collect()
}

/// One change that keeps the document well-formed (mostly): leaf text replaced, an element
/// deleted, duplicated, repeated or renamed.
fn mutate_structure(rng: &mut Rng, b: &mut Vec<u8>) {
    let (whole, texts) = elements(b);
    match rng.below(5) {
        0 if !texts.is_empty() => {
            let (s, e) = texts[rng.below(texts.len())];
            let fill = filler(rng);
            b.splice(s..e, fill);
        }
        1 if !whole.is_empty() => {
            let (s, e) = whole[rng.below(whole.len())];
            b.drain(s..e);
        }
        2 if !whole.is_empty() => {
            let (s, e) = whole[rng.below(whole.len())];
            let piece = b[s..e].to_vec();
            let (at, _) = whole[rng.below(whole.len())];
            b.splice(at..at, piece);
        }
        3 if !whole.is_empty() && b.len() < 1 << 16 => {
            let (s, e) = whole[rng.below(whole.len())];
            let piece = b[s..e].repeat(1 + rng.below(64));
            b.splice(e..e, piece);
        }
        _ if whole.len() >= 2 => {
            // Rename an element after another one (same family, wrong place).
            let (s, e) = whole[rng.below(whole.len())];
            let (os, _) = whole[rng.below(whole.len())];
            let name_of = |b: &[u8], at: usize| -> Vec<u8> {
                b[at + 1..]
                    .iter()
                    .take_while(|&&c| c != b'>')
                    .copied()
                    .collect()
            };
            let (old, new) = (name_of(b, s), name_of(b, os));
            let mut piece = b[s..e].to_vec();
            piece.splice(1..1 + old.len(), new.iter().copied());
            let close = piece.len() - old.len() - 1;
            piece.splice(close..close + old.len(), new);
            b.splice(s..e, piece);
        }
        _ => {}
    }
}

/// One byte-level change: flips, inserts, deletions, truncation, splices, digit runs.
fn mutate_bytes(rng: &mut Rng, b: &mut Vec<u8>, other: &[u8]) {
    match rng.below(6) {
        0 if !b.is_empty() => {
            let i = rng.below(b.len());
            b[i] ^= 1 << rng.below(8);
        }
        1 => {
            let i = rng.below(b.len() + 1);
            let byte = if rng.below(2) == 0 {
                INTERESTING[rng.below(INTERESTING.len())]
            } else {
                rng.next() as u8
            };
            b.insert(i, byte);
        }
        2 if !b.is_empty() => {
            let i = rng.below(b.len());
            let n = rng.below(8).min(b.len() - i);
            b.drain(i..i + n);
        }
        3 => {
            let n = rng.below(b.len() + 1);
            b.truncate(n);
        }
        4 if !other.is_empty() => {
            let s = rng.below(other.len());
            let e = (s + rng.below(120)).min(other.len());
            let at = rng.below(b.len() + 1);
            b.splice(at..at, other[s..e].iter().copied());
        }
        _ => {
            let i = rng.below(b.len() + 1);
            let n = rng.below(10);
            let fill: Vec<u8> = (0..n).map(|_| b'0' + rng.below(10) as u8).collect();
            let end = (i + n).min(b.len());
            b.splice(i..end, fill);
        }
    }
}

fn mutate(rng: &mut Rng, input: &[u8], other: &[u8]) -> Vec<u8> {
    let mut b = input.to_vec();
    for _ in 0..=rng.below(3) {
        if rng.below(3) == 0 {
            mutate_bytes(rng, &mut b, other);
        } else {
            mutate_structure(rng, &mut b);
        }
    }
    b
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn mutation_fuzz() {
    let (docs, names) = corpus();
    let cases: usize = env_or("OQS_FUZZ_CASES", 20_000);
    let budget = Duration::from_secs(env_or("OQS_FUZZ_SECS", 3));
    let seed: u64 = env_or("OQS_FUZZ_SEED", 0x0051_5351_7563_3031_u64);
    let mut rng = Rng(seed | 1);
    let start = Instant::now();
    let (mut ran, mut decoded, mut parsed) = (0, 0, 0);
    while ran < cases && start.elapsed() < budget {
        let pool = if rng.below(8) == 0 { &names } else { &docs };
        let input = &pool[rng.below(pool.len())];
        let other = &docs[rng.below(docs.len())];
        let mutated = mutate(&mut rng, input, other);
        if catch_unwind(AssertUnwindSafe(|| oqs::fuzz_one(&mutated))).is_err() {
            let path = std::env::temp_dir().join(format!("oqs-fuzz-crash-{seed:x}-{ran}.xml"));
            let _ = std::fs::write(&path, &mutated);
            panic!(
                "case {ran} (seed {seed:#x}) panicked; input saved to {}",
                path.display()
            );
        }
        if let Ok(doc) = oqs::decode(&mutated) {
            decoded += 1;
            parsed += usize::from(Family::ALL.iter().any(|f| Request::parse(&doc, *f).is_ok()));
        } else if let Ok(text) = std::str::from_utf8(&mutated) {
            let _ = FileName::parse(text).map(|n| n.response_name());
        }
        ran += 1;
    }
    assert!(ran >= 100, "only {ran} cases ran in {budget:?}");
    // Mutants reach the request parsers, not only the XML checks.
    assert!(decoded * 5 > ran, "{decoded} of {ran} mutants decoded");
    assert!(
        parsed * 20 > ran,
        "{parsed} of {ran} mutants parsed as a request"
    );
    eprintln!(
        "oqs fuzz: {ran} cases, {decoded} decoded, {parsed} parsed, {:?}",
        start.elapsed()
    );
}

#[test]
fn seeds_pass_fuzz_one() {
    let (docs, names) = corpus();
    for s in docs.iter().chain(&names) {
        oqs::fuzz_one(s);
    }
}
