//! Card-based checks end to end over HTTPS: the authority issues virtual My Number cards, the
//! terminal side talks APDUs to them, the central verifies chain, CRL, expiry, nonce and
//! signature. Every attack in the card issue is refused, audited, and shows nothing; a roster
//! row with a wrong 個人番号 lands in the review queue and is never shown by card.

use kakunin_api::client::ClientError;
use kakunin_api::{
    card_challenge, CardCheckRequest, CardProof, CardRegistrationRequest, EligibilityCheckRequest,
    EligibilityCheckResponse,
};
use kakunin_authority::{Authority, IssueRequest, Resident, RevocationReason};
use kakunin_card::{Jpki, JpkiError, VirtualCard};
use kakunin_central::pki::{Ca, Role};
use kakunin_domain::{Date, Timestamp};
use sha2::{Digest, Sha256};
use std::path::PathBuf;

mod world;
use world::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registered_card_answers_valid_and_is_logged() {
    registered_card_answers_valid(world().await).await;
}

/// The same on PostgreSQL: links, registrations and spent nonces in its tables.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registered_card_answers_valid_on_postgres() {
    let Some(database) = kakunin_testkit::pg::shared_database("cards") else {
        return;
    };
    let w = world_on(kakunin_central::StoreConfig {
        database: Some(database),
        ..Default::default()
    })
    .await;
    registered_card_answers_valid(w).await;
}

