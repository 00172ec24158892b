//! Shared fixtures: one RSA-2048 key and certificate chain for the whole test binary, card
//! files in temporary directories, hex helpers.

use kakunin_card::{
    generate_rsa2048_pkcs8, public_key_der_from_pkcs8, CardDate, GreyImage, SurfaceSpec,
    VirtualCard, VirtualCardSpec,
};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The auth PIN of every fixture card.
pub const PIN: &str = "1234";

pub struct Fixture {
    pub key_pkcs8: Vec<u8>,
    /// SubjectPublicKeyInfo DER of the key.
    pub spki: Vec<u8>,
    pub auth_cert: Vec<u8>,
    pub ca_cert: Vec<u8>,
    /// How long the RSA-2048 key generation took (debug build).
    pub keygen: Duration,
}

/// Generated once per test binary: key generation is the slow part.
pub fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let started = Instant::now();
        let key_pkcs8 = generate_rsa2048_pkcs8().expect("keygen");
        let keygen = started.elapsed();
        let spki = public_key_der_from_pkcs8(&key_pkcs8).expect("spki");

        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.distinguished_name.push(
            DnType::CommonName,
            "kakunin test JPKI user authentication CA",
        );
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).expect("CA cert");

        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        // A long subject pushes the certificate past 512 bytes: three READ BINARY chunks.
        params.distinguished_name.push(
            DnType::OrganizationName,
            "kakunin test card issuer ".repeat(8),
        );
        params
            .distinguished_name
            .push(DnType::CommonName, "test card 0001");
        let public = rcgen::SubjectPublicKeyInfo::from_der(&spki).expect("rcgen SPKI");
        let cert = params.signed_by(&public, &ca, &ca_key).expect("auth cert");

        Fixture {
            key_pkcs8,
            spki,
            auth_cert: cert.der().to_vec(),
            ca_cert: ca.der().to_vec(),
            keygen,
        }
    })
}

pub fn spec() -> VirtualCardSpec {
    let f = fixture();
    VirtualCardSpec {
        auth_key_pkcs8_der: f.key_pkcs8.clone(),
        auth_cert_der: f.auth_cert.clone(),
        auth_ca_cert_der: f.ca_cert.clone(),
        pin: PIN.to_owned(),
    }
}

/// A fresh card file in its own temporary directory (kept alive by the returned guard).
pub struct TestCard {
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
    pub card: VirtualCard,
}

pub fn new_card() -> TestCard {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("card.json");
    let card = VirtualCard::create(&path, spec()).expect("create card");
    TestCard { dir, path, card }
}

/// The card face of every surface fixture card: born 昭和55年2月17日, expiring 2035-02-17,
/// security code 2285 — soltia48/myna-card's test card, whose 照合番号B is known.
pub const SECURITY_CODE: &str = "2285";
pub const CODE_B: &str = "55021720352285";

pub fn surface_spec() -> SurfaceSpec {
    SurfaceSpec {
        face_photo_jp2: crate::photo::portrait_jp2().to_vec(),
        birth_date: CardDate::new(1980, 2, 17).unwrap(),
        expiry: CardDate::new(2035, 2, 17).unwrap(),
        security_code: SECURITY_CODE.to_owned(),
    }
}

/// A fresh card file with a card face (the 300 × 400 portrait).
pub fn new_surface_card() -> TestCard {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("card.json");
    let card =
        VirtualCard::create_with_surface(&path, spec(), surface_spec()).expect("create card");
    TestCard { dir, path, card }
}

impl TestCard {
    /// Power-cycles the process: drops the card and opens the file again.
    pub fn reopen(&mut self) {
        self.card = VirtualCard::open(&self.path).expect("reopen card");
    }
}

pub fn hex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text.bytes().filter(|b| b.is_ascii_hexdigit()).collect();
    assert!(digits.len() % 2 == 0, "odd hex: {text}");
    digits
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
}

/// The PKCS#1 RSAPublicKey inside a SubjectPublicKeyInfo: what ring's RSA verifier takes.
pub fn rsa_public_key_from_spki(spki: &[u8]) -> &[u8] {
    // SEQUENCE { AlgorithmIdentifier, BIT STRING { 00, RSAPublicKey } }
    let (_, body) = der_element(spki);
    let (alg_len, _) = der_element(body);
    let (_, bit_string) = der_element(&body[alg_len..]);
    assert_eq!(bit_string[0], 0, "unused bits");
    &bit_string[1..]
}

/// (total length, contents) of the DER element at the start of `bytes`.
fn der_element(bytes: &[u8]) -> (usize, &[u8]) {
    let (header, len) = match bytes[1] {
        n if n < 0x80 => (2, usize::from(n)),
        0x81 => (3, usize::from(bytes[2])),
        0x82 => (4, usize::from(u16::from_be_bytes([bytes[2], bytes[3]]))),
        other => panic!("unexpected DER length octet {other:02X}"),
    };
    (header + len, &bytes[header..header + len])
}

/// Verifies a sha256WithRSAEncryption signature with ring against the fixture key.
pub fn ring_verify(message: &[u8], signature: &[u8]) -> bool {
    let public = rsa_public_key_from_spki(&fixture().spki);
    ring::signature::UnparsedPublicKey::new(&ring::signature::RSA_PKCS1_2048_8192_SHA256, public)
        .verify(message, signature)
        .is_ok()
}

pub fn sha256(message: &[u8]) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, message);
    digest.as_ref().try_into().expect("32 bytes")
}

/// A deterministic portrait-like greyscale test picture: a gradient background, a shaded oval
/// with darker eyes and mouth, a striped collar, and ±3 of noise (what a camera adds).
pub fn portrait(width: u32, height: u32) -> GreyImage {
    let mut seed = 0x2545_F491u32;
    let (w, h) = (width as f32, height as f32);
    let mut pixels = Vec::with_capacity((width * height) as usize);
    for y in 0..height {
        for x in 0..width {
            let (fx, fy) = (x as f32 / w, y as f32 / h);
            let mut v = 200.0 - 60.0 * fy;
            let (dx, dy) = ((fx - 0.5) / 0.28, (fy - 0.45) / 0.33);
            let r = dx * dx + dy * dy;
            if r < 1.0 {
                v = 150.0 + 50.0 * (1.0 - r) - 30.0 * dx;
                for (ex, ey) in [(0.4, 0.4), (0.6, 0.4)] {
                    let (ddx, ddy) = ((fx - ex) / 0.05, (fy - ey) / 0.025);
                    if ddx * ddx + ddy * ddy < 1.0 {
                        v = 40.0;
                    }
                }
                let (mx, my) = ((fx - 0.5) / 0.1, (fy - 0.6) / 0.02);
                if mx * mx + my * my < 1.0 {
                    v = 90.0;
                }
            } else if fy > 0.78 {
                v = 60.0 + 20.0 * (fx * 40.0).sin();
            }
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            v += (seed % 7) as f32 - 3.0;
            pixels.push(v.clamp(0.0, 255.0) as u8);
        }
    }
    GreyImage::new(width, height, pixels).expect("portrait size")
}

/// Peak signal-to-noise ratio of `b` against `a`, in dB (∞ when equal).
pub fn psnr(a: &GreyImage, b: &GreyImage) -> f64 {
    assert_eq!((a.width(), a.height()), (b.width(), b.height()));
    let mse = a
        .pixels()
        .iter()
        .zip(b.pixels())
        .map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2))
        .sum::<f64>()
        / a.pixels().len() as f64;
    10.0 * (255.0f64 * 255.0 / mse).log10()
}
