//! Issuing and opening card files: validation, the on-disk format, permissions.

use crate::support::{
    fixture, new_card, new_surface_card, spec, surface_spec, CODE_B, PIN, SECURITY_CODE,
};
use kakunin_card::{
    CardDate, KeyError, PhotoError, SurfaceError, SurfaceSpec, VirtualCard, VirtualCardError,
    VirtualCardSpec, CARD_FILE_FORMAT,
};
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

/// The card file `good` with the value at `pointer` replaced, as bytes.
fn edited(good: &Value, pointer: &str, value: Value) -> Vec<u8> {
    let mut v = good.clone();
    *v.pointer_mut(pointer).unwrap() = value;
    serde_json::to_vec(&v).unwrap()
}

#[test]
fn opening_rejects_what_is_not_a_card_file() {
    let t = new_card();
    let good: Value = serde_json::from_slice(&std::fs::read(&t.path).unwrap()).unwrap();
    let with = |pointer: &str, value: Value| edited(&good, pointer, value);
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

/// A card file as the first version of the format wrote it, before the card face existed:
/// built field by field here, so the test does not depend on what `create` writes today.
#[test]
fn files_from_before_the_card_face_still_open() {
    let f = fixture();
    let hex_of = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let salt = [0x5Au8; 16];
    let pin_hash = crate::support::sha256(&[&salt[..], PIN.as_bytes()].concat());
    let old = serde_json::json!({
        "format": "kakunin-virtual-card/1",
        "auth_key_pkcs8": hex_of(&f.key_pkcs8),
        "auth_cert": hex_of(&f.auth_cert),
        "auth_ca_cert": hex_of(&f.ca_cert),
        "auth_pin": { "salt": hex_of(&salt), "sha256": hex_of(&pin_hash), "tries_left": 2 }
    });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&old).unwrap()).unwrap();
    let mut card = VirtualCard::open(&path).unwrap();
    assert!(!card.has_surface());
    assert_eq!(card.pin_tries_left(), 2);
    kakunin_card::Jpki::open(&mut card)
        .unwrap()
        .verify_auth_pin(PIN)
        .unwrap();
    // Rewritten (the counter went back to 3) in the same shape: no "surface" key.
    let json: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(json["auth_pin"]["tries_left"], 3);
    assert!(json.get("surface").is_none(), "{json}");
}

#[test]
fn the_card_face_in_the_file() {
    let mut t = new_surface_card();
    let text = std::fs::read_to_string(&t.path).unwrap();
    let json: Value = serde_json::from_str(&text).unwrap();
    let mut keys: Vec<&String> = json["surface"].as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "birth_date",
            "code_b_tries_left",
            "expiry",
            "face_photo",
            "security_code"
        ]
    );
    // The printed card face; 照合番号B itself is derived from it, as the chip's is.
    assert_eq!(json["surface"]["birth_date"], "19800217");
    assert_eq!(json["surface"]["expiry"], "20350217");
    assert_eq!(json["surface"]["security_code"], SECURITY_CODE);
    assert_eq!(json["surface"]["code_b_tries_left"], 10);
    assert!(!text.contains(CODE_B));
    assert_eq!(t.card.printed_collation_b().as_deref(), Some(CODE_B));
    assert_eq!(CARD_FILE_FORMAT, "kakunin-virtual-card/1");

    // A wrong VERIFY is persisted; the photo and the counter survive a reopen.
    let mut surface = kakunin_card::Surface::open(&mut t.card).unwrap();
    assert!(surface.verify_b("00000000000000").is_err());
    t.reopen();
    assert_eq!(t.card.code_b_tries_left(), Some(9));
    let mut surface = kakunin_card::Surface::open(&mut t.card).unwrap();
    surface.verify_b(CODE_B).unwrap();
    assert_eq!(
        surface.read_face_photo().unwrap(),
        crate::photo::portrait_jp2()
    );
}

#[test]
fn opening_rejects_a_broken_card_face() {
    let t = new_surface_card();
    let good: Value = serde_json::from_slice(&std::fs::read(&t.path).unwrap()).unwrap();
    let with = |pointer: &str, value: Value| edited(&good, pointer, value);
    let mut extra = good.clone();
    extra["surface"]["code_b"] = Value::from(crate::support::CODE_B);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "not a date",
            with("/surface/birth_date", "1980-02-17".into()),
        ),
        ("30 February", with("/surface/expiry", "20350230".into())),
        ("photo not hex", with("/surface/face_photo", "zz".into())),
        (
            "photo not JP2",
            with("/surface/face_photo", "ffd8ffe0".into()),
        ),
        ("11 tries", with("/surface/code_b_tries_left", 11.into())),
        (
            "code with a letter",
            with("/surface/security_code", "22a5".into()),
        ),
        (
            "5-digit code",
            with("/surface/security_code", "22850".into()),
        ),
        (
            "born before 明治",
            with("/surface/birth_date", "18000101".into()),
        ),
        ("unknown field", serde_json::to_vec(&extra).unwrap()),
        ("no security code", {
            let mut v = good.clone();
            v["surface"]
                .as_object_mut()
                .unwrap()
                .remove("security_code");
            serde_json::to_vec(&v).unwrap()
        }),
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
}

#[test]
fn issuing_checks_the_card_face() {
    let too_large = {
        // A valid photo followed by a box no decoder needs: larger than an EF.
        let mut jp2 = crate::photo::portrait_jp2().to_vec();
        jp2.extend_from_slice(&(8u32 + 20_000).to_be_bytes());
        jp2.extend_from_slice(b"free");
        jp2.extend(std::iter::repeat_n(0u8, 20_000));
        jp2
    };
    type Check = fn(&VirtualCardError) -> bool;
    let cases: Vec<(&str, SurfaceSpec, Check)> = vec![
        (
            "photo not JPEG 2000",
            SurfaceSpec {
                face_photo_jp2: vec![0xFF, 0xD8, 0xFF, 0xE0],
                ..surface_spec()
            },
            |e| matches!(e, VirtualCardError::FacePhoto(PhotoError::NotJp2)),
        ),
        (
            "security code with a letter",
            SurfaceSpec {
                security_code: "22a5".into(),
                ..surface_spec()
            },
            |e| {
                matches!(
                    e,
                    VirtualCardError::CardFace(SurfaceError::SecurityCodeFormat)
                )
            },
        ),
        (
            "born before 明治",
            SurfaceSpec {
                birth_date: CardDate::new(1850, 1, 1).unwrap(),
                ..surface_spec()
            },
            |e| {
                matches!(
                    e,
                    VirtualCardError::CardFace(SurfaceError::BirthDateOutOfEra)
                )
            },
        ),
        (
            "record larger than an EF",
            SurfaceSpec {
                face_photo_jp2: too_large,
                ..surface_spec()
            },
            |e| matches!(e, VirtualCardError::CardFaceTooLarge(n) if *n > 32_767),
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (name, surface, expected) in cases {
        let path = dir.path().join(name);
        let err = VirtualCard::create_with_surface(&path, spec(), surface).unwrap_err();
        assert!(expected(&err), "{name}: {err:?}");
        assert!(!path.exists(), "{name}: a refused card left a file");
    }
    assert!(!format!("{:?}", surface_spec()).contains(SECURITY_CODE));
}
