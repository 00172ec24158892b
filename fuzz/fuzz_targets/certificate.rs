#![no_main]
// The `certificate` target of kakunin-fuzz-targets under libFuzzer; see ../README.md.
libfuzzer_sys::fuzz_target!(|data: &[u8]| kakunin_fuzz_targets::certificate(data));
