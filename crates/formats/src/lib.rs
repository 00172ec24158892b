//! Formats kakunin reads and writes, parsed into domain types.
//!
//! Invariant: no network, no database, no async; input is bytes, output is domain values or a
//! list of errors that name the line and field. A parser never panics on any input.

pub mod checkup;
pub mod encoding;
pub mod masters;
pub mod oqs;
pub mod roster;
pub mod uke;
