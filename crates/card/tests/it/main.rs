//! Integration tests of kakunin-card, in one binary so the RSA-2048 fixture key is generated
//! once (see `support::fixture`).

mod card_file;
mod jpki_flow;
mod never_panics;
mod photo;
mod removal;
mod support;
mod surface;
mod virtual_apdus;
mod vpcd;
