//! The card seam of kakunin: everything that speaks APDUs to a My Number card's 公的個人認証AP
//! (JPKI AP) and 券面事項確認AP (card-surface AP), and the card itself when there is none.
//!
//! - [`apdu`]: short command/response APDUs and status words;
//! - [`Card`]: the transport trait (one C-APDU in, one R-APDU out) and [`CardError`];
//! - [`Jpki`]: the terminal-side client — token info, the 利用者証明用 certificate and CA
//!   certificate, the auth PIN (tries left without using one, VERIFY), signing;
//! - [`Surface`] ([`surface`]): the terminal-side client of the 券面事項確認AP — 照合番号B
//!   ([`collation_number_b`], tries left, VERIFY) and the face photo;
//! - [`photo`]: the photo's format, greyscale JPEG 2000 in a JP2 file: [`decode_jp2`] (bounded,
//!   never panics) into a [`GreyImage`] that wipes itself, and [`encode_jp2`] for issuers;
//! - [`VirtualCard`]: an APDU-level emulation of the JPKI AP, and optionally of the
//!   券面事項確認AP with a face photo ([`SurfaceSpec`]), persisted in a card file, with
//!   [`generate_rsa2048_pkcs8`] and [`public_key_der_from_pkcs8`] for whoever issues one;
//! - [`serve_vpcd`]: a virtual card behind pcscd's vpcd reader driver;
//! - `PcscCard` (feature `pcsc`, off by default because it needs libpcsclite-dev): real readers;
//! - [`open_card`]: `virtual:FILE`, `pcsc`, `pcsc:READER` → `Box<dyn Card>`.
//!
//! # Invariant
//!
//! This crate speaks APDUs and nothing else. It depends on no async runtime, no HTTP, no store
//! and no other kakunin crate; its only I/O is the card file, a TCP link to vpcd and (with the
//! feature) PC/SC. Of a card's personal data it reads one thing, the face photo, and only for a
//! face comparison on the terminal after the patient's card face gave 照合番号B: the signature
//! certificate, the 券面事項入力補助AP and every other object of the card face record (name,
//! address, date of birth, sex) are neither read by the client nor emulated with real content.
//! A decoded photo is wiped from memory when dropped.
//!
//! # The sequences a terminal runs
//!
//! ```text
//! SELECT JPKI AP → READ auth cert (no PIN) → tries left (VERIFY, no data) → VERIFY PIN
//!   → COMPUTE DIGITAL SIGNATURE over the server's challenge (SHA-256 DigestInfo)
//!
//! SELECT 券面事項確認AP → tries left (VERIFY on EF 0012, no data) → VERIFY 照合番号B
//!   → READ EF 0002: header and offset table, then DF27 alone → decode_jp2 → face matcher
//! ```

pub mod apdu;
mod exchange;
mod hex;
mod jpki;
mod keys;
mod open;
#[cfg(feature = "pcsc")]
mod pcsc;
pub mod photo;
pub mod surface;
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
pub use photo::{
    decode_jp2, encode_jp2, GreyImage, PhotoError, JP2_SIGNATURE, MAX_PHOTO_PIXELS,
    PHOTO_BUDGET_BYTES,
};
pub use surface::{
    collation_number_b, is_valid_collation_number_b, CardDate, Era, Surface, SurfaceError,
    CODE_B_LEN, CODE_B_MAX_TRIES, EF_CARD_FACE, EF_CODE_B,
};
pub use transport::{Card, CardError};
pub use virtual_card::{
    RemovalHandle, SurfaceSpec, VirtualCard, VirtualCardError, VirtualCardSpec, CARD_FILE_FORMAT,
};
pub use vpcd::{serve_vpcd, VPCD_CONNECT_PATIENCE, VPCD_DEFAULT_ADDR};
