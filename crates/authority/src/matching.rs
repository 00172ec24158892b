//! The 4-attribute comparison: the safeguard against linking an insurer's record to the wrong
//! person (the 2023 紐付け誤り came from matching on too few attributes, or not at all).

use crate::{MatchQuery, Resident};
use kakunin_domain::text::{half_width_kana, match_key};
use kakunin_domain::{Attribute, Sex};

/// The comparison key of a kana name: half-width katakana, no spaces. `None` when the text is
/// not kana at all (it then equals nothing).
pub(crate) fn kana_key(raw: &str) -> Option<String> {
    half_width_kana(raw).ok().map(|k| match_key(&k))
}

/// Every attribute on which `query` disagrees with `resident`, in [`Attribute::ALL`] order;
/// empty when they agree.
///
/// - name: equal after [`match_key`] (full-width/half-width folded, spaces removed);
/// - kana (only when the query has one): equal after [`half_width_kana`] and `match_key`;
/// - birth date and sex: exactly equal, and a 未設定 (3) sex on either side never matches;
/// - address (only when the query has one): equal after `match_key`.
pub fn mismatched_attributes(resident: &Resident, query: &MatchQuery) -> Vec<Attribute> {
    let mut out = Vec::new();
    if match_key(&resident.name) != match_key(&query.name) || match_key(&query.name).is_empty() {
        out.push(Attribute::Name);
    }
    if let Some(kana) = &query.name_kana {
        match (kana_key(&resident.name_kana), kana_key(kana)) {
            (Some(a), Some(b)) if a == b && !a.is_empty() => {}
            _ => out.push(Attribute::NameKana),
        }
    }
    if resident.birthdate != query.birthdate {
        out.push(Attribute::Birthdate);
    }
    if resident.sex != query.sex || resident.sex == Sex::Unset || query.sex == Sex::Unset {
        out.push(Attribute::Sex);
    }
    if let Some(address) = &query.address {
        if match_key(&resident.address) != match_key(address) || match_key(address).is_empty() {
            out.push(Attribute::Address);
        }
    }
    out
}
