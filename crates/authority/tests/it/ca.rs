//! The CA chain, the user-auth certificate, the directory, the virtual card.

use crate::common::{authority, fixture, issue, number, registered};
use kakunin_authority::{Authority, AuthorityError, CardStatus, IssueRequest};
use kakunin_domain::text::half_width_kana;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::ParsedExtension;
use x509_parser::oid_registry::OID_PKCS1_SHA256WITHRSA;

fn parse(der: &[u8]) -> X509Certificate<'_> {
    let (rest, cert) = x509_parser::parse_x509_certificate(der).unwrap();
    assert!(rest.is_empty());
    cert
}

fn cn(cert: &X509Certificate<'_>) -> String {
    cert.subject()
        .iter_common_name()
        .next()
        .unwrap()
        .as_str()
        .unwrap()
        .to_string()
}

fn key_id(cert: &X509Certificate<'_>, authority: bool) -> Option<Vec<u8>> {
    cert.iter_extensions()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(id) if !authority => Some(id.0.to_vec()),
            ParsedExtension::AuthorityKeyIdentifier(aki) if authority => {
                aki.key_identifier.as_ref().map(|k| k.0.to_vec())
            }
            _ => None,
        })
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

const YEAR_SECS: i64 = 365 * 86_400;

#[test]
fn chain_verifies_and_the_card_certificate_names_nobody() {
    let ca = authority().ca_certificates();
    let (root, issuing) = (parse(&ca.root_der), parse(&ca.issuing_der));

    // Root: self-signed, 20 years, a CA.
    assert_eq!(cn(&root), "JPKI Root CA (kakunin)");
    root.verify_signature(None).unwrap();
    assert_eq!(root.signature_algorithm.algorithm, OID_PKCS1_SHA256WITHRSA);
    assert!(root.basic_constraints().unwrap().unwrap().value.ca);
    let root_years = root.validity().not_after.timestamp() - root.validity().not_before.timestamp();
    assert!((20 * YEAR_SECS..=20 * YEAR_SECS + 6 * 86_400).contains(&root_years));

    // Issuing CA: signed by the root, pathlen 0, keyCertSign + cRLSign, 10 years.
    assert_eq!(cn(&issuing), "JPKI User Authentication CA (kakunin)");
    issuing.verify_signature(Some(root.public_key())).unwrap();
    assert_eq!(issuing.issuer().as_raw(), root.subject().as_raw());
    let bc = issuing.basic_constraints().unwrap().unwrap().value;
    assert!(bc.ca);
    assert_eq!(bc.path_len_constraint, Some(0));
    let ku = issuing.key_usage().unwrap().unwrap().value;
    assert!(ku.key_cert_sign() && ku.crl_sign());
    assert_eq!(key_id(&issuing, true), key_id(&root, false));
    let issuing_years =
        issuing.validity().not_after.timestamp() - issuing.validity().not_before.timestamp();
    assert!((10 * YEAR_SECS..=10 * YEAR_SECS + 3 * 86_400).contains(&issuing_years));

    // The card's certificate.
    let person = registered("10000000001");
    let card = issue(&person.individual_number);
    let der = &card.spec.auth_cert_der;
    let cert = parse(der);
    cert.verify_signature(Some(issuing.public_key())).unwrap();
    assert!(cert.verify_signature(Some(root.public_key())).is_err());
    assert_eq!(cert.signature_algorithm.algorithm, OID_PKCS1_SHA256WITHRSA);
    assert_eq!(cert.issuer().as_raw(), issuing.subject().as_raw());
    assert_eq!(key_id(&cert, true), key_id(&issuing, false));
    assert_eq!(card.spec.auth_ca_cert_der, ca.issuing_der);
    assert_eq!(card.spec.pin, "1234");

    // Serial: 16 random positive bytes, the CN, what serial_of reads.
    assert_eq!(card.serial.len(), 32);
    assert!(card
        .serial
        .bytes()
        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    assert_eq!(Authority::serial_of(der).unwrap(), card.serial);
    assert_eq!(cn(&cert), card.serial);
    assert_eq!(cert.tbs_certificate.serial.to_str_radix(16), card.serial);

    // Usage: digitalSignature, clientAuth only.
    let ku = cert.key_usage().unwrap().unwrap().value;
    assert!(ku.digital_signature() && !ku.key_cert_sign() && !ku.crl_sign());
    let eku = cert.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.client_auth && !eku.server_auth);
    assert!(!cert.basic_constraints().unwrap().unwrap().value.ca);

    // Validity: 5 years minus one second, recorded as issued.
    let (nb, na) = (
        cert.validity().not_before.timestamp(),
        cert.validity().not_after.timestamp(),
    );
    assert_eq!(nb * 1000, card.not_before.unix_millis());
    assert_eq!(na * 1000, card.not_after.unix_millis());
    assert!(na - nb + 1 == 5 * YEAR_SECS + 86_400 || na - nb + 1 == 5 * YEAR_SECS + 2 * 86_400);
    let record = authority().card(&card.serial).unwrap().unwrap();
    assert_eq!(record.status, CardStatus::Active);
    assert_eq!(
        (record.not_before, record.not_after),
        (card.not_before, card.not_after)
    );
    assert_eq!(
        authority().card(&card.serial.to_uppercase()).unwrap(),
        Some(record)
    );

    // No personal data anywhere in the certificate.
    let n = person.individual_number.expose();
    let forbidden: Vec<(&str, Vec<u8>)> = vec![
        ("name", person.name.as_bytes().to_vec()),
        ("family name", "試験".as_bytes().to_vec()),
        ("kana", person.name_kana.as_bytes().to_vec()),
        (
            "half-width kana",
            half_width_kana(&person.name_kana).unwrap().into_bytes(),
        ),
        ("individual number", n.as_bytes().to_vec()),
        (
            "last 4 digits in text",
            person.individual_number.last4().as_bytes().to_vec(),
        ),
        ("birth date", person.birthdate.compact().into_bytes()),
        ("birth date (iso)", person.birthdate.iso().into_bytes()),
        (
            "birth date (UTCTime)",
            person.birthdate.compact().as_bytes()[2..].to_vec(),
        ),
        ("address", "千代田区".as_bytes().to_vec()),
    ];
    for (what, bytes) in forbidden {
        assert!(
            !contains(der, &bytes),
            "the certificate contains the {what}"
        );
    }
}

