//! A bounded mutation fuzzer for the UKE reader that runs on stable Rust in CI: starting from the
//! golden sample and our 調剤 fixture, it flips, inserts and deletes bytes, splices lines between
//! files and truncates, with a fixed seed, and feeds every case to `uke::fuzz_one` (which parses,
//! writes back and parses again). Bounded by a case count and by wall time, so a slow debug build
//! only runs fewer cases. `UKE_FUZZ_CASES` / `UKE_FUZZ_SECS` / `UKE_FUZZ_SEED` override the bounds.

use kakunin_formats::uke;
use std::time::{Duration, Instant};

const SEEDS: [&[u8]; 2] = [
    include_bytes!("fixtures/uke/RECEIPTC_GAIRAI_SAMPLE.UKE"),
    include_bytes!("fixtures/uke/CHOZAI_SAMPLE.UKE"),
];

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

/// Bytes that matter to the format: separators, line ends, EOF, digits, SJIS lead/trail bytes.
const INTERESTING: &[u8] =
    b",\r\n\x1A0123456789\x81\x82\x83\x88\x9F\xE0\xEA\xED\xFA\xFC\x40\x7F\x80\xA0\xFD\xFF";

fn lines(b: &[u8]) -> Vec<&[u8]> {
    b.split_inclusive(|&c| c == b'\n').collect()
}

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut b = input.to_vec();
    for _ in 0..=rng.below(4) {
        match rng.below(8) {
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
            4 => {
                // Splice a line from either seed into a random line position.
                let other = SEEDS[rng.below(SEEDS.len())];
                let donor = lines(other);
                let mut ls: Vec<Vec<u8>> = lines(&b).into_iter().map(<[u8]>::to_vec).collect();
                let line = donor[rng.below(donor.len())].to_vec();
                let at = rng.below(ls.len() + 1);
                ls.insert(at, line);
                b = ls.concat();
            }
            5 => {
                // Delete or duplicate a whole line.
                let mut ls: Vec<Vec<u8>> = lines(&b).into_iter().map(<[u8]>::to_vec).collect();
                if !ls.is_empty() {
                    let at = rng.below(ls.len());
                    if rng.below(2) == 0 {
                        ls.remove(at);
                    } else {
                        let l = ls[at].clone();
                        ls.insert(at, l);
                    }
                }
                b = ls.concat();
            }
            6 if !b.is_empty() => {
                // Drop or add a comma inside a record.
                let i = rng.below(b.len());
                if b[i] == b',' {
                    b.remove(i);
                } else {
                    b.insert(i, b',');
                }
            }
            _ => {
                // Replace a run with digits (dates, numbers).
                let i = rng.below(b.len() + 1);
                let n = rng.below(9);
                let digits: Vec<u8> = (0..n).map(|_| b'0' + rng.below(10) as u8).collect();
                let end = (i + n).min(b.len());
                b.splice(i..end, digits);
            }
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
    let cases: usize = env_or("UKE_FUZZ_CASES", 20_000);
    let budget = Duration::from_secs(env_or("UKE_FUZZ_SECS", 3));
    let seed: u64 = env_or("UKE_FUZZ_SEED", 0x005E_ED0F_0CE0_u64);
    let mut rng = Rng(seed | 1);
    let start = Instant::now();
    let mut ran = 0;
    let mut parsed = 0;
    while ran < cases && start.elapsed() < budget {
        let base = SEEDS[rng.below(SEEDS.len())];
        let input = mutate(&mut rng, base);
        let result = std::panic::catch_unwind(|| uke::fuzz_one(&input));
        if result.is_err() {
            let path = std::env::temp_dir().join(format!("uke-fuzz-crash-{seed:x}-{ran}.UKE"));
            let _ = std::fs::write(&path, &input);
            panic!(
                "case {ran} (seed {seed:#x}) panicked; input saved to {}",
                path.display()
            );
        }
        parsed += usize::from(uke::parse(&input).is_ok());
        ran += 1;
    }
    assert!(ran >= 100, "only {ran} cases ran in {budget:?}");
    // Most mutants keep their header, so the fuzzer reaches the record parsers, not only the
    // file-level checks.
    assert!(parsed * 2 > ran, "{parsed} of {ran} mutants parsed");
    eprintln!(
        "uke fuzz: {ran} cases, {parsed} parsed, {:?}",
        start.elapsed()
    );
}

#[test]
fn seeds_pass_fuzz_one() {
    for s in SEEDS {
        uke::fuzz_one(s);
    }
}
