//! Card status changes and the CRL.

use crate::common::{authority, fixture, issue, registered};
use kakunin_authority::{Authority, AuthorityError, CardStatus, IssueRequest, RevocationReason};
use std::collections::HashMap;
use x509_parser::extensions::ParsedExtension;
use x509_parser::oid_registry::OID_PKCS1_SHA256WITHRSA;
use x509_parser::x509::X509Version;

/// A CRL that passed every structural check.
struct Crl {
    number: u64,
    /// serial → reason code (`None`: listed without a reason, i.e. unspecified).
    entries: HashMap<String, Option<u8>>,
}

/// Parses and checks a CRL of `authority`: signature by the issuing CA, v2, issuer, 24 h
/// validity, authorityKeyIdentifier, CRL number.
fn read_crl(authority: &Authority, der: &[u8]) -> Crl {
    let (rest, crl) = x509_parser::parse_x509_crl(der).unwrap();
    assert!(rest.is_empty());
    let ca = authority.ca_certificates();
    let (_, issuing) = x509_parser::parse_x509_certificate(&ca.issuing_der).unwrap();
    let (_, root) = x509_parser::parse_x509_certificate(&ca.root_der).unwrap();
    crl.verify_signature(issuing.public_key()).unwrap();
    assert!(crl.verify_signature(root.public_key()).is_err());
    assert_eq!(crl.signature_algorithm.algorithm, OID_PKCS1_SHA256WITHRSA);
    assert_eq!(crl.version(), Some(X509Version::V2));
    assert_eq!(crl.issuer().as_raw(), issuing.subject().as_raw());
    let this_update = crl.last_update().timestamp();
    assert_eq!(
        crl.next_update().unwrap().timestamp() - this_update,
        24 * 3600
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((now - this_update).abs() < 12 * 3600 + 60);
    let ski = issuing
        .iter_extensions()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(id) => Some(id.0.to_vec()),
            _ => None,
        });
    let aki = crl
        .extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::AuthorityKeyIdentifier(aki) => {
                aki.key_identifier.as_ref().map(|k| k.0.to_vec())
            }
            _ => None,
        });
    assert_eq!(aki, ski);
    Crl {
        number: crl.crl_number().unwrap().to_string().parse().unwrap(),
        entries: crl
            .iter_revoked_certificates()
            .map(|r| {
                (
                    r.serial().to_str_radix(16),
                    r.reason_code().map(|(_, code)| code.0),
                )
            })
            .collect(),
    }
}

fn current_crl() -> Crl {
    read_crl(authority(), &authority().crl_der().unwrap())
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Suspend,
    Resume,
    Revoke(RevocationReason),
}

const HOLD: u8 = 6;

#[test]
fn suspend_resume_revoke_as_the_crl_shows_them() {
    let a = authority();
    let person = registered("20000000001");
    let card = issue(&person.individual_number);
    let mut last = current_crl();
    assert!(!last.entries.contains_key(&card.serial));

    // (operation, error expected, status after, CRL entry after: None = not listed)
    type ExpectedError = Option<fn(&AuthorityError) -> bool>;
    let steps: &[(Op, ExpectedError, CardStatus, Option<Option<u8>>)] = &[
        (Op::Suspend, None, CardStatus::Suspended, Some(Some(HOLD))),
        (Op::Suspend, None, CardStatus::Suspended, Some(Some(HOLD))),
        (Op::Resume, None, CardStatus::Active, None),
        (Op::Resume, None, CardStatus::Active, None),
        (Op::Suspend, None, CardStatus::Suspended, Some(Some(HOLD))),
        (
            Op::Revoke(RevocationReason::KeyCompromise),
            None,
            CardStatus::Revoked,
            Some(Some(1)),
        ),
        // Revoking twice is fine; the first reason stays.
        (
            Op::Revoke(RevocationReason::Superseded),
            None,
            CardStatus::Revoked,
            Some(Some(1)),
        ),
        (
            Op::Resume,
            Some(|e| matches!(e, AuthorityError::CardRevoked)),
            CardStatus::Revoked,
            Some(Some(1)),
        ),
        (
            Op::Suspend,
            Some(|e| matches!(e, AuthorityError::CardRevoked)),
            CardStatus::Revoked,
            Some(Some(1)),
        ),
    ];
    for (i, (op, error, status, entry)) in steps.iter().enumerate() {
        let before = a.card(&card.serial).unwrap().unwrap();
        let result = match op {
            Op::Suspend => a.suspend(&card.serial),
            Op::Resume => a.resume(&card.serial),
            Op::Revoke(r) => a.revoke(&card.serial, *r),
        };
        match (error, result) {
            (None, Ok(())) => {}
            (Some(expected), Err(e)) => assert!(expected(&e), "step {i} {op:?}: {e}"),
            (e, r) => panic!("step {i} {op:?}: expected error {}, got {r:?}", e.is_some()),
        }
        let record = a.card(&card.serial).unwrap().unwrap();
        assert_eq!(record.status, *status, "step {i} {op:?}");
        assert_eq!(
            record.revocation_reason,
            (*status == CardStatus::Revoked).then_some(RevocationReason::KeyCompromise),
            "step {i}"
        );
        let changed = record.status != before.status;
        if changed {
            assert!(record.changed_at >= before.changed_at, "step {i}");
        } else {
            assert_eq!(record.changed_at, before.changed_at, "step {i}: no-op");
        }
        let crl = current_crl();
        assert_eq!(
            crl.entries.get(&card.serial).copied(),
            *entry,
            "step {i} {op:?}"
        );
        if changed {
            assert!(crl.number > last.number, "step {i}: CRL numbers increase");
        } else {
            assert!(crl.number >= last.number, "step {i}");
        }
        last = crl;
    }

    // A revocation without a reason is listed without a reason code (RFC 5280 §5.3.1).
    let other = issue(&registered("20000000002").individual_number);
    a.revoke(&other.serial, RevocationReason::Unspecified)
        .unwrap();
    assert_eq!(current_crl().entries.get(&other.serial), Some(&None));

    // Unknown serials, well formed or not.
    for serial in ["00ff", "4000000000000000000000000000000f", "zz", "", "abc"] {
        for result in [
            a.suspend(serial),
            a.resume(serial),
            a.revoke(serial, RevocationReason::KeyCompromise),
        ] {
            assert!(
                matches!(result, Err(AuthorityError::UnknownCard)),
                "{serial:?}: {result:?}"
            );
        }
        assert_eq!(a.card(serial).unwrap(), None, "{serial:?}");
    }
}

