//! The JSON documents of the authority's HTTP API (see [`crate::router`]) and their explicit
//! conversions to the crate's types.
//!
//! Conventions: dates are `yyyyMMdd` strings, sex is its code (`"1"`, `"2"`, `"3"`), instants are
//! RFC 3339 in JST, binary data is standard base64. A 個人番号 appears in the match request body
//! only, never in a response, a URL or an error.

use crate::{CertificateOwner, MatchOutcome, MatchQuery};
use kakunin_domain::{Attribute, Date, IndividualNumber, Sex, Timestamp};
use serde::{Deserialize, Serialize};
use std::fmt;

/// `POST /v1/match` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchRequest {
    pub queries: Vec<MatchQueryDto>,
}

/// One match query on the wire.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchQueryDto {
    /// 12 digits.
    pub individual_number: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_kana: Option<String>,
    /// `yyyyMMdd`.
    pub birthdate: String,
    /// `1` 男, `2` 女, `3` 未設定.
    pub sex: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

impl fmt::Debug for MatchQueryDto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MatchQueryDto").finish_non_exhaustive()
    }
}

/// A field of a request that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct FieldError {
    pub field: &'static str,
    pub reason: String,
}

impl From<&MatchQuery> for MatchQueryDto {
    fn from(q: &MatchQuery) -> Self {
        Self {
            individual_number: q.individual_number.expose().to_string(),
            name: q.name.clone(),
            name_kana: q.name_kana.clone(),
            birthdate: q.birthdate.compact(),
            sex: q.sex.code().to_string(),
            address: q.address.clone(),
        }
    }
}

impl TryFrom<&MatchQueryDto> for MatchQuery {
    type Error = FieldError;
    fn try_from(d: &MatchQueryDto) -> Result<Self, FieldError> {
        let field = |field: &'static str| move |reason: String| FieldError { field, reason };
        Ok(MatchQuery {
            individual_number: IndividualNumber::parse(&d.individual_number)
                .map_err(|e| field("individual_number")(e.to_string()))?,
            name: d.name.clone(),
            name_kana: d.name_kana.clone(),
            birthdate: Date::parse(&d.birthdate).map_err(|e| field("birthdate")(e.to_string()))?,
            sex: Sex::parse(&d.sex)
                .ok_or_else(|| field("sex")("must be \"1\", \"2\" or \"3\"".into()))?,
            address: d.address.clone(),
        })
    }
}

/// `POST /v1/match` answer, aligned with the request's queries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchResponse {
    pub outcomes: Vec<MatchOutcomeDto>,
}

/// `{"matched": true, "pseudonym": …}` or `{"matched": false, "mismatched": ["name", …]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchOutcomeDto {
    pub matched: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pseudonym: Option<String>,
    /// Codes of [`Attribute`] (`individual_number`, `name`, `name_kana`, `birthdate`, `sex`,
    /// `address`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mismatched: Vec<String>,
}

impl From<&MatchOutcome> for MatchOutcomeDto {
    fn from(o: &MatchOutcome) -> Self {
        match o {
            MatchOutcome::Matched { pseudonym } => Self {
                matched: true,
                pseudonym: Some(pseudonym.clone()),
                mismatched: Vec::new(),
            },
            MatchOutcome::Mismatch { attributes } => Self {
                matched: false,
                pseudonym: None,
                mismatched: attributes.iter().map(|a| a.code().to_string()).collect(),
            },
        }
    }
}