#[test]
fn custom_validity_and_refusals() {
    let person = registered("10000000002");
    let req = IssueRequest {
        not_before: Some(kakunin_domain::Timestamp::from_unix_millis(
            1_795_480_200_999,
        )),
        validity_years: 1,
        ..IssueRequest::new(person.individual_number.clone(), "0000")
    };
    let card = authority().issue_card(&req).unwrap();
    // 2026-11-24T00:30:00Z (milliseconds dropped) to 2027-11-24T00:29:59Z.
    assert_eq!(card.not_before.unix_millis(), 1_795_480_200_000);
    assert_eq!(card.not_after.unix_millis(), 1_827_016_199_000);

    let unknown = number("10000000099");
    type Expected = fn(&AuthorityError) -> bool;
    let cases: Vec<(IssueRequest, Expected)> = vec![
        (IssueRequest::new(unknown, "1234"), |e| {
            matches!(e, AuthorityError::UnknownResident)
        }),
        (
            IssueRequest::new(person.individual_number.clone(), "12a4"),
            |e| matches!(e, AuthorityError::InvalidPin),
        ),
        (
            IssueRequest::new(person.individual_number.clone(), "12345"),
            |e| matches!(e, AuthorityError::InvalidPin),
        ),
        (
            IssueRequest {
                validity_years: 0,
                ..IssueRequest::new(person.individual_number.clone(), "1234")
            },
            |e| matches!(e, AuthorityError::InvalidRequest(_)),
        ),
    ];
    for (req, expected) in cases {
        let e = authority().issue_card(&req).unwrap_err();
        assert!(expected(&e), "{req:?}: {e}");
    }
    // The refused requests revoked nothing.
    assert_eq!(
        authority().card(&card.serial).unwrap().unwrap().status,
        CardStatus::Active
    );
}

