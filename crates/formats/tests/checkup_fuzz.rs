//! A stable-Rust fuzz harness for the 特定健診 reader: mutates the fixture documents (byte flips,
//! truncation, tag and attribute deletion, splices) with a fixed seed, for at most ~3 s and a
//! bounded number of iterations, and asserts that nothing panics. A failing input is printed.

use kakunin_formats::checkup::fuzz_one;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

const SEED: u64 = 0x6b61_6b75_6e69_6e21; // "kakunin!"
const MAX_ITERATIONS: usize = 20_000;
const MAX_TIME: Duration = Duration::from_secs(3);

/// xorshift64*: small, deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

fn corpus() -> Vec<Vec<u8>> {
    let dir = format!("{}/tests/fixtures/checkup", env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    for sub in ["package", "package/DATA", "broken"] {
        let mut paths: Vec<_> = std::fs::read_dir(format!("{dir}/{sub}"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "xml"))
            .collect();
        paths.sort();
        out.extend(paths.iter().map(|p| std::fs::read(p).unwrap()));
    }
    assert!(out.len() >= 9, "fixtures missing");
    out
}

/// Byte ranges of `<…>` tags in the input.
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

fn mutate(rng: &mut Rng, input: &[u8], other: &[u8]) -> Vec<u8> {
    let mut b = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        match rng.below(7) {
            // Flip bits in a byte.
            0 if !b.is_empty() => {
                let i = rng.below(b.len());
                b[i] ^= 1 << rng.below(8);
            }
            // Set a byte to an interesting value.
            1 if !b.is_empty() => {
                let i = rng.below(b.len());
                b[i] = [0, b'<', b'>', b'"', b'&', b'/', 0xFF, 0xE3, b'.', b'-'][rng.below(10)];
            }
            // Truncate.
            2 => {
                let n = rng.below(b.len() + 1);
                b.truncate(n);
            }
            // Delete a whole tag.
            3 => {
                let t = tags(&b);
                if !t.is_empty() {
                    let (s, e) = t[rng.below(t.len())];
                    b.drain(s..e);
                }
            }
            // Duplicate a tag somewhere else.
            4 => {
                let t = tags(&b);
                if !t.is_empty() {
                    let (s, e) = t[rng.below(t.len())];
                    let tag = b[s..e].to_vec();
                    let at = rng.below(b.len() + 1);
                    b.splice(at..at, tag);
                }
            }
            // Delete an attribute value's contents.
            5 => {
                let quotes: Vec<_> = b
                    .iter()
                    .enumerate()
                    .filter(|(_, &c)| c == b'"')
                    .map(|(i, _)| i)
                    .collect();
                if quotes.len() >= 2 {
                    let q = rng.below(quotes.len() - 1);
                    b.drain(quotes[q] + 1..quotes[q + 1]);
                }
            }
            // Splice a piece of another document in.
            _ => {
                if !other.is_empty() {
                    let s = rng.below(other.len());
                    let e = (s + rng.below(200)).min(other.len());
                    let at = rng.below(b.len() + 1);
                    b.splice(at..at, other[s..e].iter().copied());
                }
            }
        }
    }
    b
}

#[test]
fn mutated_fixtures_never_panic() {
    let corpus = corpus();
    let mut rng = Rng(SEED);
    let started = Instant::now();
    let mut runs = 0;
    for input in &corpus {
        fuzz_one(input);
    }
    while runs < MAX_ITERATIONS && started.elapsed() < MAX_TIME {
        let input = &corpus[rng.below(corpus.len())];
        let other = &corpus[rng.below(corpus.len())];
        let mutated = mutate(&mut rng, input, other);
        if catch_unwind(AssertUnwindSafe(|| fuzz_one(&mutated))).is_err() {
            panic!(
                "fuzz_one panicked on iteration {runs} (seed {SEED:#x}); input:\n{}",
                String::from_utf8_lossy(&mutated)
            );
        }
        runs += 1;
    }
    assert!(runs > 100, "only {runs} iterations in {MAX_TIME:?}");
}
