//! The authority: kakunin's stand-in for J-LIS (地方公共団体情報システム機構). It keeps the
//! resident registry (個人番号 and 基本4情報), issues My Number cards' JPKI user-authentication
//! certificates (利用者証明用電子証明書) from its own CA chain, suspends and revokes them and
//! publishes a CRL, answers 4-attribute match queries, and derives per-agency pseudonyms
//! (機関別符号).
//!
//! # Invariant
//!
//! The authority holds 個人番号 and 基本4情報, and it never gives a 個人番号 out. Agencies (the
//! central, …) get a pseudonym per agency instead: `HMAC-SHA256(secret, agency ‖ 0 ‖ number)`,
//! so two agencies cannot join their data and a card renewal keeps the pseudonym. A 個人番号 goes
//! *in* only: in [`Authority::register_residents`], in an [`IssueRequest`], and in the body of a
//! match query. No personal data is written into a certificate (the subject is the serial number,
//! as in the real JPKI), into a URL, or into a log line: [`router`] traces the route and counts
//! only, and the `Debug` of every type carrying personal data masks it.
//!
//! A match is strict, because the 2023 mis-linking (紐付け誤り) came from linking on too few
//! attributes: the number must exist and name, birth date and sex must all agree (kana and
//! address too when the agency sends them); a 未設定 sex never matches. A mismatch lists every
//! attribute that differs, for the agency's review queue.
//!
//! Dependencies: the domain crate (types and normalisation), the card crate (RSA-2048 keys and
//! the virtual card file), rcgen/x509-parser/ring (PKI), rusqlite (the registry), axum/reqwest
//! (the HTTP face and its client). No other kakunin crate.
//!
//! # Directory layout
//!
//! ```text
//! DIR/
//!   keys/                  0700, created atomically (staged, then renamed into place)
//!     root-ca.pem          "JPKI Root CA (kakunin)", RSA-2048, 20 years, self-signed
//!     root-ca-key.pem      its PKCS#8 key, 0600
//!     issuing-ca.pem       "JPKI User Authentication CA (kakunin)", 10 years, pathlen 0
//!     issuing-ca-key.pem   its PKCS#8 key, 0600
//!     pseudonym.secret     32 random bytes, 0600
//!   registry.sqlite3       residents, cards, status history (WAL, synchronous=FULL)
//! ```

mod api;
mod authority;
mod ca;
mod error;
mod files;
mod matching;
mod registry;
mod router;
pub mod wire;

pub use api::{AuthorityApi, Embedded, Remote};
pub use authority::Authority;
pub use error::AuthorityError;
pub use matching::mismatched_attributes;
pub use router::router;

use kakunin_domain::{Attribute, Date, IndividualNumber, Sex, Timestamp};
use std::fmt;

/// Most match queries one HTTP call may carry ([`Remote`] splits bigger batches).
pub const MAX_MATCH_BATCH: usize = 10_000;

/// Default validity of a user-auth certificate (5 years, like the real one).
pub const DEFAULT_VALIDITY_YEARS: u32 = 5;

/// One entry of the resident registry (住民基本台帳): the 個人番号 and the 基本4情報.
#[derive(Clone, PartialEq, Eq)]
pub struct Resident {
    pub individual_number: IndividualNumber,
    /// 氏名 as registered (kanji, full-width).
    pub name: String,
    /// 氏名カナ (any of full-width, half-width katakana or hiragana).
    pub name_kana: String,
    pub birthdate: Date,
    pub sex: Sex,
    pub address: String,
}

impl fmt::Debug for Resident {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resident")
            .field("individual_number", &self.individual_number)
            .finish_non_exhaustive()
    }
}

/// A request to issue a card (a new card or a renewal) to a registered resident.
#[derive(Clone)]
pub struct IssueRequest {
    pub individual_number: IndividualNumber,
    /// The 利用者証明用 PIN the resident chose: 4 digits.
    pub pin: String,
    /// Start of the certificate's validity; `None` is now.
    pub not_before: Option<Timestamp>,
    /// Validity in years (1–10); the certificate ends one second before the anniversary.
    pub validity_years: u32,
    /// Revoke (reason `superseded`) every other unrevoked card of the person in the same
    /// transaction, as a real renewal or reissue does. `false` keeps them (e.g. a test that
    /// needs two live cards of one person).
    pub revoke_previous: bool,
}

impl IssueRequest {
    /// A real issuance: now, [`DEFAULT_VALIDITY_YEARS`], previous cards revoked.
    pub fn new(individual_number: IndividualNumber, pin: impl Into<String>) -> Self {
        Self {
            individual_number,
            pin: pin.into(),
            not_before: None,
            validity_years: DEFAULT_VALIDITY_YEARS,
            revoke_previous: true,
        }
    }
}

