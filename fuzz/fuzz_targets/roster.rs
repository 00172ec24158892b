#![no_main]
// The `roster` target of kakunin-fuzz-targets under libFuzzer; see ../README.md.
libfuzzer_sys::fuzz_target!(|data: &[u8]| kakunin_fuzz_targets::roster(data));