async fn registered_card_answers_valid(w: World) {
    let report = w
        .import(format!(
            "{HEADER}\n{}\n",
            row(1, "10", Some(1), "20200401", "")
        ))
        .await;
    assert!(report.accepted, "{report:?}");
    assert_eq!((report.linked, report.link_reviews), (1, 0));
    let card = w.issue_card(1, None);

    // Before 利用登録 the card is refused, and the refusal is logged against the person.
    let (c, status) = code(w.check(&card).await.unwrap_err());
    assert_eq!((c.as_str(), status), ("registration_required", 403));
    assert_eq!(w.last_result().await, "refused:registration_required");

    w.register(&card).await;
    let answer = w.check(&card).await.unwrap();
    assert_eq!(answer.validity, "1");
    assert_eq!(answer.reference_classification, "1");
    assert_eq!(answer.results.len(), 1);
    assert_eq!(answer.results[0].name, "番号\u{3000}一郎");
    assert_eq!(answer.certificate_notice, None);
    let log = w.store.recent_access(1).await.unwrap();
    assert_eq!(log[0].entry.purpose.code(), "eligibility_by_card");
    assert_eq!(log[0].entry.result.code(), "validity:1");
    assert_eq!(log[0].entry.qualification_ids.len(), 1);

    // A replay of the answered proof is refused; a wrong number sends a row to review.
    let client = w.client(&w.institution);
    let nonce = client.card_nonce().await.unwrap().nonce;
    let (cert, sig) = sign(&card, "1234", &nonce).unwrap();
    let request = CardCheckRequest {
        certificate: b64(&cert),
        nonce,
        proof: CardProof::Pin {
            signature: b64(&sig),
        },
        limit_application_certificate_related_cons_flg: None,
        consents: vec![],
    };
    assert_eq!(client.card_check(&request).await.unwrap().validity, "1");
    let (c, status) = code(client.card_check(&request).await.unwrap_err());
    assert_eq!((c.as_str(), status), ("nonce_used", 409));
    let report = w
        .import(format!(
            "{HEADER}\n{}\n",
            row(2, "20", Some(1), "20200401", "")
        ))
        .await;
    assert_eq!((report.linked, report.link_reviews), (0, 1));
    assert_eq!(
        w.client(&w.admin).link_reviews(true).await.unwrap().len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_individual_number_goes_to_review_and_is_never_shown_by_card() {
    let w = world().await;
    // Person 2's row carries person 1's 個人番号 (the 2023 mistake); person 3's row the number
    // of nobody registered.
    let csv = format!(
        "{HEADER}\n{}\n{}\n{}\n",
        row(1, "10", Some(1), "20200401", ""),
        row(2, "20", Some(1), "20200401", ""),
        row(3, "30", Some(99), "20200401", ""),
    );
    let report = w.import(csv).await;
    assert!(report.accepted, "{report:?}");
    assert_eq!((report.linked, report.link_reviews), (1, 2));

    let reviews = w.client(&w.admin).link_reviews(true).await.unwrap();
    assert_eq!(reviews.len(), 2);
    let mut mismatched: Vec<Vec<String>> = reviews.iter().map(|r| r.mismatched.clone()).collect();
    mismatched.sort();
    assert!(mismatched.contains(&vec!["individual_number".to_string()]));
    assert!(mismatched
        .iter()
        .any(|m| m.contains(&"name".to_string()) && m.contains(&"birthdate".to_string())));
    assert!(reviews.iter().all(|r| r.number_last4.len() == 4));

    // Person 1's card shows person 1 only; person 2's card shows nothing at all.
    for (p, card) in [(1, w.issue_card(1, None)), (2, w.issue_card(2, None))] {
        w.register(&card).await;
        let answer = w.check(&card).await.unwrap();
        if p == 1 {
            assert_eq!(answer.validity, "1");
            assert_eq!(answer.results.len(), 1);
            assert_eq!(answer.results[0].name, "番号\u{3000}一郎");
        } else {
            assert_eq!(answer.validity, "4", "{answer:?}");
            assert!(answer.results.is_empty());
        }
    }

    // The insurer corrects person 2's number: linked, the review closes, the card shows it.
    let report = w
        .import(format!(
            "{HEADER}\n{}\n",
            row(2, "20", Some(2), "20200401", "")
        ))
        .await;
    assert_eq!((report.linked, report.link_reviews), (1, 0));
    assert_eq!(
        w.client(&w.admin).link_reviews(true).await.unwrap().len(),
        1
    );
    let answer = w.check(&w.issue_card(2, None)).await;
    // A renewed card (new certificate) keeps the registration and the link.
    let answer = answer.unwrap();
    assert_eq!(answer.results[0].name, "番号\u{3000}二子");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validity_three_comes_through_person_links() {
    let w = world().await;
    // Person 4 lost the 記号 40 qualification and holds a newer one at 記号 41.
    let csv = format!(
        "{HEADER}\n{}\n{}\n",
        row(4, "40", Some(4), "20100401", "20240401"),
        row(4, "41", Some(4), "20240401", ""),
    );
    assert_eq!(w.import(csv).await.linked, 2);
    let old = w
        .client(&w.institution)
        .check(&EligibilityCheckRequest {
            insurer_number: KENPO.into(),
            symbol: Some("40".into()),
            number: "400".into(),
            branch: Some("00".into()),
            birthdate: "19700404".into(),
            qualification_confirmation_date: None,
            limit_application_certificate_related_cons_flg: None,
        })
        .await
        .unwrap();
    assert_eq!(old.validity, "3", "{old:?}");
    let card = w.issue_card(4, None);
    w.register(&card).await;
    let answer = w.check(&card).await.unwrap();
    assert_eq!(answer.validity, "1");
    assert_eq!(answer.results.len(), 1);
    assert_eq!(answer.results[0].symbol.as_deref(), Some("41"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_replayed_and_foreign_proofs_are_refused_and_audited() {
    let w = world().await;
    w.import(format!(
        "{HEADER}\n{}\n",
        row(1, "10", Some(1), "20200401", "")
    ))
    .await;
    let card = w.issue_card(1, None);
    w.register(&card).await;
    let client = w.client(&w.institution);
    let before = w.store.counts().await.unwrap().access_log;

    let attempt = |cert: Vec<u8>, nonce: String, sig: Vec<u8>| CardCheckRequest {
        certificate: b64(&cert),
        nonce,
        proof: CardProof::Pin {
            signature: b64(&sig),
        },
        limit_application_certificate_related_cons_flg: None,
        consents: vec![],
    };
    let refused = |r: Result<EligibilityCheckResponse, ClientError>| code(r.unwrap_err());

    // A forged signature (one bit flipped) and a truncated one.
    let nonce = client.card_nonce().await.unwrap().nonce;
    let (cert, mut sig) = sign(&card, "1234", &nonce).unwrap();
    sig[100] ^= 1;
    let r = client.card_check(&attempt(cert.clone(), nonce, sig)).await;
    assert_eq!(refused(r), ("card_signature_invalid".into(), 403));
    let nonce = client.card_nonce().await.unwrap().nonce;
    let (_, sig) = sign(&card, "1234", &nonce).unwrap();
    let r = client
        .card_check(&attempt(cert.clone(), nonce, sig[..200].to_vec()))
        .await;
    assert_eq!(refused(r), ("card_signature_invalid".into(), 403));

    // A nonce used twice: the first answers, the replay is refused.
    let nonce = client.card_nonce().await.unwrap().nonce;
    let (_, sig) = sign(&card, "1234", &nonce).unwrap();
    let ok = client
        .card_check(&attempt(cert.clone(), nonce.clone(), sig.clone()))
        .await
        .unwrap();
    assert_eq!(ok.validity, "1");
    let r = client
        .card_check(&attempt(cert.clone(), nonce.clone(), sig))
        .await;
    assert_eq!(refused(r), ("nonce_used".into(), 409));

    // A signature over one nonce sent with another.
    let fresh = client.card_nonce().await.unwrap().nonce;
    let (_, old_sig) = sign(&card, "1234", &nonce).unwrap();
    let r = client
        .card_check(&attempt(cert.clone(), fresh, old_sig))
        .await;
    assert_eq!(refused(r), ("card_signature_invalid".into(), 403));

    // Another institution's nonce, a made-up nonce.
    let theirs = w
        .client(&w.other_institution)
        .card_nonce()
        .await
        .unwrap()
        .nonce;
    let (_, sig) = sign(&card, "1234", &theirs).unwrap();
    let r = client.card_check(&attempt(cert.clone(), theirs, sig)).await;
    assert_eq!(refused(r), ("nonce_invalid".into(), 403));
    let made_up = format!("{}.{}", "ab".repeat(24), "cd".repeat(16));
    let (_, sig) = sign(&card, "1234", &made_up).unwrap();
    let r = client
        .card_check(&attempt(cert.clone(), made_up, sig))
        .await;
    assert_eq!(refused(r), ("nonce_invalid".into(), 403));

    // A malformed certificate, and a card from another authority (unknown CA).
    let nonce = client.card_nonce().await.unwrap().nonce;
    let (_, sig) = sign(&card, "1234", &nonce).unwrap();
    let r = client
        .card_check(&attempt(cert[..cert.len() - 10].to_vec(), nonce, sig))
        .await;
    assert_eq!(refused(r), ("certificate_malformed".into(), 403));
    let elsewhere = tempfile::tempdir().unwrap();
    let rogue = Authority::open_or_init(&elsewhere.path().join("a")).unwrap();
    let &(_, name, kana, sex, birth) = &PEOPLE[0];
    rogue
        .register_residents(&[Resident {
            individual_number: number(1),
            name: name.into(),
            name_kana: kana.into(),
            birthdate: Date::parse(birth).unwrap(),
            sex,
            address: ADDRESS.into(),
        }])
        .unwrap();
    let rogue_card = elsewhere.path().join("rogue.vcard");
    rogue
        .issue_card_file(&IssueRequest::new(number(1), "1234"), &rogue_card)
        .unwrap();
    // Same CA names, other keys: the signature check catches it.
    let (c, status) = code(w.check(&rogue_card).await.unwrap_err());
    assert_eq!((c.as_str(), status), ("certificate_signature_invalid", 403));

    // A certificate from an unrelated CA (the clinic's own TLS certificate).
    let nonce = client.card_nonce().await.unwrap().nonce;
    let (_, sig) = sign(&card, "1234", &nonce).unwrap();
    let clinic_cert = {
        use rustls_pki_types::pem::PemObject;
        rustls_pki_types::CertificateDer::from_pem_slice(&w.institution)
            .unwrap()
            .to_vec()
    };
    let r = client.card_check(&attempt(clinic_cert, nonce, sig)).await;
    assert_eq!(refused(r), ("certificate_unknown_issuer".into(), 403));

    // Garbage JSON and a bad base64 certificate are 400s.
    let nonce = client.card_nonce().await.unwrap().nonce;
    let r = client
        .card_check(&CardCheckRequest {
            certificate: "%%%".into(),
            nonce,
            proof: CardProof::Pin {
                signature: "AA==".into(),
            },
            limit_application_certificate_related_cons_flg: None,
            consents: vec![],
        })
        .await;
    assert_eq!(refused(r).1, 400);

    // Every attempt left one entry; only the one good check answered.
    let log = w.store.recent_access(100).await.unwrap();
    let new: Vec<String> = log
        .iter()
        .filter(|a| a.id > 0)
        .take((w.store.counts().await.unwrap().access_log - before) as usize)
        .map(|a| a.entry.result.code())
        .collect();
    assert_eq!(
        new.iter().filter(|r| r.starts_with("validity:")).count(),
        1,
        "{new:?}"
    );
    for code in [
        "refused:card_signature_invalid",
        "refused:nonce_used",
        "refused:nonce_invalid",
        "refused:certificate_malformed",
        "refused:certificate_signature_invalid",
        "refused:certificate_unknown_issuer",
    ] {
        assert!(new.iter().any(|r| r == code), "{code} missing in {new:?}");
    }
    // The forged attempts are visible to the card's owner (their qualification is the subject).
    let forged = log
        .iter()
        .find(|a| a.entry.result.code() == "refused:card_signature_invalid")
        .unwrap();
    assert_eq!(forged.entry.qualification_ids.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_suspended_and_expired_certificates() {
    let w = world().await;
    w.import(format!(
        "{HEADER}\n{}\n",
        row(1, "10", Some(1), "20200401", "")
    ))
    .await;
    let card = w.issue_card(1, None);
    w.register(&card).await;
    assert_eq!(w.check(&card).await.unwrap().validity, "1");
    let serial = Authority::serial_of(VirtualCard::open(&card).unwrap().auth_cert_der()).unwrap();

    // Suspended (lost card): refused once the central has the new CRL; resumed: accepted.
    w.authority.suspend(&serial).unwrap();
    w.services.refresh_crl().await.unwrap();
    let (c, _) = code(w.check(&card).await.unwrap_err());
    assert_eq!(c, "certificate_suspended");
    w.authority.resume(&serial).unwrap();
    w.services.refresh_crl().await.unwrap();
    assert_eq!(w.check(&card).await.unwrap().validity, "1");

    // Certificates near and past their end: 5 years from issue, 3 months' grace.
    let now = kakunin_central::service::now();
    let years_ago = |y: i64, extra_days: i64| {
        Timestamp::from_unix_millis(now.unix_millis() - (y * 365 + y / 4 + extra_days) * 86_400_000)
    };
    let soon = w.issue_card(1, Some(years_ago(5, -30)));
    let notice = w.check(&soon).await.unwrap().certificate_notice.unwrap();
    assert_eq!(notice.code, "certificate_expires_soon");
    let grace = w.issue_card(1, Some(years_ago(5, 30)));
    let answer = w.check(&grace).await.unwrap();
    assert_eq!(answer.validity, "1");
    assert_eq!(
        answer.certificate_notice.unwrap().code,
        "certificate_expired_in_grace"
    );
    let expired = w.issue_card(1, Some(years_ago(5, 120)));
    let (c, _) = code(w.check(&expired).await.unwrap_err());
    assert_eq!(c, "certificate_expired");
    assert_eq!(w.last_result().await, "refused:certificate_expired");

    // Revoked for good (the CRL is refreshed by the central's background task in production).
    w.authority
        .revoke(&serial, RevocationReason::KeyCompromise)
        .unwrap();
    w.services.refresh_crl().await.unwrap();
    let (c, _) = code(w.check(&card).await.unwrap_err());
    assert_eq!(c, "certificate_revoked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminal_attestations_of_face_and_visual_checks() {
    let w = world().await;
    w.import(format!(
        "{HEADER}\n{}\n",
        row(1, "10", Some(1), "20200401", "")
    ))
    .await;
    let card = w.issue_card(1, None);
    w.register(&card).await;
    let device_pem =
        w.ca.issue(&Role::parse("terminal", &institution_code("131000001")).unwrap())
            .unwrap();
    let foreign_pem =
        w.ca.issue(&Role::parse("terminal", &institution_code("131000002")).unwrap())
            .unwrap();
    let client = w.client(&w.institution);
    let cert = VirtualCard::open(&card).unwrap().auth_cert_der().to_vec();
    let attest = |pem: &str, method: &str, nonce: &str| {
        use rustls_pki_types::pem::PemObject;
        let der = rustls_pki_types::CertificateDer::from_pem_slice(pem.as_bytes()).unwrap();
        let key = rustls_pki_types::PrivatePkcs8KeyDer::from_pem_slice(pem.as_bytes()).unwrap();
        let pair = ring::signature::EcdsaKeyPair::from_pkcs8(
            &ring::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
            key.secret_pkcs8_der(),
            &ring::rand::SystemRandom::new(),
        )
        .unwrap();
        let cert_hash: String = Sha256::digest(&cert)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let sig = pair
            .sign(
                &ring::rand::SystemRandom::new(),
                &kakunin_api::attestation_message(method, nonce, &cert_hash),
            )
            .unwrap();
        (b64(der.as_ref()), b64(sig.as_ref()))
    };
    let request = |nonce: String, proof: CardProof| CardCheckRequest {
        certificate: b64(&cert),
        nonce,
        proof,
        limit_application_certificate_related_cons_flg: None,
        consents: vec![],
    };
    // Face and visual checks attested by this institution's terminal: answered without a PIN.
    for method in ["face", "visual"] {
        let nonce = client.card_nonce().await.unwrap().nonce;
        let (device_certificate, signature) = attest(&device_pem, method, &nonce);
        let proof = if method == "face" {
            CardProof::Face {
                device_certificate,
                signature,
            }
        } else {
            CardProof::Visual {
                device_certificate,
                signature,
            }
        };
        assert_eq!(
            client
                .card_check(&request(nonce, proof))
                .await
                .unwrap()
                .validity,
            "1"
        );
    }
    // Another institution's terminal, a method swapped after signing, a non-terminal cert.
    let nonce = client.card_nonce().await.unwrap().nonce;
    let (device_certificate, signature) = attest(&foreign_pem, "face", &nonce);
    let r = client
        .card_check(&request(
            nonce,
            CardProof::Face {
                device_certificate,
                signature,
            },
        ))
        .await;
    assert_eq!(code(r.unwrap_err()).0, "attestation_wrong_device");
    let nonce = client.card_nonce().await.unwrap().nonce;
    let (device_certificate, signature) = attest(&device_pem, "visual", &nonce);
    let r = client
        .card_check(&request(
            nonce,
            CardProof::Face {
                device_certificate,
                signature,
            },
        ))
        .await;
    assert_eq!(code(r.unwrap_err()).0, "attestation_invalid");
    let nonce = client.card_nonce().await.unwrap().nonce;
    let other_ca = tempfile::tempdir().unwrap();
    let rogue = Ca::init(other_ca.path(), "rogue")
        .unwrap()
        .issue(&Role::parse("terminal", &institution_code("131000001")).unwrap())
        .unwrap();
    let (device_certificate, signature) = attest(&rogue, "face", &nonce);
    let r = client
        .card_check(&request(
            nonce,
            CardProof::Face {
                device_certificate,
                signature,
            },
        ))
        .await;
    assert_eq!(code(r.unwrap_err()).0, "attestation_untrusted");
    // 利用登録 needs the PIN: an attestation is refused.
    let nonce = client.card_nonce().await.unwrap().nonce;
    let (device_certificate, signature) = attest(&device_pem, "face", &nonce);
    let r = client
        .card_registration(&CardRegistrationRequest {
            certificate: b64(&cert),
            nonce,
            proof: CardProof::Face {
                device_certificate,
                signature,
            },
        })
        .await;
    assert_eq!(code(r.unwrap_err()).0, "pin_required");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_pin_locks_the_card_and_nothing_is_sent() {
    let w = world().await;
    let card = w.issue_card(1, None);
    for left in [2u8, 1] {
        assert!(matches!(
            sign(&card, "9999", "n"),
            Err(JpkiError::WrongPin { tries_left }) if tries_left == left
        ));
    }
    let locked = sign(&card, "9999", "n").unwrap_err();
    assert!(matches!(locked, JpkiError::PinLocked));
    assert!(
        locked.message_ja().contains("市区町村"),
        "{}",
        locked.message_ja()
    );
    // Locked stays locked, even with the right PIN and after the card file is reopened.
    assert!(matches!(
        sign(&card, "1234", "n"),
        Err(JpkiError::PinLocked)
    ));
    assert_eq!(VirtualCard::open(&card).unwrap().pin_tries_left(), 0);
    assert_eq!(w.store.counts().await.unwrap().access_log, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_card_pulled_mid_transaction_sends_nothing_and_the_nonce_stays_unspent() {
    let w = world().await;
    w.import(format!(
        "{HEADER}\n{}\n",
        row(1, "10", Some(1), "20200401", "")
    ))
    .await;
    let path = w.issue_card(1, None);
    w.register(&path).await;
    let client = w.client(&w.institution);
    let before = w.store.counts().await.unwrap().access_log;
    let nonce = client.card_nonce().await.unwrap().nonce;
    // Pulled at each step of the session: SELECT, certificate chunks, VERIFY, SELECT key, sign.
    for after in 0..8u64 {
        let mut card = VirtualCard::open(&path).unwrap();
        card.removal_handle().remove_after(after);
        let outcome = (|| {
            let mut jpki = Jpki::open(&mut card)?;
            jpki.read_auth_certificate()?;
            jpki.verify_auth_pin("1234")?;
            let hash: [u8; 32] = Sha256::digest(card_challenge(&nonce)).into();
            jpki.sign_sha256(&hash)
        })();
        let e = outcome.expect_err("the card left the reader");
        assert!(
            matches!(e, JpkiError::Card(kakunin_card::CardError::Removed)),
            "{after}: {e:?}"
        );
        assert!(e.message_ja().contains("カード"), "{}", e.message_ja());
        // The card never lost a PIN try to the interruption.
        assert_eq!(VirtualCard::open(&path).unwrap().pin_tries_left(), 3);
    }
    // Nothing reached the central; the nonce is still good for a whole new attempt.
    assert_eq!(w.store.counts().await.unwrap().access_log, before);
    let (cert, sig) = sign(&path, "1234", &nonce).unwrap();
    let answer = client
        .card_check(&CardCheckRequest {
            certificate: b64(&cert),
            nonce,
            proof: CardProof::Pin {
                signature: b64(&sig),
            },
            limit_application_certificate_related_cons_flg: None,
            consents: vec![],
        })
        .await
        .unwrap();
    assert_eq!(answer.validity, "1");
    assert!(answer.next_nonce.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consents_given_at_the_reader_are_recorded_per_institution() {
    let w = world().await;
    w.import(format!(
        "{HEADER}\n{}\n{}\n",
        row(1, "10", Some(1), "20200401", ""),
        row(3, "30", Some(3), "20200401", "")
    ))
    .await;
    let check = |identity: Vec<u8>, card: PathBuf, consents: Vec<&'static str>| {
        let client = w.client(&identity);
        async move {
            let nonce = client.card_nonce().await.unwrap().nonce;
            let (cert, sig) = sign(&card, "1234", &nonce).unwrap();
            client
                .card_check(&CardCheckRequest {
                    certificate: b64(&cert),
                    nonce,
                    proof: CardProof::Pin {
                        signature: b64(&sig),
                    },
                    limit_application_certificate_related_cons_flg: None,
                    consents: consents.into_iter().map(String::from).collect(),
                })
                .await
        }
    };
    let flags = |a: &EligibilityCheckResponse| -> Vec<(String, String)> {
        a.consents
            .iter()
            .map(|c| (c.category.clone(), c.flag.clone()))
            .collect()
    };
    let expect = |m: &str, t: &str, s: &str, c: &str, l: &str| -> Vec<(String, String)> {
        [
            "medications",
            "treatments",
            "surgeries",
            "checkups",
            "limit",
        ]
        .into_iter()
        .zip([m, t, s, c, l])
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    };
    let one = w.issue_card(1, None);
    w.register(&one).await;
    // Nothing consented yet: every flag 0.
    let a = check(w.institution.clone(), one.clone(), vec![])
        .await
        .unwrap();
    assert_eq!(flags(&a), expect("0", "0", "0", "0", "0"));
    // Consent on the reader: recorded, valid 24 h, for this institution only.
    let a = check(
        w.institution.clone(),
        one.clone(),
        vec!["medications", "checkups", "limit"],
    )
    .await
    .unwrap();
    assert_eq!(flags(&a), expect("1", "0", "0", "1", "1"));
    let meds = &a.consents[0];
    assert_eq!(meds.element, "PharmacistsInfoConsFlg");
    assert!(meds.consented_at.is_some() && meds.available_until.is_some());
    let later = check(w.institution.clone(), one.clone(), vec![])
        .await
        .unwrap();
    assert_eq!(flags(&later), expect("1", "0", "0", "1", "1"));
    let elsewhere = check(w.other_institution.clone(), one.clone(), vec![])
        .await
        .unwrap();
    assert_eq!(flags(&elsewhere), expect("0", "0", "0", "0", "0"));
    // 特定健診 is offered from 40 only: a 36-year-old's checkups consent is not recorded.
    let three = w.issue_card(3, None);
    w.register(&three).await;
    let young = check(w.institution.clone(), three, vec!["checkups", "treatments"])
        .await
        .unwrap();
    assert_eq!(flags(&young), expect("0", "1", "0", "0", "0"));
    // An unknown category is a 400 and records nothing.
    let (code, status) = match check(w.institution.clone(), one, vec!["diagnoses"]).await {
        Err(ClientError::Api(e, status)) => (e.code, status),
        other => panic!("{other:?}"),
    };
    assert_eq!((code.as_str(), status), ("invalid_consent_category", 400));
}

/// The kiosk's order: check first (the answer gives the age and a next nonce), then the consent
/// screens, then the consents with a fresh card proof. A double submission records nothing
/// twice; 特定健診 stays closed under 40.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consents_after_the_check_with_the_next_nonce() {
    let w = world().await;
    w.import(format!(
        "{HEADER}\n{}\n{}\n",
        row(1, "10", Some(1), "20200401", ""),
        row(3, "30", Some(3), "20200401", "")
    ))
    .await;
    let client = w.client(&w.institution);
    let consent = |card: PathBuf, nonce: String, consents: Vec<&'static str>| {
        let client = client.clone();
        async move {
            let (cert, sig) = sign(&card, "1234", &nonce).unwrap();
            client
                .card_consents(&kakunin_api::CardConsentRequest {
                    certificate: b64(&cert),
                    nonce,
                    proof: CardProof::Pin {
                        signature: b64(&sig),
                    },
                    consents: consents.into_iter().map(String::from).collect(),
                })
                .await
        }
    };
    let flag = |flags: &[kakunin_api::ConsentFlag], category: &str| {
        flags
            .iter()
            .find(|f| f.category == category)
            .map(|f| f.flag.clone())
            .unwrap()
    };
    for (i, age_40_plus) in [(1, true), (3, false)] {
        let card = w.issue_card(i, None);
        w.register(&card).await;
        let nonce = client.card_nonce().await.unwrap().nonce;
        let (cert, sig) = sign(&card, "1234", &nonce).unwrap();
        let checked = client
            .card_check(&CardCheckRequest {
                certificate: b64(&cert),
                nonce,
                proof: CardProof::Pin {
                    signature: b64(&sig),
                },
                limit_application_certificate_related_cons_flg: None,
                consents: vec![],
            })
            .await
            .unwrap();
        assert_eq!(flag(&checked.consents, "medications"), "0");
        let next = checked.next_nonce.unwrap().nonce;
        let given = consent(
            card.clone(),
            next.clone(),
            vec!["medications", "treatments", "checkups"],
        )
        .await
        .unwrap();
        assert_eq!(flag(&given.consents, "medications"), "1");
        assert_eq!(flag(&given.consents, "treatments"), "1");
        assert_eq!(
            flag(&given.consents, "checkups"),
            if age_40_plus { "1" } else { "0" }
        );
        // The same submission again: refused as a replay, nothing recorded twice.
        let again = consent(card.clone(), next, vec!["surgeries"])
            .await
            .unwrap_err();
        assert_eq!(code(again), ("nonce_used".to_string(), 409));
        // ⑥ 限度額 with the answer's next nonce.
        let limit = consent(card, given.next_nonce.unwrap().nonce, vec!["limit"])
            .await
            .unwrap();
        assert_eq!(flag(&limit.consents, "limit"), "1");
        assert_eq!(flag(&limit.consents, "surgeries"), "0");
    }
    let log = w.store.recent_access(100).await.unwrap();
    let registrations = log
        .iter()
        .filter(|a| a.entry.purpose == kakunin_domain::AccessPurpose::ConsentRegistration)
        .count();
    assert_eq!(
        registrations, 6,
        "2 people × (consents, replay refused, 限度額)"
    );
}

/// A visit recorded while the central was unreachable: the card signed the visit's offline
/// challenge then; the terminal sends it afterwards. Answered as of the visit's date (again
/// when sent again), within 7 days; a challenge made for another institution or garbled ids are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_visits_are_checked_afterwards() {
    let w = world().await;
    // Lost today: visits of the days before are 有効 as of their date.
    let today = kakunin_central::service::now().jst_date().compact();
    let report = w
        .import(format!(
            "{HEADER}\n{}\n",
            row(1, "10", Some(1), "20200401", &today)
        ))
        .await;
    assert!(report.accepted, "{report:?}");
    let card = w.issue_card(1, None);
    w.register(&card).await;
    let clinic = kakunin_domain::InstitutionCode::parse(&institution_code("131000001")).unwrap();
    let now = kakunin_central::service::now();
    let visit = |at: Timestamp, id: &str, for_institution: &str| {
        let visited_at = at.jst_compact();
        let nonce = kakunin_api::offline_nonce(for_institution, &visited_at, id);
        let (cert, sig) = sign(&card, "1234", &nonce).unwrap();
        kakunin_api::OfflineCardCheckRequest {
            certificate: b64(&cert),
            visit_id: id.into(),
            visited_at,
            proof: CardProof::Pin {
                signature: b64(&sig),
            },
        }
    };
    let client = w.client(&w.institution);
    let days = |n: i64| Timestamp::from_unix_millis(now.unix_millis() - n * 86_400_000);

    // A visit during the outage (yesterday) is answered as of its own date.
    let yesterday = visit(days(1), "visit-0000000000000001", clinic.as_str());
    let answer = client.offline_card_check(&yesterday).await.unwrap();
    assert_eq!(answer.validity, "1", "in effect on the visit's date");
    assert_eq!(
        answer.qualification_confirmation_date,
        days(1).jst_date().compact()
    );
    assert_eq!(answer.reference_classification, "1");
    assert_eq!(answer.next_nonce, None);
    let log = w.store.recent_access(1).await.unwrap();
    assert_eq!(log[0].entry.purpose.code(), "eligibility_by_card");
    // A terminal that lost the answer asks again and gets the same one, logged again.
    let logged = w.store.counts().await.unwrap().access_log;
    let again = client.offline_card_check(&yesterday).await.unwrap();
    assert_eq!(again.validity, answer.validity);
    assert_eq!(again.results, answer.results);
    assert_eq!(w.store.counts().await.unwrap().access_log, logged + 1);
    assert_eq!(w.last_result().await, "validity:1");

    // (what, request, code, status)
    let mut garbled = visit(days(0), "visit-0000000000000002", clinic.as_str());
    garbled.visited_at = "2026-12-03".into();
    let mut moved = visit(days(2), "visit-0000000000000003", clinic.as_str());
    moved.visited_at = days(3).jst_compact();
    let other = institution_code("131000002");
    let cases = [
        (
            "eight days ago",
            visit(days(8), "visit-0000000000000004", clinic.as_str()),
            "offline_visit_expired",
            403,
        ),
        (
            "tomorrow",
            visit(days(-1), "visit-0000000000000005", clinic.as_str()),
            "offline_visit_invalid",
            403,
        ),
        (
            "short id",
            visit(days(0), "v1", clinic.as_str()),
            "offline_visit_invalid",
            403,
        ),
        ("bad time", garbled, "invalid_visited_at", 400),
        (
            "time changed after signing",
            moved,
            "card_signature_invalid",
            403,
        ),
        (
            "signed for another clinic",
            visit(days(0), "visit-0000000000000006", &other),
            "card_signature_invalid",
            403,
        ),
    ];
    for (what, request, want, want_status) in cases {
        let (c, status) = code(client.offline_card_check(&request).await.unwrap_err());
        assert_eq!((c.as_str(), status), (want, want_status), "{what}");
    }

    // Checked online today, the same card is 無効: the answer above was the visit's date's.
    assert_eq!(w.check(&card).await.unwrap().validity, "2");
}
