//! The virtual My Number card: see [`VirtualCard`].

use crate::apdu::{
    sw_tries_left, Command, Response, SW_AUTH_BLOCKED, SW_CLA_NOT_SUPPORTED, SW_FILE_NOT_FOUND,
    SW_INCOMPATIBLE_FILE, SW_INS_NOT_SUPPORTED, SW_MEMORY_FAILURE, SW_NO_CURRENT_EF, SW_OK,
    SW_SECURITY_NOT_SATISFIED, SW_UNKNOWN, SW_WRONG_DATA, SW_WRONG_LENGTH, SW_WRONG_OFFSET,
    SW_WRONG_P1P2,
};
use crate::jpki::{
    der_total_len, is_valid_auth_pin, AUTH_PIN_MAX_TRIES, EF_AUTH_CA_CERT, EF_AUTH_CERT,
    EF_AUTH_KEY, EF_AUTH_PIN, EF_CERT_FLAGS, EF_TOKEN_INFO, JPKI_AID, MAX_SIGN_INPUT, SURFACE_AID,
    TEXT_AID,
};
use crate::keys::{decode_rsa2048, rsa_public_key_der, KeyError};
use crate::photo::{decode_jp2, PhotoError, JP2_SIGNATURE};
use crate::surface::{
    collation_number_b, tlv_short_tag, CardDate, CardFaceRecord, SurfaceError, CODE_B_LEN,
    CODE_B_MAX_TRIES, EF_CARD_FACE, EF_CODE_B, MAX_EF_LEN,
};
use crate::transport::{Card, CardError};
use rsa::rand_core::{OsRng, RngCore};
use rsa::{Pkcs1v15Sign, RsaPrivateKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use thiserror::Error;

/// The `format` field of a card file this version reads and writes.
pub const CARD_FILE_FORMAT: &str = "kakunin-virtual-card/1";

/// The ATR a contactless reader synthesises for a My Number card (pcsc-tools' list: "Japanese
/// JPKI card").
const ATR: [u8; 13] = [
    0x3B, 0x88, 0x80, 0x01, 0x00, 0x00, 0x05, 0xE0, 0xB3, 0x81, 0xA1, 0x00, 0x7F,
];

/// What EF 0006 holds.
const TOKEN_LABEL: &[u8] = b"JPKIAPICCTOKEN2";

/// What the card issuer puts on a new virtual card.
#[derive(Clone)]
pub struct VirtualCardSpec {
    /// The 利用者証明用 private key: RSA-2048, PKCS#8 DER.
    pub auth_key_pkcs8_der: Vec<u8>,
    /// The 利用者証明用電子証明書 (X.509 DER) certifying that key.
    pub auth_cert_der: Vec<u8>,
    /// The CA certificate (X.509 DER) that issued it.
    pub auth_ca_cert_der: Vec<u8>,
    /// The auth PIN: 4 ASCII digits.
    pub pin: String,
}

impl std::fmt::Debug for VirtualCardSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VirtualCardSpec")
            .field(
                "auth_cert_der",
                &format_args!("{} bytes", self.auth_cert_der.len()),
            )
            .field(
                "auth_ca_cert_der",
                &format_args!("{} bytes", self.auth_ca_cert_der.len()),
            )
            .finish_non_exhaustive()
    }
}

/// The card face of a new virtual card: what its 券面事項確認AP holds (see [`VirtualCard`]).
#[derive(Clone)]
pub struct SurfaceSpec {
    /// 顔写真: a JP2 file, greyscale JPEG 2000 (see [`crate::encode_jp2`]); `DF27`.
    pub face_photo_jp2: Vec<u8>,
    /// 生年月日; `DF22`, and the first six digits of 照合番号B (as 和暦 `YYMMDD`).
    pub birth_date: CardDate,
    /// 有効期限; `DF29`, and its year is digits 7–10 of 照合番号B.
    pub expiry: CardDate,
    /// The セキュリティコード printed on the front: 4 digits, the last of 照合番号B.
    pub security_code: String,
}

impl std::fmt::Debug for SurfaceSpec {
    /// Neither the face nor the codes.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SurfaceSpec")
            .field(
                "face_photo_jp2",
                &format_args!("{} bytes", self.face_photo_jp2.len()),
            )
            .finish_non_exhaustive()
    }
}

