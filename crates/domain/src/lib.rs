//! kakunin's domain: the identifiers, code tables and rules of online eligibility verification.
//!
//! Invariant: this crate is pure. It does no I/O, reads no clock, has no async runtime and no
//! wire format (no serde). Every identifier is a newtype with a fallible `parse`; holding one
//! means it is well formed and its check digit is right ("parse, don't validate").
//! `tests/purity.rs` checks the dependency list.

pub mod access;
pub mod check_digit;
pub mod consent;
pub mod copay;
pub mod date;
pub mod identity;
pub mod ids;
pub mod institution;
pub mod qualification;
pub mod text;
pub mod validity;

pub use access::{AccessBasis, AccessLogEntry, AccessPurpose, AccessResult, InformationAccess};
pub use consent::{Consent, ConsentCategory, ConsentState, CONSENT_VALIDITY_MS};
pub use copay::{standard_copay, CopayRatio, CopayRule};
pub use date::{Date, DateError, Timestamp};
pub use identity::{
    certificate_phase, individual_number_check_digit, Attribute, CertificatePhase, IndividualNumber,
};
pub use ids::{
    Branch, CardIdentity, CardNumber, CardSymbol, IdError, InstitutionCode, InsurerKind,
    InsurerNumber, PointTable, PublicExpenseNumber, RecipientNumber,
};
pub use institution::{Institution, InstitutionKind};
pub use qualification::{
    CardClassification, ElderlyCertificate, LimitBracket, LimitCertificate,
    LimitCertificateClassification, LossReason, Qualification, Relationship, Sex, SpecificDisease,
    SpecificDiseaseCertificate,
};
pub use validity::{evaluate, Candidate, Validity};
