//! A canonical content hash of a qualification, so an import can tell "unchanged" without
//! rebuilding the stored record. Every backend stores this same hash.

use kakunin_domain::{Date, Qualification};
use sha2::{Digest, Sha256};

fn date(d: Option<Date>) -> String {
    d.map(|d| d.compact()).unwrap_or_default()
}

/// SHA-256 over a field-by-field, unit-separated rendering of every stored field.
pub fn content_hash(q: &Qualification) -> [u8; 32] {
    let mut h = Sha256::new();
    let mut put = |s: &str| {
        h.update(s.as_bytes());
        h.update([0x1F]);
    };
    put("v1");
    put(q.card.insurer.as_str());
    put(q.card.symbol.as_ref().map_or("", |s| s.raw()));
    put(q.card.number.raw());
    put(q.card.branch.as_ref().map_or("", |b| b.as_str()));
    put(q.card_classification.code());
    put(q.relationship.code());
    put(q.insured_name.as_deref().unwrap_or(""));
    put(&q.name);
    put(&q.name_kana);
    put(q.sex.code());
    put(&q.birthdate.compact());
    put(q.address.as_deref().unwrap_or(""));
    put(q.post_number.as_deref().unwrap_or(""));
    put(&q.qualification_date.compact());
    put(&date(q.disqualification_date));
    put(q.loss_reason.map_or("", |r| r.code()));
    put(&date(q.card_issue_date));
    put(&date(q.card_valid_from));
    put(&date(q.card_valid_until));
    put(&q.copay_ratio.map(|c| c.code()).unwrap_or_default());
    put(&q.insurer_name);
    match &q.elderly {
        Some(e) => {
            put("E");
            put(&date(e.issued));
            put(&e.valid_from.compact());
            put(&date(e.valid_until));
            put(&e.copay_ratio.code());
        }
        None => put("-"),
    }
    match &q.limit {
        Some(l) => {
            put("L");
            put(l.classification.code());
            put(l.bracket.code());
            put(&date(l.issued));
            put(&l.valid_from.compact());
            put(&date(l.valid_until));
            put(&date(l.long_term_date));
        }
        None => put("-"),
    }
    for s in &q.specific_diseases {
        put("S");
        put(s.disease.code());
        put(&date(s.issued));
        put(&s.valid_from.compact());
        put(&date(s.valid_until));
        put(&s.self_pay_yen.to_string());
    }
    h.finalize().into()
}
