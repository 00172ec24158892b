#![no_main]
// The `cda` target of kakunin-fuzz-targets under libFuzzer; see ../README.md.
libfuzzer_sys::fuzz_target!(|data: &[u8]| kakunin_fuzz_targets::cda(data));