#[test]
fn directory_layout_and_open() {
    let dir = &fixture().dir;
    for f in ["root-ca.pem", "issuing-ca.pem"] {
        assert!(dir.join("keys").join(f).is_file(), "{f}");
    }
    assert!(dir.join("registry.sqlite3").is_file());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for f in ["root-ca-key.pem", "issuing-ca-key.pem", "pseudonym.secret"] {
            let mode = std::fs::metadata(dir.join("keys").join(f))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{f}");
        }
        let mode = std::fs::metadata(dir.join("keys"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "keys/ is private");
    }
    let key = std::fs::read_to_string(dir.join("keys/issuing-ca-key.pem")).unwrap();
    assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"));
    assert_eq!(
        std::fs::read(dir.join("keys/pseudonym.secret"))
            .unwrap()
            .len(),
        32
    );

    // A second handle sees the same chain; open_or_init on it creates nothing new.
    let again = Authority::open(dir).unwrap();
    assert_eq!(again.ca_certificates(), authority().ca_certificates());
    let again = Authority::open_or_init(dir).unwrap();
    assert_eq!(again.ca_certificates(), authority().ca_certificates());

    // open() refuses what is not an authority directory.
    let empty = tempfile::tempdir().unwrap();
    for dir in [empty.path().to_path_buf(), empty.path().join("absent")] {
        let e = Authority::open(&dir).unwrap_err();
        assert!(matches!(e, AuthorityError::NotInitialized { .. }), "{e}");
        assert!(e.to_string().contains("root-ca.pem"), "{e}");
    }
    assert!(!empty.path().join("absent").exists());
}

#[test]
fn issue_card_file_writes_a_card_that_signs() {
    use kakunin_card::{Jpki, VirtualCard};
    let person = registered("10000000003");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("card.json");
    let issued = authority()
        .issue_card_file(
            &IssueRequest::new(person.individual_number.clone(), "4321"),
            &path,
        )
        .unwrap();

    let mut card = VirtualCard::open(&path).unwrap();
    assert_eq!(card.auth_cert_der(), issued.spec.auth_cert_der.as_slice());
    assert_eq!(
        card.auth_ca_cert_der(),
        authority().ca_certificates().issuing_der.as_slice()
    );
    let mut jpki = Jpki::open(&mut card).unwrap();
    let cert_der = jpki.read_auth_certificate().unwrap();
    assert_eq!(cert_der, issued.spec.auth_cert_der);
    jpki.verify_auth_pin("4321").unwrap();
    let challenge = b"nonce from the central";
    let digest = ring::digest::digest(&ring::digest::SHA256, challenge);
    let signature = jpki
        .sign_sha256(digest.as_ref().try_into().unwrap())
        .unwrap();

    let cert = parse(&cert_der);
    ring::signature::UnparsedPublicKey::new(
        &ring::signature::RSA_PKCS1_2048_8192_SHA256,
        cert.public_key().subject_public_key.data.as_ref(),
    )
    .verify(challenge, &signature)
    .unwrap();

    // The certificate leads to its owner.
    let owner = authority()
        .certificate_owner("central", &cert_der)
        .unwrap()
        .unwrap();
    assert_eq!(owner.serial, issued.serial);

    // A card file is never overwritten, and no card is issued for it.
    let e = authority()
        .issue_card_file(
            &IssueRequest::new(person.individual_number.clone(), "4321"),
            &path,
        )
        .unwrap_err();
    assert!(matches!(e, AuthorityError::Card(_)), "{e}");
    assert_eq!(
        authority().card(&issued.serial).unwrap().unwrap().status,
        CardStatus::Active,
        "the refused reissue did not supersede the card"
    );
}

#[test]
fn concurrent_first_opens_share_one_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("authority");
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let path = path.clone();
            std::thread::spawn(move || Authority::open_or_init(&path).unwrap().ca_certificates())
        })
        .collect();
    let chains: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(chains[0], chains[1]);
    assert_eq!(Authority::open(&path).unwrap().ca_certificates(), chains[0]);
    // No staging directory (with key material) is left behind.
    let names: Vec<String> = std::fs::read_dir(&path)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with("registry.sqlite3"))
        .collect();
    assert_eq!(names, ["keys"]);
}
