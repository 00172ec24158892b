//! Integration tests of the authority. One test binary, so that every test shares one authority
//! directory (one CA chain: RSA-2048 generation is the slow part) and issues few cards.

mod api;
mod ca;
mod common;
mod crl;
mod matching;
mod router;