/// Why a virtual card could not be created or opened.
#[derive(Debug, Error)]
pub enum VirtualCardError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{} already exists; a card file is never overwritten", .0.display())]
    AlreadyExists(PathBuf),
    #[error("{}: not a {CARD_FILE_FORMAT} file: {reason}", path.display())]
    Format { path: PathBuf, reason: String },
    #[error("the PIN must be exactly 4 digits")]
    PinFormat,
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("the auth certificate does not certify the card's key")]
    KeyCertificateMismatch,
    #[error("the {0} is not one DER element of at most 32767 bytes")]
    BadCertificate(&'static str),
    /// The card face photo is not a greyscale JP2 file the terminal can decode.
    #[error("the face photo: {0}")]
    FacePhoto(#[from] PhotoError),
    /// 照合番号B cannot be formed from the card face (security code, expiry year, birth date).
    #[error("the card face: {0}")]
    CardFace(#[from] SurfaceError),
    /// The card face record does not fit the EF (READ BINARY's 15-bit offsets).
    #[error("the card face record is {0} bytes, more than the 32767 an EF holds")]
    CardFaceTooLarge(usize),
}

/// Removes (and re-inserts) a [`VirtualCard`] from another thread or from a test, to simulate a
/// card pulled from the reader mid-transaction. Get one from [`VirtualCard::removal_handle`].
///
/// While removed, every [`Card::transmit`] of the card returns [`CardError::Removed`]; a
/// removal resets the card (selection and PIN-verified state are gone), as a power-off would.
#[derive(Clone, Debug)]
pub struct RemovalHandle {
    shared: Arc<RemovalState>,
}

#[derive(Debug)]
struct RemovalState {
    present: AtomicBool,
    removals: AtomicU64,
    /// APDUs still answered before an automatic removal; `u64::MAX` = none planned.
    remove_after: AtomicU64,
}

impl RemovalHandle {
    /// Pulls the card out of the reader.
    pub fn remove(&self) {
        self.shared.present.store(false, Ordering::SeqCst);
        self.shared.removals.fetch_add(1, Ordering::SeqCst);
        self.shared.remove_after.store(u64::MAX, Ordering::SeqCst);
    }

    /// Puts the card back (freshly reset).
    pub fn insert(&self) {
        self.shared.present.store(true, Ordering::SeqCst);
    }

    /// Pulls the card out after it has answered `apdus` more C-APDUs: the next one fails.
    pub fn remove_after(&self, apdus: u64) {
        self.shared.remove_after.store(apdus, Ordering::SeqCst);
    }

    pub fn is_present(&self) -> bool {
        self.shared.present.load(Ordering::SeqCst)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Df {
    Jpki,
    Text,
    Surface,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ef {
    TokenInfo,
    CertFlags,
    AuthCert,
    AuthCaCert,
    AuthKey,
    AuthPin,
    CardFace,
    CodeB,
}

/// A reference the card checks in a VERIFY: the auth PIN or 照合番号B.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reference {
    AuthPin,
    CodeB,
}

impl Reference {
    /// (tries after a right VERIFY, length of the reference data).
    fn limits(self) -> (u8, usize) {
        match self {
            Reference::AuthPin => (AUTH_PIN_MAX_TRIES, 4),
            Reference::CodeB => (CODE_B_MAX_TRIES, CODE_B_LEN),
        }
    }
}

/// A salted SHA-256 of reference data and its retry counter.
#[derive(Clone, Copy)]
struct Secret {
    salt: [u8; 16],
    hash: [u8; 32],
    tries_left: u8,
}

impl Secret {
    fn new(value: &[u8], tries_left: u8) -> Secret {
        let mut salt = [0u8; 16];
        OsRng.fill_bytes(&mut salt);
        Secret {
            hash: pin_hash(&salt, value),
            salt,
            tries_left,
        }
    }

    fn matches(&self, value: &[u8]) -> bool {
        constant_time_eq(&pin_hash(&self.salt, value), &self.hash)
    }

    fn record(&self) -> PinRecord {
        PinRecord {
            salt: crate::hex::encode(&self.salt),
            sha256: crate::hex::encode(&self.hash),
            tries_left: self.tries_left,
        }
    }

    /// Reads a record written by [`Secret::record`]; `name` prefixes the reasons.
    fn from_record(record: &PinRecord, max: u8, name: &str) -> Result<Secret, String> {
        let salt = crate::hex::decode(&record.salt)
            .and_then(|b| <[u8; 16]>::try_from(b).ok())
            .ok_or_else(|| format!("{name}.salt is not 16 bytes of hex"))?;
        let hash = crate::hex::decode(&record.sha256)
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .ok_or_else(|| format!("{name}.sha256 is not 32 bytes of hex"))?;
        if record.tries_left > max {
            return Err(format!(
                "{name}.tries_left {} exceeds {max}",
                record.tries_left
            ));
        }
        Ok(Secret {
            salt,
            hash,
            tries_left: record.tries_left,
        })
    }
}

/// The 券面事項確認AP of a card issued with a card face.
struct SurfaceState {
    birth_date: CardDate,
    expiry: CardDate,
    security_code: String,
    photo: Vec<u8>,
    /// The chip's reference data: 照合番号B, hashed in memory with a fresh salt.
    code_b: Secret,
    /// EF 0002 as READ BINARY serves it.
    record: Vec<u8>,
}

/// The persisted part of the card.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CardFile {
    format: String,
    auth_key_pkcs8: String,
    auth_cert: String,
    auth_ca_cert: String,
    auth_pin: PinRecord,
    /// Absent in cards issued without a card face, and in every file written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    surface: Option<SurfaceRecord>,
}

/// The card face: what is printed on the front (and what the 券面AP derives 照合番号B from),
/// the photo, and the chip's 照合番号B retry counter.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SurfaceRecord {
    birth_date: String,
    expiry: String,
    security_code: String,
    face_photo: String,
    code_b_tries_left: u8,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PinRecord {
    salt: String,
    sha256: String,
    tries_left: u8,
}

/// An APDU-level emulation of a My Number card's JPKI AP and, when issued with a card face,
/// its 券面事項確認AP, persisted in a file: the stand-in for the chip in tests, demos and the
/// vpcd bridge.
///
/// # What it answers
///
/// | C-APDU | Answer |
/// |---|---|
/// | SELECT DF `00 A4 04 0C Lc <AID>` | `90 00` for [`JPKI_AID`], [`TEXT_AID`], and [`SURFACE_AID`] on a card with a card face; `6A 82` otherwise (selection unchanged). Selecting a different DF clears the EF selection and the verified state (PIN and 照合番号B). |
/// | SELECT EF `00 A4 02 0C 02 <FID>` | `90 00` for the JPKI AP's EFs and the 券面事項確認AP's EFs below; `6A 82` for anything else, including every EF of the 券面事項入力補助AP (selectable but empty: no personal data is emulated) and when no DF is selected |
/// | READ BINARY `00 B0 P1 P2 Le` | offset = P1P2, `Le=00` = 256; the bytes left when fewer than Le; `6B 00` when offset ≥ length; `6A 86` for the short-EF form (P1 bit 8); `69 86` with no current EF; `69 81` on a key, PIN or 照合番号B EF; `69 82` on EF 0002 of the 券面事項確認AP before 照合番号B; `67 00` without Le or with data |
/// | VERIFY `00 20 00 80 [Lc PIN]` on EF 0018 | no data: `63 Cx` (x = tries left, `63 C0` when locked), nothing used; 4 bytes: right → `90 00`, counter back to 3; wrong → `63 Cx` after the decrement (`63 C0` on the attempt that exhausts it); locked → `69 84` for every attempt, even the right PIN. Data of another length: `67 00`, no try used. `69 86` with no current EF, `69 81` when it is not a PIN EF. |
/// | VERIFY `00 20 00 80 [0E 照合番号B]` on EF 0012 of the 券面事項確認AP | the same with 14 ASCII digits and [`CODE_B_MAX_TRIES`] (10) tries: `63 CA` … `63 C0`, then `69 84` |
/// | CHANGE REFERENCE DATA `00 24 01 80 Lc <new PIN>` on EF 0018 | after a VERIFY in this session: `90 00` (new PIN persisted); `69 82` without VERIFY; `69 84` when locked; `6A 80` unless 4 ASCII digits. On any other EF (照合番号B too): `69 81`. |
/// | COMPUTE DIGITAL SIGNATURE `80 2A 00 80 Lc <data> [Le]` on EF 0017 | after a VERIFY in this session: EMSA-PKCS1-v1_5 type-1 padding of `data` (1..=245 bytes) and the RSA private-key operation: 256 bytes + `90 00`; `69 82` without VERIFY; `6A 86` for P1 ≠ 00 or P2 ≠ 80; `67 00` for empty or longer data; `6C 00` when an Le below 256 is given |
/// | GET CHALLENGE and every other INS | `6D 00` |
/// | CLA other than `00` (`80` for the signature) | `6E 00` |
/// | fewer than 4 bytes, Lc inconsistent, extended length | `67 00` |
///
/// JPKI AP EFs: 0006 token info (`"JPKIAPICCTOKEN2"`, space-padded to 32 bytes), 0008 (three
/// zero bytes: the real content is undocumented), 000A auth certificate, 000B auth CA
/// certificate, 0017 auth key, 0018 auth PIN. The signature-certificate EFs (0001, 0002, 001A,
/// 001B) are **absent** (`6A 82`), as on a card issued without a 署名用電子証明書 (e.g. a
/// child's card): eligibility verification never uses them.
///
/// 券面事項確認AP EFs (research/card-face.md §1.3): 0012 the 照合番号B key reference
/// ([`crate::collation_number_b`] of the card face), 0002 the card face record
/// `FF20 { DF21 offsets, DF22 生年月日, DF23 性別, DF24 public key, DF25, DF26, DF27 顔写真,
/// DF28 signature, DF29 有効期限, DF2A }`. `DF23` is `9` (the virtual card records no sex),
/// `DF24` is the card's RSA key as `90 e 91 n`, the rendered name, address and security code
/// (`DF25`, `DF26`, `DF2A`) are empty, and `DF28` is 256 zero bytes: without the 券面AP's
/// issuer key (EF 0004, not emulated) there is nothing to sign with, and nothing could verify
/// it. The age record 0001, the AP data 0003, the certificate 0004, the rendered 個人番号 0005
/// and the keys 0011 (生年月日) and 0013 (照合番号A) are absent (`6A 82`).
///
/// Retry counters are written to the file (temporary file, fsync, rename) **before** the
/// answer leaves the card, so killing the process cannot give a try back; if the write fails
/// the card answers `65 81` (memory failure) and is never more permissive than the file.
///
/// # The card file
///
/// JSON, mode 0600, one object:
///
/// ```json
/// {
///   "format": "kakunin-virtual-card/1",
///   "auth_key_pkcs8": "<hex: RSA-2048 private key, PKCS#8 DER>",
///   "auth_cert": "<hex: X.509 DER>",
///   "auth_ca_cert": "<hex: X.509 DER>",
///   "auth_pin": { "salt": "<hex: 16 bytes>", "sha256": "<hex: SHA-256(salt ‖ PIN)>", "tries_left": 3 },
///   "surface": {
///     "birth_date": "19800217", "expiry": "20350217", "security_code": "2285",
///     "face_photo": "<hex: JP2 file>", "code_b_tries_left": 10
///   }
/// }
/// ```
///
/// `surface` is present only on a card issued with a card face; files written before it
/// existed open unchanged, and a card without one writes none. It holds what is printed on the
/// front of the card (from which the chip's 照合番号B is derived, as on a real card) and the
/// chip's retry counter.
///
/// The private key is in the file because the file *is* the chip. The PIN is stored salted and
/// hashed only so that it does not sit in clear next to the key; with 10 000 possible PINs the
/// hash is no secret from someone who can read the file.
///
/// One process at a time should use a card file: two instances would each keep their own
/// counter in memory.
pub struct VirtualCard {
    path: PathBuf,
    key: RsaPrivateKey,
    key_pkcs8: Vec<u8>,
    auth_cert: Vec<u8>,
    auth_ca_cert: Vec<u8>,
    auth_pin: Secret,
    surface: Option<SurfaceState>,
    // Volatile state, lost on reset / power-off / removal.
    df: Option<Df>,
    ef: Option<Ef>,
    pin_verified: bool,
    code_b_verified: bool,
    removal: Arc<RemovalState>,
    removals_seen: u64,
}

impl std::fmt::Debug for VirtualCard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VirtualCard")
            .field("path", &self.path)
            .field("tries_left", &self.auth_pin.tries_left)
            .field("surface", &self.surface.is_some())
            .field("df", &self.df)
            .field("ef", &self.ef)
            .field("pin_verified", &self.pin_verified)
            .field("code_b_verified", &self.code_b_verified)
            .finish_non_exhaustive()
    }
}

impl VirtualCard {
    /// Issues a new card file at `path` (mode 0600). Refuses to overwrite an existing file,
    /// a PIN that is not 4 digits, a key that is not RSA-2048, and a certificate that does not
    /// contain the key's public key. The card has no card face: its 券面事項確認AP answers
    /// `6A 82` (see [`VirtualCard::create_with_surface`]).
    pub fn create(path: &Path, spec: VirtualCardSpec) -> Result<VirtualCard, VirtualCardError> {
        VirtualCard::issue(path, spec, None)
    }

    /// [`VirtualCard::create`] with a card face: the 券面事項確認AP serves `surface`'s photo
    /// after 照合番号B. Also refuses a photo that [`crate::decode_jp2`] does not decode, a
    /// security code that is not 4 digits, a date of birth with no two-digit 和暦 year, and a
    /// record larger than an EF.
    pub fn create_with_surface(
        path: &Path,
        spec: VirtualCardSpec,
        surface: SurfaceSpec,
    ) -> Result<VirtualCard, VirtualCardError> {
        VirtualCard::issue(path, spec, Some(surface))
    }

    fn issue(
        path: &Path,
        spec: VirtualCardSpec,
        surface: Option<SurfaceSpec>,
    ) -> Result<VirtualCard, VirtualCardError> {
        if !is_valid_auth_pin(&spec.pin) {
            return Err(VirtualCardError::PinFormat);
        }
        let key = checked_key(&spec.auth_key_pkcs8_der, &spec.auth_cert_der)?;
        check_certificate(&spec.auth_ca_cert_der, "auth CA certificate")?;
        let surface = match surface {
            None => None,
            Some(surface) => {
                // The terminal must be able to decode what the card serves.
                decode_jp2(&surface.face_photo_jp2)?;
                Some(SurfaceState::new(
                    &key,
                    surface.birth_date,
                    surface.expiry,
                    surface.security_code,
                    surface.face_photo_jp2,
                    CODE_B_MAX_TRIES,
                )?)
            }
        };
        let card = VirtualCard {
            path: path.to_path_buf(),
            key,
            key_pkcs8: spec.auth_key_pkcs8_der,
            auth_cert: spec.auth_cert_der,
            auth_ca_cert: spec.auth_ca_cert_der,
            auth_pin: Secret::new(spec.pin.as_bytes(), AUTH_PIN_MAX_TRIES),
            surface,
            df: None,
            ef: None,
            pin_verified: false,
            code_b_verified: false,
            removal: new_removal_state(),
            removals_seen: 0,
        };
        let io_err = |source| VirtualCardError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut file = match private_file_options().create_new(true).open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                return Err(VirtualCardError::AlreadyExists(path.to_path_buf()))
            }
            Err(e) => return Err(io_err(e)),
        };
        file.write_all(&card.file_bytes())
            .and_then(|()| file.sync_all())
            .map_err(io_err)?;
        sync_parent_dir(path);
        Ok(card)
    }

    /// Gives a card issued without a card face its face (the issuer printing the front and
    /// writing the 券面AP, as for the demo's cards, issued before their photos were chosen).
    /// Refuses a card that already has one, and what [`VirtualCard::create_with_surface`]
    /// refuses; the file is rewritten (temporary file, fsync, rename).
    pub fn add_surface(&mut self, surface: SurfaceSpec) -> Result<(), VirtualCardError> {
        if self.surface.is_some() {
            return Err(VirtualCardError::Format {
                path: self.path.clone(),
                reason: "the card already has a card face".to_owned(),
            });
        }
        decode_jp2(&surface.face_photo_jp2)?;
        self.surface = Some(SurfaceState::new(
            &self.key,
            surface.birth_date,
            surface.expiry,
            surface.security_code,
            surface.face_photo_jp2,
            CODE_B_MAX_TRIES,
        )?);
        self.persist().map_err(|source| VirtualCardError::Io {
            path: self.path.clone(),
            source,
        })
    }

    /// Opens an existing card file (powered off: nothing selected, PIN not verified).
    pub fn open(path: &Path) -> Result<VirtualCard, VirtualCardError> {
        let bytes = std::fs::read(path).map_err(|source| VirtualCardError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let format_err = |reason: String| VirtualCardError::Format {
            path: path.to_path_buf(),
            reason,
        };
        let file: CardFile =
            serde_json::from_slice(&bytes).map_err(|e| format_err(e.to_string()))?;
        if file.format != CARD_FILE_FORMAT {
            return Err(format_err(format!("unsupported format {:?}", file.format)));
        }
        let field = |name: &str, hex: &str| {
            crate::hex::decode(hex).ok_or_else(|| format_err(format!("{name} is not hex")))
        };
        let key_pkcs8 = field("auth_key_pkcs8", &file.auth_key_pkcs8)?;
        let auth_cert = field("auth_cert", &file.auth_cert)?;
        let auth_ca_cert = field("auth_ca_cert", &file.auth_ca_cert)?;
        let auth_pin = Secret::from_record(&file.auth_pin, AUTH_PIN_MAX_TRIES, "auth_pin")
            .map_err(format_err)?;
        let key = checked_key(&key_pkcs8, &auth_cert)?;
        check_certificate(&auth_ca_cert, "auth CA certificate")?;
        let surface = match &file.surface {
            None => None,
            Some(record) => {
                let date = |name: &str, text: &str| {
                    CardDate::parse_yyyymmdd(text)
                        .ok_or_else(|| format_err(format!("surface.{name} is not YYYYMMDD")))
                };
                let photo = field("surface.face_photo", &record.face_photo)?;
                if !photo.starts_with(&JP2_SIGNATURE) {
                    return Err(format_err(
                        "surface.face_photo is not a JP2 file".to_owned(),
                    ));
                }
                if record.code_b_tries_left > CODE_B_MAX_TRIES {
                    return Err(format_err(format!(
                        "surface.code_b_tries_left {} exceeds {CODE_B_MAX_TRIES}",
                        record.code_b_tries_left
                    )));
                }
                SurfaceState::new(
                    &key,
                    date("birth_date", &record.birth_date)?,
                    date("expiry", &record.expiry)?,
                    record.security_code.clone(),
                    photo,
                    record.code_b_tries_left,
                )
                .map(Some)
                .map_err(|e| match e {
                    VirtualCardError::CardFace(e) => format_err(format!("surface: {e}")),
                    other => other,
                })?
            }
        };
        Ok(VirtualCard {
            path: path.to_path_buf(),
            key,
            key_pkcs8,
            auth_cert,
            auth_ca_cert,
            auth_pin,
            surface,
            df: None,
            ef: None,
            pin_verified: false,
            code_b_verified: false,
            removal: new_removal_state(),
            removals_seen: 0,
        })
    }

    /// The ATR of a My Number card behind a contactless reader:
    /// `3B 88 80 01 00 00 05 E0 B3 81 A1 00 7F`.
    pub fn atr() -> &'static [u8] {
        &ATR
    }

    /// The card file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The 利用者証明用電子証明書 (X.509 DER), as EF 000A serves it.
    pub fn auth_cert_der(&self) -> &[u8] {
        &self.auth_cert
    }

    /// The auth CA certificate (X.509 DER), as EF 000B serves it.
    pub fn auth_ca_cert_der(&self) -> &[u8] {
        &self.auth_ca_cert
    }

    /// Auth PIN tries left (0 = locked for ever).
    pub fn pin_tries_left(&self) -> u8 {
        self.auth_pin.tries_left
    }

    /// Whether the card was issued with a card face (its 券面事項確認AP answers).
    pub fn has_surface(&self) -> bool {
        self.surface.is_some()
    }

    /// 照合番号B tries left (0 = blocked for ever); `None` without a card face.
    pub fn code_b_tries_left(&self) -> Option<u8> {
        self.surface.as_ref().map(|s| s.code_b.tries_left)
    }

    /// 照合番号B as a reader's camera forms it from the front of the card (date of birth,
    /// expiry year, security code: all printed there); `None` without a card face.
    pub fn printed_collation_b(&self) -> Option<String> {
        let s = self.surface.as_ref()?;
        collation_number_b(s.birth_date, s.expiry.year(), &s.security_code).ok()
    }

    /// Power off / reset: forgets the selection and the PIN-verified state.
    pub fn reset(&mut self) {
        self.df = None;
        self.ef = None;
        self.pin_verified = false;
        self.code_b_verified = false;
    }

    /// A handle to pull this card out of the reader (see [`RemovalHandle`]).
    pub fn removal_handle(&self) -> RemovalHandle {
        RemovalHandle {
            shared: Arc::clone(&self.removal),
        }
    }

    /// One C-APDU in, one R-APDU (`data ‖ SW1 SW2`, at least 2 bytes) out. Never panics.
    pub fn process(&mut self, apdu: &[u8]) -> Vec<u8> {
        self.respond(apdu).to_bytes()
    }

    fn respond(&mut self, apdu: &[u8]) -> Response {
        let [cla, ins, ..] = apdu else {
            return Response::status(SW_WRONG_LENGTH);
        };
        let expected_cla = match ins {
            0xA4 | 0xB0 | 0x20 | 0x24 => 0x00,
            0x2A => 0x80,
            _ if *cla != 0x00 && *cla != 0x80 => return Response::status(SW_CLA_NOT_SUPPORTED),
            _ => return Response::status(SW_INS_NOT_SUPPORTED),
        };
        if *cla != expected_cla {
            return Response::status(SW_CLA_NOT_SUPPORTED);
        }
        let Ok(command) = Command::parse(apdu) else {
            return Response::status(SW_WRONG_LENGTH);
        };
        match command.ins {
            0xA4 => self.select(&command),
            0xB0 => self.read_binary(&command),
            0x20 => self.verify(&command),
            0x24 => self.change_reference_data(&command),
            _ => self.compute_signature(&command),
        }
    }

    fn select(&mut self, command: &Command) -> Response {
        if command.p2 != 0x0C {
            return Response::status(SW_WRONG_P1P2);
        }
        match command.p1 {
            0x04 => {
                let df = match command.data.as_slice() {
                    [] => return Response::status(SW_WRONG_LENGTH),
                    aid if aid == JPKI_AID => Df::Jpki,
                    aid if aid == TEXT_AID => Df::Text,
                    aid if aid == SURFACE_AID && self.surface.is_some() => Df::Surface,
                    _ => return Response::status(SW_FILE_NOT_FOUND),
                };
                if self.df != Some(df) {
                    self.pin_verified = false;
                    self.code_b_verified = false;
                }
                self.df = Some(df);
                self.ef = None;
                Response::status(SW_OK)
            }
            0x02 => {
                let Ok(fid) = <[u8; 2]>::try_from(command.data.as_slice()) else {
                    return Response::status(SW_WRONG_LENGTH);
                };
                let ef = match (self.df, fid) {
                    (Some(Df::Jpki), EF_TOKEN_INFO) => Ef::TokenInfo,
                    (Some(Df::Jpki), EF_CERT_FLAGS) => Ef::CertFlags,
                    (Some(Df::Jpki), EF_AUTH_CERT) => Ef::AuthCert,
                    (Some(Df::Jpki), EF_AUTH_CA_CERT) => Ef::AuthCaCert,
                    (Some(Df::Jpki), EF_AUTH_KEY) => Ef::AuthKey,
                    (Some(Df::Jpki), EF_AUTH_PIN) => Ef::AuthPin,
                    (Some(Df::Surface), EF_CARD_FACE) => Ef::CardFace,
                    (Some(Df::Surface), EF_CODE_B) => Ef::CodeB,
                    _ => return Response::status(SW_FILE_NOT_FOUND),
                };
                self.ef = Some(ef);
                Response::status(SW_OK)
            }
            _ => Response::status(SW_WRONG_P1P2),
        }
    }

    fn read_binary(&mut self, command: &Command) -> Response {
        let Some(le) = command.le.filter(|_| command.data.is_empty()) else {
            return Response::status(SW_WRONG_LENGTH);
        };
        if command.p1 & 0x80 != 0 {
            return Response::status(SW_WRONG_P1P2);
        }
        let token;
        let content: &[u8] = match self.ef {
            None => return Response::status(SW_NO_CURRENT_EF),
            Some(Ef::AuthKey | Ef::AuthPin | Ef::CodeB) => {
                return Response::status(SW_INCOMPATIBLE_FILE)
            }
            Some(Ef::CardFace) => match &self.surface {
                Some(surface) if self.code_b_verified => &surface.record,
                Some(_) => return Response::status(SW_SECURITY_NOT_SATISFIED),
                None => return Response::status(SW_FILE_NOT_FOUND),
            },
            Some(Ef::TokenInfo) => {
                let mut padded = [b' '; 32];
                padded[..TOKEN_LABEL.len()].copy_from_slice(TOKEN_LABEL);
                token = padded;
                &token
            }
            Some(Ef::CertFlags) => &[0, 0, 0],
            Some(Ef::AuthCert) => &self.auth_cert,
            Some(Ef::AuthCaCert) => &self.auth_ca_cert,
        };
        let offset = usize::from(u16::from_be_bytes([command.p1, command.p2]));
        if offset >= content.len() {
            return Response::status(SW_WRONG_OFFSET);
        }
        let end = content.len().min(offset + usize::from(le));
        Response::new(content[offset..end].to_vec(), SW_OK)
    }

    /// Checks that the current EF is `wanted`: `69 86` with none, `69 81` with another.
    fn require_ef(&self, wanted: Ef) -> Result<(), Response> {
        match self.ef {
            None => Err(Response::status(SW_NO_CURRENT_EF)),
            Some(ef) if ef != wanted => Err(Response::status(SW_INCOMPATIBLE_FILE)),
            Some(_) => Ok(()),
        }
    }

    fn verify(&mut self, command: &Command) -> Response {
        if command.p1 != 0x00 || command.p2 != 0x80 {
            return Response::status(SW_WRONG_P1P2);
        }
        if command.le.is_some() {
            return Response::status(SW_WRONG_LENGTH);
        }
        match self.ef {
            None => Response::status(SW_NO_CURRENT_EF),
            Some(Ef::AuthPin) => self.check_reference(Reference::AuthPin, &command.data),
            Some(Ef::CodeB) => self.check_reference(Reference::CodeB, &command.data),
            Some(_) => Response::status(SW_INCOMPATIBLE_FILE),
        }
    }

    /// VERIFY of a PIN-like reference: no data → `63 Cx`; blocked → `69 84`; data of the
    /// wrong length → `67 00`, no try used; right → `90 00`, counter back to full; wrong →
    /// `63 Cx` after the decrement. The counter is persisted before the answer.
    fn check_reference(&mut self, which: Reference, data: &[u8]) -> Response {
        let (max, len) = which.limits();
        let Some(secret) = self.secret(which) else {
            return Response::status(SW_FILE_NOT_FOUND);
        };
        let before = secret.tries_left;
        if data.is_empty() {
            return Response::status(sw_tries_left(before));
        }
        if before == 0 {
            return Response::status(SW_AUTH_BLOCKED);
        }
        if data.len() != len {
            return Response::status(SW_WRONG_LENGTH);
        }
        let right = secret.matches(data);
        self.set_verified(which, false);
        let after = if right { max } else { before - 1 };
        self.set_tries_left(which, after);
        if after != before && self.persist().is_err() {
            // A decrement stays in memory even if the write fails: never more permissive
            // than the file.
            if right {
                self.set_tries_left(which, before);
            }
            return Response::status(SW_MEMORY_FAILURE);
        }
        if right {
            self.set_verified(which, true);
            Response::status(SW_OK)
        } else {
            Response::status(sw_tries_left(after))
        }
    }

    fn secret(&self, which: Reference) -> Option<Secret> {
        match which {
            Reference::AuthPin => Some(self.auth_pin),
            Reference::CodeB => self.surface.as_ref().map(|s| s.code_b),
        }
    }

    fn set_tries_left(&mut self, which: Reference, tries_left: u8) {
        match which {
            Reference::AuthPin => self.auth_pin.tries_left = tries_left,
            Reference::CodeB => {
                if let Some(surface) = &mut self.surface {
                    surface.code_b.tries_left = tries_left;
                }
            }
        }
    }

    fn set_verified(&mut self, which: Reference, verified: bool) {
        match which {
            Reference::AuthPin => self.pin_verified = verified,
            Reference::CodeB => self.code_b_verified = verified,
        }
    }

    fn change_reference_data(&mut self, command: &Command) -> Response {
        if command.p1 != 0x01 || command.p2 != 0x80 {
            return Response::status(SW_WRONG_P1P2);
        }
        if command.le.is_some() || command.data.is_empty() {
            return Response::status(SW_WRONG_LENGTH);
        }
        if let Err(response) = self.require_ef(Ef::AuthPin) {
            return response;
        }
        if self.auth_pin.tries_left == 0 {
            return Response::status(SW_AUTH_BLOCKED);
        }
        if !self.pin_verified {
            return Response::status(SW_SECURITY_NOT_SATISFIED);
        }
        if command.data.len() != 4 || !command.data.iter().all(u8::is_ascii_digit) {
            return Response::status(SW_WRONG_DATA);
        }
        let old = self.auth_pin;
        self.auth_pin = Secret::new(&command.data, old.tries_left);
        if self.persist().is_err() {
            self.auth_pin = old;
            return Response::status(SW_MEMORY_FAILURE);
        }
        Response::status(SW_OK)
    }

    fn compute_signature(&mut self, command: &Command) -> Response {
        if command.p1 != 0x00 || command.p2 != 0x80 {
            return Response::status(SW_WRONG_P1P2);
        }
        if command.data.is_empty() || command.data.len() > MAX_SIGN_INPUT {
            return Response::status(SW_WRONG_LENGTH);
        }
        if let Err(response) = self.require_ef(Ef::AuthKey) {
            return response;
        }
        if !self.pin_verified {
            return Response::status(SW_SECURITY_NOT_SATISFIED);
        }
        let signature_len = self.key_size();
        if matches!(command.le, Some(le) if usize::from(le) < signature_len) {
            // Wrong Le; SW2 = exact length (00 = 256).
            return Response::status(0x6C00 | (signature_len & 0xFF) as u16);
        }
        match self
            .key
            .sign_with_rng(&mut OsRng, Pkcs1v15Sign::new_unprefixed(), &command.data)
        {
            Ok(signature) => Response::new(signature, SW_OK),
            Err(_) => Response::status(SW_UNKNOWN),
        }
    }

    fn key_size(&self) -> usize {
        use rsa::traits::PublicKeyParts;
        self.key.size()
    }

    fn file_bytes(&self) -> Vec<u8> {
        let file = CardFile {
            format: CARD_FILE_FORMAT.to_owned(),
            auth_key_pkcs8: crate::hex::encode(&self.key_pkcs8),
            auth_cert: crate::hex::encode(&self.auth_cert),
            auth_ca_cert: crate::hex::encode(&self.auth_ca_cert),
            auth_pin: self.auth_pin.record(),
            surface: self.surface.as_ref().map(|s| SurfaceRecord {
                birth_date: s.birth_date.yyyymmdd(),
                expiry: s.expiry.yyyymmdd(),
                security_code: s.security_code.clone(),
                face_photo: crate::hex::encode(&s.photo),
                code_b_tries_left: s.code_b.tries_left,
            }),
        };
        let mut bytes = serde_json::to_vec_pretty(&file).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }

    /// Replaces the card file atomically: temporary file in the same directory, fsync, rename,
    /// fsync of the directory.
    fn persist(&self) -> io::Result<()> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let name = self
            .path
            .file_name()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?;
        let tmp = self.path.with_file_name(format!(
            ".{}.{}-{}.tmp",
            name.to_string_lossy(),
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let result = (|| {
            let mut file = private_file_options().create_new(true).open(&tmp)?;
            file.write_all(&self.file_bytes())?;
            file.sync_all()?;
            std::fs::rename(&tmp, &self.path)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result?;
        sync_parent_dir(&self.path);
        Ok(())
    }

    /// Applies a removal that happened since the last exchange; reports whether the card is in
    /// the reader.
    fn sync_removal(&mut self) -> bool {
        let removals = self.removal.removals.load(Ordering::SeqCst);
        if removals != self.removals_seen {
            self.removals_seen = removals;
            self.reset();
        }
        self.removal.present.load(Ordering::SeqCst)
    }
}

impl Card for VirtualCard {
    /// [`VirtualCard::process`], unless the card was pulled with its [`RemovalHandle`].
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, CardError> {
        if !self.sync_removal() {
            return Err(CardError::Removed);
        }
        let planned = self.removal.remove_after.load(Ordering::SeqCst);
        if planned == 0 {
            self.removal_handle().remove();
            self.sync_removal();
            return Err(CardError::Removed);
        }
        if planned != u64::MAX {
            self.removal
                .remove_after
                .store(planned - 1, Ordering::SeqCst);
        }
        Ok(self.process(apdu))
    }
}

fn new_removal_state() -> Arc<RemovalState> {
    Arc::new(RemovalState {
        present: AtomicBool::new(true),
        removals: AtomicU64::new(0),
        remove_after: AtomicU64::new(u64::MAX),
    })
}

impl SurfaceState {
    /// Builds EF 0002. `DF23` 性別 is `9` (not applicable: the virtual card records none),
    /// `DF24` is the card's one RSA key (a real card's 券面AP has a key of its own), and `DF28`
    /// is 256 zero bytes: there is no 券面AP issuer key to sign the record with (EF 0004 is not
    /// emulated), so nothing can verify it and no client should trust it unverified.
    fn new(
        key: &RsaPrivateKey,
        birth_date: CardDate,
        expiry: CardDate,
        security_code: String,
        photo: Vec<u8>,
        code_b_tries_left: u8,
    ) -> Result<SurfaceState, VirtualCardError> {
        use rsa::traits::PublicKeyParts;
        let code_b = collation_number_b(birth_date, expiry.year(), &security_code)?;
        let mut public_key = tlv_short_tag(0x90, &key.e().to_bytes_be());
        public_key.extend(tlv_short_tag(0x91, &key.n().to_bytes_be()));
        let record = CardFaceRecord {
            birth_date,
            sex: b'9',
            public_key: &public_key,
            photo: &photo,
            signature: &[0; 256],
            expiry,
        }
        .encode();
        if record.len() > MAX_EF_LEN {
            return Err(VirtualCardError::CardFaceTooLarge(record.len()));
        }
        Ok(SurfaceState {
            birth_date,
            expiry,
            security_code,
            photo,
            code_b: Secret::new(code_b.as_bytes(), code_b_tries_left),
            record,
        })
    }
}

/// Decodes the key and checks that `auth_cert` is a DER certificate containing its public key.
fn checked_key(pkcs8: &[u8], auth_cert: &[u8]) -> Result<RsaPrivateKey, VirtualCardError> {
    let key = decode_rsa2048(pkcs8)?;
    check_certificate(auth_cert, "auth certificate")?;
    let public = rsa_public_key_der(&key)?;
    if !auth_cert.windows(public.len()).any(|w| w == public) {
        return Err(VirtualCardError::KeyCertificateMismatch);
    }
    Ok(key)
}

/// A certificate must be one DER SEQUENCE whose length octets cover the whole file, and short
/// enough for READ BINARY's 15-bit offsets (the client reads by its DER length).
fn check_certificate(der: &[u8], which: &'static str) -> Result<(), VirtualCardError> {
    let ok = der.first() == Some(&0x30)
        && der.len() <= MAX_EF_LEN
        && der_total_len(der) == Some(der.len());
    if ok {
        Ok(())
    } else {
        Err(VirtualCardError::BadCertificate(which))
    }
}

fn pin_hash(salt: &[u8; 16], pin: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(salt);
    hasher.update(pin);
    hasher.finalize().into()
}

fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn private_file_options() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
}

/// Makes a create or rename durable. Best effort: some filesystems cannot fsync a directory.
fn sync_parent_dir(path: &Path) {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    if let Ok(dir) = File::open(dir) {
        let _ = dir.sync_all();
    }
}
