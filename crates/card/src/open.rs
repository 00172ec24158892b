//! Opening a card from a one-line specification (a CLI flag or a config value).

use crate::transport::{Card, CardError};
use crate::virtual_card::VirtualCard;
use std::path::Path;

/// Opens the card named by `spec`:
///
/// - `virtual:FILE` — the [`VirtualCard`] in that card file;
/// - `pcsc` — the first PC/SC reader with a card in it;
/// - `pcsc:READER NAME` — the card in that reader.
///
/// Without the cargo feature `pcsc`, the PC/SC forms answer [`CardError::Unsupported`].
pub fn open_card(spec: &str) -> Result<Box<dyn Card>, CardError> {
    if let Some(file) = spec.strip_prefix("virtual:") {
        if file.is_empty() {
            return Err(CardError::InvalidSpec(spec.to_owned()));
        }
        let card = VirtualCard::open(Path::new(file))
            .map_err(|e| CardError::VirtualCard(e.to_string()))?;
        return Ok(Box::new(card));
    }
    let reader = match spec.strip_prefix("pcsc") {
        Some("") => None,
        Some(rest) => match rest.strip_prefix(':') {
            Some(name) if !name.is_empty() => Some(name),
            _ => return Err(CardError::InvalidSpec(spec.to_owned())),
        },
        None => return Err(CardError::InvalidSpec(spec.to_owned())),
    };
    open_pcsc(reader)
}

#[cfg(feature = "pcsc")]
fn open_pcsc(reader: Option<&str>) -> Result<Box<dyn Card>, CardError> {
    Ok(Box::new(crate::pcsc::PcscCard::connect(reader)?))
}

#[cfg(not(feature = "pcsc"))]
fn open_pcsc(_reader: Option<&str>) -> Result<Box<dyn Card>, CardError> {
    Err(CardError::Unsupported(
        "built without PC/SC support; rebuild with --features pcsc".to_owned(),
    ))
}
