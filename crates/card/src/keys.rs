//! RSA-2048 keys for virtual cards: generation (for the card issuer) and the public half.

use rsa::pkcs1::EncodeRsaPublicKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey};
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use thiserror::Error;

/// The modulus size of a My Number card's auth key.
pub const RSA_BITS: usize = 2048;

/// Why a key could not be generated, decoded or encoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KeyError {
    #[error("RSA key generation failed: {0}")]
    Generate(String),
    #[error("not an RSA private key in PKCS#8 DER: {0}")]
    Pkcs8(String),
    #[error("the key is RSA-{0}, a card key is RSA-2048")]
    Size(usize),
    #[error("key encoding failed: {0}")]
    Encode(String),
}

/// A fresh RSA-2048 private key (e = 65537) as PKCS#8 DER, from the operating system's RNG.
pub fn generate_rsa2048_pkcs8() -> Result<Vec<u8>, KeyError> {
    let key = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, RSA_BITS)
        .map_err(|e| KeyError::Generate(e.to_string()))?;
    let der = key
        .to_pkcs8_der()
        .map_err(|e| KeyError::Encode(e.to_string()))?;
    Ok(der.as_bytes().to_vec())
}

/// The SubjectPublicKeyInfo DER (`rsaEncryption`) of a PKCS#8 RSA private key: what a
/// certificate for the key embeds.
pub fn public_key_der_from_pkcs8(pkcs8: &[u8]) -> Result<Vec<u8>, KeyError> {
    let key = decode_rsa2048(pkcs8)?;
    let der = key
        .to_public_key()
        .to_public_key_der()
        .map_err(|e| KeyError::Encode(e.to_string()))?;
    Ok(der.as_bytes().to_vec())
}

/// Decodes a PKCS#8 RSA private key and checks that it is RSA-2048.
pub(crate) fn decode_rsa2048(pkcs8: &[u8]) -> Result<RsaPrivateKey, KeyError> {
    let key = RsaPrivateKey::from_pkcs8_der(pkcs8).map_err(|e| KeyError::Pkcs8(e.to_string()))?;
    let bits = key.size() * 8;
    if bits != RSA_BITS {
        return Err(KeyError::Size(bits));
    }
    Ok(key)
}

/// The PKCS#1 RSAPublicKey DER of the key: the bytes a certificate's subjectPublicKey BIT
/// STRING holds.
pub(crate) fn rsa_public_key_der(key: &RsaPrivateKey) -> Result<Vec<u8>, KeyError> {
    let der = key
        .to_public_key()
        .to_pkcs1_der()
        .map_err(|e| KeyError::Encode(e.to_string()))?;
    Ok(der.as_bytes().to_vec())
}