#[test]
fn a_revocation_by_another_process_reaches_this_ones_crl() {
    let a = authority();
    let card = issue(&registered("20000000003").individual_number);
    let before = current_crl();
    assert!(!before.entries.contains_key(&card.serial));

    let other = Authority::open(&fixture().dir).unwrap();
    other
        .revoke(&card.serial, RevocationReason::CessationOfOperation)
        .unwrap();

    let after = read_crl(a, &a.crl_der().unwrap());
    assert_eq!(after.entries.get(&card.serial), Some(&Some(5)));
    assert!(after.number > before.number);
    let theirs = read_crl(&other, &other.crl_der().unwrap());
    assert_eq!(theirs.entries.get(&card.serial), Some(&Some(5)));
    assert_eq!(
        a.card(&card.serial).unwrap().unwrap().status,
        CardStatus::Revoked
    );
}

#[test]
fn the_crl_is_cached_until_a_status_changes() {
    // An authority of its own, so no other test changes statuses meanwhile.
    let dir = tempfile::tempdir().unwrap();
    let a = Authority::open_or_init(dir.path()).unwrap();
    assert_ne!(a.ca_certificates(), authority().ca_certificates());
    let first = a.crl_der().unwrap();
    let crl = read_crl(&a, &first);
    assert_eq!((crl.number, crl.entries.len()), (1, 0));
    assert_eq!(
        a.crl_der().unwrap(),
        first,
        "unchanged statuses: the cached CRL"
    );

    let person = crate::common::resident(
        "20000000004",
        "山田 太郎",
        "ヤマダ タロウ",
        "19700101",
        kakunin_domain::Sex::Male,
        "大阪府大阪市北区",
    );
    assert_eq!(
        a.register_residents(std::slice::from_ref(&person)).unwrap(),
        1
    );
    assert_eq!(a.resident_count().unwrap(), 1);
    let card = a
        .issue_card(&IssueRequest::new(person.individual_number.clone(), "1111"))
        .unwrap();
    assert_eq!(
        a.crl_der().unwrap(),
        first,
        "issuing a card does not change the CRL"
    );

    a.suspend(&card.serial).unwrap();
    let second = read_crl(&a, &a.crl_der().unwrap());
    assert_eq!(second.number, 2);
    assert_eq!(second.entries.get(&card.serial), Some(&Some(HOLD)));

    // Another handle signs the next number, and this one notices nothing changed for it.
    let b = Authority::open(dir.path()).unwrap();
    assert_eq!(read_crl(&b, &b.crl_der().unwrap()).number, 3);
    b.resume(&card.serial).unwrap();
    let fourth = read_crl(&a, &a.crl_der().unwrap());
    assert_eq!(fourth.number, 4);
    assert!(fourth.entries.is_empty());
}

#[test]
fn a_renewal_supersedes_the_old_card_and_keeps_the_pseudonym() {
    let a = authority();
    let person = registered("20000000005");
    let n = &person.individual_number;
    let first = issue(n);
    let second = issue(n);
    let old = a.card(&first.serial).unwrap().unwrap();
    assert_eq!(old.status, CardStatus::Revoked);
    assert_eq!(old.revocation_reason, Some(RevocationReason::Superseded));
    assert_eq!(current_crl().entries.get(&first.serial), Some(&Some(4)));

    let owner_old = a
        .certificate_owner("central", &first.spec.auth_cert_der)
        .unwrap()
        .unwrap();
    let owner_new = a
        .certificate_owner("central", &second.spec.auth_cert_der)
        .unwrap()
        .unwrap();
    assert_eq!(owner_old.pseudonym, owner_new.pseudonym);
    assert_eq!(owner_new.pseudonym, a.pseudonym("central", n));
    assert_eq!(
        (owner_old.serial, owner_new.serial),
        (first.serial, second.serial.clone())
    );
    assert_eq!(owner_new.not_after, second.not_after);

    // Without revoke_previous both stay live.
    let third = a
        .issue_card(&IssueRequest {
            revoke_previous: false,
            ..IssueRequest::new(n.clone(), "9999")
        })
        .unwrap();
    for serial in [&second.serial, &third.serial] {
        assert_eq!(a.card(serial).unwrap().unwrap().status, CardStatus::Active);
    }

    // A certificate the authority did not issue, or one altered by a byte, has no owner.
    let mut altered = second.spec.auth_cert_der.clone();
    let last = altered.len() - 1;
    altered[last] ^= 1;
    for der in [&altered, &a.ca_certificates().issuing_der, &Vec::new()] {
        assert_eq!(a.certificate_owner("central", der).unwrap(), None);
    }
}
