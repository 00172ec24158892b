//! Issuing and opening card files: validation, the on-disk format, permissions.

use crate::support::{fixture, new_card, spec, PIN};
use kakunin_card::{KeyError, VirtualCard, VirtualCardError, VirtualCardSpec, CARD_FILE_FORMAT};
use serde_json::Value;

#[test]
fn a_card_file_is_never_overwritten() {
    let t = new_card();
    let before = std::fs::read(&t.path).unwrap();
    let err = VirtualCard::create(&t.path, spec()).unwrap_err();
    assert!(matches!(err, VirtualCardError::AlreadyExists(_)), "{err:?}");
    assert_eq!(std::fs::read(&t.path).unwrap(), before);
}

#[test]
fn issuing_checks_the_pin_the_key_and_the_certificates() {
    let f = fixture();
    let ecdsa_pkcs8 = rcgen::KeyPair::generate().unwrap().serialize_der();
    type Check = fn(&VirtualCardError) -> bool;
    let cases: Vec<(&str, VirtualCardSpec, Check)> = vec![
        (
            "3-digit PIN",
            VirtualCardSpec {
                pin: "123".into(),
                ..spec()
            },
            |e| matches!(e, VirtualCardError::PinFormat),
        ),
        (
            "letter in PIN",
            VirtualCardSpec {
                pin: "12a4".into(),
                ..spec()
            },
            |e| matches!(e, VirtualCardError::PinFormat),
        ),
        (
            "not an RSA key",
            VirtualCardSpec {
                auth_key_pkcs8_der: ecdsa_pkcs8,
                ..spec()
            },
            |e| matches!(e, VirtualCardError::Key(KeyError::Pkcs8(_))),
        ),
        (
            "certificate of another key",
            VirtualCardSpec {
                auth_cert_der: f.ca_cert.clone(),
                ..spec()
            },
            |e| matches!(e, VirtualCardError::KeyCertificateMismatch),
        ),
        (
            "truncated certificate",
            VirtualCardSpec {
                auth_cert_der: f.auth_cert[..f.auth_cert.len() - 1].to_vec(),
                ..spec()
            },
            |e| matches!(e, VirtualCardError::BadCertificate("auth certificate")),
        ),
        (
            "empty CA certificate",
            VirtualCardSpec {
                auth_ca_cert_der: Vec::new(),
                ..spec()
            },
            |e| matches!(e, VirtualCardError::BadCertificate("auth CA certificate")),
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (name, spec, expected) in cases {
        let path = dir.path().join(name);
        let err = VirtualCard::create(&path, spec).unwrap_err();
        assert!(expected(&err), "{name}: {err:?}");
        assert!(!path.exists(), "{name}: a refused card left a file");
    }
}

#[test]
fn the_file_format() {
    let t = new_card();
    let text = std::fs::read_to_string(&t.path).unwrap();
    let json: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["format"], CARD_FILE_FORMAT);
    assert_eq!(CARD_FILE_FORMAT, "kakunin-virtual-card/1");
    // Sorted: serde_json may preserve insertion order when another crate enables that.
    let sorted_keys = |v: &Value| {
        let mut keys: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    };
    assert_eq!(
        sorted_keys(&json),
        [
            "auth_ca_cert",
            "auth_cert",
            "auth_key_pkcs8",
            "auth_pin",
            "format"
        ]
    );
    let pin = json["auth_pin"].as_object().unwrap();
    assert_eq!(
        sorted_keys(&json["auth_pin"]),
        ["salt", "sha256", "tries_left"]
    );
    assert_eq!(pin["tries_left"], 3);
    assert_eq!(pin["salt"].as_str().unwrap().len(), 32);
    assert_eq!(pin["sha256"].as_str().unwrap().len(), 64);
    // The PIN is not stored in clear (hex of "1234" is 31323334).
    assert_ne!(pin["sha256"].as_str().unwrap(), "31323334");
    let f = fixture();
    let hex_of = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    assert_eq!(json["auth_cert"], hex_of(&f.auth_cert));
    assert_eq!(json["auth_ca_cert"], hex_of(&f.ca_cert));
    assert_eq!(json["auth_key_pkcs8"], hex_of(&f.key_pkcs8));
    assert_eq!(PIN.len(), 4);
}

#[cfg(unix)]
#[test]
fn card_files_are_private_also_after_a_counter_update() {
    use std::os::unix::fs::PermissionsExt;
    let mut t = new_card();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&t.path), 0o600);
    // A wrong VERIFY rewrites the file through a temporary file and a rename.
    let wrong = kakunin_card::Jpki::open(&mut t.card)
        .unwrap()
        .verify_auth_pin("0000");
    assert!(wrong.is_err());
    assert_eq!(mode(&t.path), 0o600);
    let json: Value = serde_json::from_slice(&std::fs::read(&t.path).unwrap()).unwrap();
    assert_eq!(json["auth_pin"]["tries_left"], 2);
    // No temporary file left behind.
    let names: Vec<_> = std::fs::read_dir(t.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["card.json"]);
}

#[test]
fn opening_rejects_what_is_not_a_card_file() {
    let t = new_card();
    let good: Value = serde_json::from_slice(&std::fs::read(&t.path).unwrap()).unwrap();
    let with = |pointer: &str, value: Value| {
        let mut v = good.clone();
        *v.pointer_mut(pointer).unwrap() = value;
        serde_json::to_vec(&v).unwrap()
    };
    let mut extra = good.clone();
    extra["pin"] = Value::from("1234");
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("not json", b"hello".to_vec()),
        (
            "other format",
            with("/format", "kakunin-virtual-card/2".into()),
        ),
        ("unknown field", serde_json::to_vec(&extra).unwrap()),
        ("odd hex", with("/auth_cert", "abc".into())),
        ("short salt", with("/auth_pin/salt", "00".into())),
        ("too many tries", with("/auth_pin/tries_left", 4.into())),
        ("negative tries", with("/auth_pin/tries_left", (-1).into())),
    ];
    for (name, bytes) in cases {
        let path = t.dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let err = VirtualCard::open(&path).unwrap_err();
        assert!(
            matches!(err, VirtualCardError::Format { .. }),
            "{name}: {err:?}"
        );
    }
    // Swapping the certificate for one without the card's key is refused as well.
    let bytes = with(
        "/auth_cert",
        fixture()
            .ca_cert
            .iter()
            .map(|x| format!("{x:02x}"))
            .collect::<String>()
            .into(),
    );
    let path = t.dir.path().join("swapped");
    std::fs::write(&path, bytes).unwrap();
    assert!(matches!(
        VirtualCard::open(&path).unwrap_err(),
        VirtualCardError::KeyCertificateMismatch
    ));
    assert!(matches!(
        VirtualCard::open(&t.dir.path().join("missing")).unwrap_err(),
        VirtualCardError::Io { .. }
    ));
}

#[test]
fn the_issuer_helpers() {
    let f = fixture();
    let spki = kakunin_card::public_key_der_from_pkcs8(&f.key_pkcs8).unwrap();
    assert_eq!(spki, f.spki);
    // rsaEncryption SPKI of a 2048-bit key: 294 bytes.
    assert_eq!(spki.len(), 294);
    assert!(matches!(
        kakunin_card::public_key_der_from_pkcs8(b"not a key"),
        Err(KeyError::Pkcs8(_))
    ));
    assert!(
        f.keygen < std::time::Duration::from_secs(20),
        "debug-mode RSA-2048 keygen took {:?}: is [profile.dev.package.num-bigint-dig] opt-level 3 still set?",
        f.keygen
    );
}