impl fmt::Debug for IssueRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssueRequest")
            .field("individual_number", &self.individual_number)
            .field("pin", &"****")
            .field("not_before", &self.not_before)
            .field("validity_years", &self.validity_years)
            .field("revoke_previous", &self.revoke_previous)
            .finish()
    }
}

/// A freshly issued card: what to write onto it, and its certificate's identity.
#[derive(Clone)]
pub struct IssuedCard {
    /// Lower-case hex of the certificate serial number, without leading zero bytes.
    pub serial: String,
    pub not_before: Timestamp,
    pub not_after: Timestamp,
    /// Key, certificate, CA certificate and PIN, ready for `kakunin_card::VirtualCard::create`.
    pub spec: kakunin_card::VirtualCardSpec,
}

impl fmt::Debug for IssuedCard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedCard")
            .field("serial", &self.serial)
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

/// Where a card's certificate stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CardStatus {
    Active,
    /// 一時停止 (reported lost): on the CRL as `certificateHold`; can be resumed.
    Suspended,
    /// 失効: on the CRL for good.
    Revoked,
}

impl CardStatus {
    pub const ALL: [CardStatus; 3] = [Self::Active, Self::Suspended, Self::Revoked];
    pub fn code(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
            Self::Revoked => "revoked",
        }
    }
    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.code() == code)
    }
}

/// Why a certificate was revoked (a subset of RFC 5280 CRLReason).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RevocationReason {
    Unspecified,
    /// The card (its key) is in someone else's hands for good.
    KeyCompromise,
    /// Replaced by a new card (renewal, reissue).
    Superseded,
    /// No longer needed (death, emigration, card returned).
    CessationOfOperation,
}

impl RevocationReason {
    pub const ALL: [RevocationReason; 4] = [
        Self::Unspecified,
        Self::KeyCompromise,
        Self::Superseded,
        Self::CessationOfOperation,
    ];
    /// The wire code.
    pub fn code(self) -> &'static str {
        match self {
            Self::Unspecified => "unspecified",
            Self::KeyCompromise => "key_compromise",
            Self::Superseded => "superseded",
            Self::CessationOfOperation => "cessation_of_operation",
        }
    }
    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.code() == code)
    }
    /// The RFC 5280 CRLReason value.
    pub fn crl_code(self) -> u8 {
        match self {
            Self::Unspecified => 0,
            Self::KeyCompromise => 1,
            Self::Superseded => 4,
            Self::CessationOfOperation => 5,
        }
    }
    pub fn from_crl_code(code: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.crl_code() == code)
    }
}

/// What the authority knows about one card (no personal data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardRecord {
    pub serial: String,
    pub status: CardStatus,
    /// Set when `status` is [`CardStatus::Revoked`].
    pub revocation_reason: Option<RevocationReason>,
    pub not_before: Timestamp,
    pub not_after: Timestamp,
    pub issued_at: Timestamp,
    /// When the status last changed (the issue time while it never did).
    pub changed_at: Timestamp,
}

/// The authority's CA certificates (DER).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaCertificates {
    pub root_der: Vec<u8>,
    /// The CA that issues (and signs the CRL of) user-auth certificates.
    pub issuing_der: Vec<u8>,
}

impl CaCertificates {
    pub fn root_pem(&self) -> String {
        files::pem_encode("CERTIFICATE", &self.root_der)
    }
    pub fn issuing_pem(&self) -> String {
        files::pem_encode("CERTIFICATE", &self.issuing_der)
    }
}

/// An agency's question: does this 個人番号 belong to the person with these attributes?
#[derive(Clone, PartialEq, Eq)]
pub struct MatchQuery {
    pub individual_number: IndividualNumber,
    pub name: String,
    /// Compared when given.
    pub name_kana: Option<String>,
    pub birthdate: Date,
    pub sex: Sex,
    /// Compared when given.
    pub address: Option<String>,
}

impl fmt::Debug for MatchQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MatchQuery")
            .field("individual_number", &self.individual_number)
            .finish_non_exhaustive()
    }
}

/// The answer to one [`MatchQuery`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MatchOutcome {
    /// Every attribute agreed: the person's pseudonym for the asking agency.
    Matched { pseudonym: String },
    /// Something differed: every differing attribute, in [`Attribute::ALL`] order;
    /// `[IndividualNumber]` alone when no resident has the number.
    Mismatch { attributes: Vec<Attribute> },
}

/// The person behind a user-auth certificate, as the asking agency knows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateOwner {
    pub pseudonym: String,
    /// The certificate's serial (lower-case hex).
    pub serial: String,
    pub not_after: Timestamp,
}

/// The wall clock.
pub(crate) fn now() -> Timestamp {
    Timestamp::from_unix_millis(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64),
    )
}

/// Lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}
