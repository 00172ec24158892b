//! `AuthorityApi`: the embedded authority and the HTTP client give the same answers.

use crate::common::{authority, issue, number, registered};
use kakunin_authority::{
    router, AuthorityApi, AuthorityError, CardStatus, Embedded, MatchOutcome, MatchQuery, Remote,
    RevocationReason, MAX_MATCH_BATCH,
};
use kakunin_domain::{Attribute, Sex};

fn queries(person: &kakunin_authority::Resident) -> Vec<MatchQuery> {
    let good = MatchQuery {
        individual_number: person.individual_number.clone(),
        name: person.name.clone(),
        name_kana: Some(person.name_kana.clone()),
        birthdate: person.birthdate,
        sex: person.sex,
        address: None,
    };
    let wrong = MatchQuery {
        sex: Sex::Male,
        ..good.clone()
    };
    vec![good, wrong]
}

/// Checks one implementation against the authority itself.
async fn exercise(api: &dyn AuthorityApi, person: &kakunin_authority::Resident, cert: &[u8]) {
    let a = authority();
    let outcomes = api.match_residents(queries(person)).await.unwrap();
    assert_eq!(
        outcomes,
        vec![
            MatchOutcome::Matched {
                pseudonym: a.pseudonym("central", &person.individual_number)
            },
            MatchOutcome::Mismatch {
                attributes: vec![Attribute::Sex]
            },
        ]
    );
    assert!(api.match_residents(Vec::new()).await.unwrap().is_empty());

    let owner = api.certificate_owner(cert.to_vec()).await.unwrap().unwrap();
    assert_eq!(
        owner,
        a.certificate_owner("central", cert).unwrap().unwrap()
    );
    assert_eq!(
        api.certificate_owner(b"not a certificate".to_vec())
            .await
            .unwrap(),
        None
    );

    assert_eq!(api.ca_certificates().await.unwrap(), a.ca_certificates());
    let crl = api.crl().await.unwrap();
    let (_, parsed) = x509_parser::parse_x509_crl(&crl).unwrap();
    let ca = a.ca_certificates();
    let (_, issuing) = x509_parser::parse_x509_certificate(&ca.issuing_der).unwrap();
    parsed.verify_signature(issuing.public_key()).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_and_remote_agree() {
    let person = registered("50000000001");
    let card = tokio::task::spawn_blocking(move || issue(&number("50000000001")))
        .await
        .unwrap();
    let cert = card.spec.auth_cert_der.clone();

    let embedded = Embedded::new(authority().clone(), "central");
    exercise(&embedded, &person, &cert).await;

    // The router over a real socket (plain HTTP here: TLS is the caller's layer).
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = router(authority().clone(), "central".into());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let key = rcgen::KeyPair::generate().unwrap();
    let client_cert = rcgen::CertificateParams::new(vec!["client".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let identity = format!("{}{}", client_cert.pem(), key.serialize_pem());
    let ca_pem = authority().ca_certificates().root_pem();
    let remote = Remote::new(
        &format!("http://{addr}/"),
        ca_pem.as_bytes(),
        identity.as_bytes(),
    )
    .unwrap();
    exercise(&remote, &person, &cert).await;

    // More queries than one call may carry: split, answers still aligned.
    let mut many: Vec<MatchQuery> = (0..MAX_MATCH_BATCH + 3)
        .map(|i| MatchQuery {
            individual_number: number(&format!("51{i:09}")),
            ..queries(&person)[0].clone()
        })
        .collect();
    many.push(queries(&person)[0].clone());
    let outcomes = remote.match_residents(many).await.unwrap();
    assert_eq!(outcomes.len(), MAX_MATCH_BATCH + 4);
    assert!(matches!(
        outcomes.last(),
        Some(MatchOutcome::Matched { .. })
    ));
    assert_eq!(
        outcomes[0],
        MatchOutcome::Mismatch {
            attributes: vec![Attribute::IndividualNumber]
        }
    );

    // Card status over HTTP, with the server's error codes.
    remote
        .set_card_status(&card.serial, CardStatus::Suspended, None)
        .await
        .unwrap();
    remote
        .set_card_status(
            &card.serial,
            CardStatus::Revoked,
            Some(RevocationReason::KeyCompromise),
        )
        .await
        .unwrap();
    let e = remote
        .set_card_status(&card.serial, CardStatus::Active, None)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, AuthorityError::Remote { status: 409, code, .. } if code == "card_revoked"),
        "{e}"
    );

    // Nobody listening.
    server.abort();
    let _ = server.await;
    let gone = Remote::new(
        &format!("http://{addr}"),
        ca_pem.as_bytes(),
        identity.as_bytes(),
    )
    .unwrap();
    let e = gone.crl().await.unwrap_err();
    assert!(matches!(e, AuthorityError::Transport(_)), "{e}");

    // Unreadable PEM is refused up front.
    let e = Remote::new("https://x", b"nonsense", identity.as_bytes()).unwrap_err();
    assert!(matches!(e, AuthorityError::Crypto(_)), "{e}");
}
