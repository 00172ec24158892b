//! The card seam of kakunin: everything that speaks APDUs to a My Number card's 公的個人認証AP
//! (JPKI AP), and the card itself when there is none.
//!
//! - [`apdu`]: short command/response APDUs and status words;
//! - [`Card`]: the transport trait (one C-APDU in, one R-APDU out) and [`CardError`];
//! - [`Jpki`]: the terminal-side client — token info, the 利用者証明用 certificate and CA
//!   certificate, the auth PIN (tries left without using one, VERIFY), signing;
//! - [`VirtualCard`]: an APDU-level emulation of the JPKI AP persisted in a card file, with
//!   [`generate_rsa2048_pkcs8`] and [`public_key_der_from_pkcs8`] for whoever issues one;
//! - [`serve_vpcd`]: a virtual card behind pcscd's vpcd reader driver;
//! - `PcscCard` (feature `pcsc`, off by default because it needs libpcsclite-dev): real readers;
//! - [`open_card`]: `virtual:FILE`, `pcsc`, `pcsc:READER` → `Box<dyn Card>`.
//!
//! # Invariant
//!
//! This crate speaks APDUs and nothing else. It depends on no async runtime, no HTTP, no store
//! and no other kakunin crate; its only I/O is the card file, a TCP link to vpcd and (with the
//! feature) PC/SC. It never reads personal data from a card: the signature certificate and the
//! 券面 applications' files are neither read by the client nor emulated.
//!
//! # The sequence a terminal runs
//!
//! ```text
//! SELECT JPKI AP → READ auth cert (no PIN) → tries left (VERIFY, no data) → VERIFY PIN
//!   → COMPUTE DIGITAL SIGNATURE over the server's challenge (SHA-256 DigestInfo)
//! ```

pub mod apdu;
mod hex;
mod jpki;
mod keys;
mod open;
#[cfg(feature = "pcsc")]
mod pcsc;
mod transport;
mod virtual_card;
mod vpcd;

pub use apdu::{ApduError, Command, Response};
pub use jpki::{
    is_valid_auth_pin, sha256_digest_info, Jpki, JpkiError, AUTH_PIN_MAX_TRIES, EF_AUTH_CA_CERT,
    EF_AUTH_CERT, EF_AUTH_KEY, EF_AUTH_PIN, EF_CERT_FLAGS, EF_TOKEN_INFO, JPKI_AID, MAX_SIGN_INPUT,
    SURFACE_AID, TEXT_AID,
};
pub use keys::{generate_rsa2048_pkcs8, public_key_der_from_pkcs8, KeyError, RSA_BITS};
pub use open::open_card;
#[cfg(feature = "pcsc")]
pub use pcsc::PcscCard;
pub use transport::{Card, CardError};
pub use virtual_card::{
    RemovalHandle, VirtualCard, VirtualCardError, VirtualCardSpec, CARD_FILE_FORMAT,
};
pub use vpcd::{serve_vpcd, VPCD_CONNECT_PATIENCE, VPCD_DEFAULT_ADDR};
