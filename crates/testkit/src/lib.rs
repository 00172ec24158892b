//! Test support shared by the crates' test suites.
//!
//! Invariant: used only as a dev-dependency. External programs are found on the machine, never
//! downloaded; when one is missing, [`external_missing`] prints a visible skip message, or fails
//! under `KAKUNIN_REQUIRE_EXTERNAL=1`.

pub mod browser;
pub mod face;
pub mod pcsc;
pub mod pg;
pub mod process;

/// Call when an external program a test needs is absent. Returns normally (so the test can
/// `return` and count as skipped) unless `KAKUNIN_REQUIRE_EXTERNAL=1`, in which case it panics.
pub fn external_missing(what: &str) {
    let required = std::env::var("KAKUNIN_REQUIRE_EXTERNAL").is_ok_and(|v| v == "1");
    if required {
        panic!("{what} is required (KAKUNIN_REQUIRE_EXTERNAL=1) but not installed");
    }
    eprintln!("SKIPPED: {what} is not installed; install it to run this test (see .ci/run)");
}