impl TryFrom<MatchOutcomeDto> for MatchOutcome {
    type Error = FieldError;
    fn try_from(d: MatchOutcomeDto) -> Result<Self, FieldError> {
        if d.matched {
            let pseudonym = d.pseudonym.ok_or_else(|| FieldError {
                field: "pseudonym",
                reason: "missing in a match".into(),
            })?;
            return Ok(MatchOutcome::Matched { pseudonym });
        }
        let attributes = d
            .mismatched
            .iter()
            .map(|c| {
                Attribute::parse(c).ok_or_else(|| FieldError {
                    field: "mismatched",
                    reason: format!("unknown attribute {c:?}"),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if attributes.is_empty() {
            return Err(FieldError {
                field: "mismatched",
                reason: "a mismatch must name an attribute".into(),
            });
        }
        Ok(MatchOutcome::Mismatch { attributes })
    }
}

/// `POST /v1/certificates/owner` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnerRequest {
    /// The user-auth certificate, DER in base64.
    pub certificate: String,
}

/// `POST /v1/certificates/owner` answer; `owner` is `null` for a certificate the authority
/// did not issue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnerResponse {
    pub owner: Option<OwnerDto>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnerDto {
    pub pseudonym: String,
    pub serial: String,
    /// RFC 3339 (JST).
    pub not_after: String,
}

impl From<&CertificateOwner> for OwnerDto {
    fn from(o: &CertificateOwner) -> Self {
        Self {
            pseudonym: o.pseudonym.clone(),
            serial: o.serial.clone(),
            not_after: o.not_after.jst_rfc3339(),
        }
    }
}

impl TryFrom<OwnerDto> for CertificateOwner {
    type Error = FieldError;
    fn try_from(d: OwnerDto) -> Result<Self, FieldError> {
        Ok(CertificateOwner {
            not_after: parse_rfc3339(&d.not_after).ok_or_else(|| FieldError {
                field: "not_after",
                reason: "not an RFC 3339 date-time".into(),
            })?,
            pseudonym: d.pseudonym,
            serial: d.serial,
        })
    }
}

/// `GET /v1/ca` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaResponse {
    /// The root CA certificate, PEM.
    pub root: String,
    /// The issuing CA certificate (issuer of user-auth certificates and of the CRL), PEM.
    pub issuing: String,
}

/// `POST /v1/cards/status` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardStatusRequest {
    pub serial: String,
    /// `active`, `suspended` or `revoked`.
    pub status: String,
    /// With `revoked`: `unspecified` (default), `key_compromise`, `superseded`,
    /// `cessation_of_operation`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Every error answer: a stable `code`, a Japanese `message` for staff, an English `detail`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
    pub detail: String,
    /// The request field at fault, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// Parses `yyyy-MM-ddTHH:mm:ss[.fff](Z|±HH:mm)`.
pub fn parse_rfc3339(s: &str) -> Option<Timestamp> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let date = Date::from_ymd(num(0..4)? as u32, num(5..7)? as u32, num(8..10)? as u32).ok()?;
    let (h, m, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if h > 23 || m > 59 || sec > 59 {
        return None;
    }
    let mut i = 19;
    let mut millis = 0i64;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        let frac = s.get(start..i)?;
        if frac.is_empty() {
            return None;
        }
        let padded = format!("{:0<3}", &frac[..frac.len().min(3)]);
        millis = padded.parse().ok()?;
    }
    let offset_secs = match s.get(i..)? {
        "Z" | "z" => 0,
        tz if tz.len() == 6 && tz.as_bytes()[3] == b':' => {
            let sign = match tz.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let oh = num(i + 1..i + 3)?;
            let om = num(i + 4..i + 6)?;
            sign * (oh * 3600 + om * 60)
        }
        _ => return None,
    };
    let secs = date.to_days() * 86_400 + h * 3600 + m * 60 + sec - offset_secs;
    Some(Timestamp::from_unix_millis(secs * 1000 + millis))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trips_and_refusals() {
        for ms in [
            0i64,
            1_795_480_200_000,
            1_795_480_200_123,
            1_953_246_599_000,
        ] {
            let t = Timestamp::from_unix_millis(ms);
            assert_eq!(
                parse_rfc3339(&t.jst_rfc3339()),
                Some(t),
                "{}",
                t.jst_rfc3339()
            );
        }
        for (s, ms) in [
            ("2026-11-24T00:30:00Z", Some(1_795_480_200_000)),
            ("2026-11-24T09:30:00+09:00", Some(1_795_480_200_000)),
            ("2026-11-23T23:30:00.5-01:00", Some(1_795_480_200_500)),
            ("2026-11-24 00:30:00Z", None),
            ("2026-02-30T00:30:00Z", None),
            ("2026-11-24T24:00:00Z", None),
            ("2026-11-24T00:30:00", None),
            ("2026-11-24T00:30:00+0900", None),
            ("2026-11-24T00:30:00.Z", None),
        ] {
            assert_eq!(parse_rfc3339(s), ms.map(Timestamp::from_unix_millis), "{s}");
        }
    }

    #[test]
    fn outcomes_round_trip() {
        for o in [
            MatchOutcome::Matched {
                pseudonym: "ab".into(),
            },
            MatchOutcome::Mismatch {
                attributes: vec![Attribute::Name, Attribute::Sex],
            },
        ] {
            let json = serde_json::to_string(&MatchOutcomeDto::from(&o)).unwrap();
            let back: MatchOutcomeDto = serde_json::from_str(&json).unwrap();
            assert_eq!(MatchOutcome::try_from(back).unwrap(), o, "{json}");
        }
        let json = serde_json::to_string(&MatchOutcomeDto::from(&MatchOutcome::Mismatch {
            attributes: vec![Attribute::Birthdate],
        }))
        .unwrap();
        assert_eq!(json, r#"{"matched":false,"mismatched":["birthdate"]}"#);
    }
}
