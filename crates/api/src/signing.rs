//! The exact bytes a card or a terminal signs in a card check. Both sides build them here, so
//! they cannot drift. Each message starts with its own label, so a signature made for one purpose
//! is useless for another.

/// What the card signs (its user-auth key, after the PIN): the label and the nonce. The card is
/// given the SHA-256 DigestInfo of these bytes.
pub fn card_challenge(nonce: &str) -> Vec<u8> {
    let mut m = b"kakunin/card-check/v1\n".to_vec();
    m.extend_from_slice(nonce.as_bytes());
    m
}

/// What a terminal signs with its device key when the person was verified on the terminal
/// (`face` or `visual`): the label, the method, the nonce and the SHA-256 of the card's
/// certificate (hex).
pub fn attestation_message(method: &str, nonce: &str, certificate_sha256_hex: &str) -> Vec<u8> {
    format!("kakunin/terminal-attestation/v1\n{method}\n{nonce}\n{certificate_sha256_hex}")
        .into_bytes()
}

/// What the card signs to log into the patient portal (its user-auth key, after the PIN): a
/// label of its own, so a login proof is no card check and a card check no login.
pub fn portal_challenge(nonce: &str) -> Vec<u8> {
    let mut m = b"kakunin/portal-login/v1\n".to_vec();
    m.extend_from_slice(nonce.as_bytes());
    m
}

/// The challenge of a card visit made while the central could not be reached: the card signs
/// `card_challenge(offline_nonce(..))` at the visit, and the central accepts it once, within 7
/// days, to check the visit afterwards. `visited_at` is `yyyyMMddHHmmss` (JST); `visit_id` is
/// the terminal's random id of the visit.
pub fn offline_nonce(institution_code: &str, visited_at: &str, visit_id: &str) -> String {
    format!("offline:{institution_code}:{visited_at}:{visit_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_labelled_and_distinct() {
        let a = card_challenge("n");
        let b = attestation_message("face", "n", "00");
        assert!(a.starts_with(b"kakunin/card-check/v1\n"));
        assert!(b.starts_with(b"kakunin/terminal-attestation/v1\n"));
        assert_ne!(
            attestation_message("face", "n", "00"),
            attestation_message("visual", "n", "00")
        );
    }
}
