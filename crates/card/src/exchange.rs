//! One command to the card and its answer, the way every application client sends it.

use crate::apdu::{Command, Response};
use crate::transport::{Card, CardError};

/// Why an exchange produced no response.
#[derive(Debug)]
pub(crate) enum ExchangeError {
    Card(CardError),
    /// The command has no short encoding, or the card kept answering `61 xx`.
    Malformed(String),
}

/// Sends `command`, following the `61 xx` (GET RESPONSE) and `6C xx` (wrong Le, resend) answers
/// that T=0 readers may surface.
pub(crate) fn exchange(card: &mut dyn Card, command: &Command) -> Result<Response, ExchangeError> {
    let mut response = transmit(card, command)?;
    if response.sw1() == 0x6C && command.le.is_some() {
        let mut again = command.clone();
        again.le = Some(le_from_sw2(response.sw2()));
        response = transmit(card, &again)?;
    }
    let mut data = std::mem::take(&mut response.data);
    // Bounded: a card cannot keep the client here for ever.
    for _ in 0..64 {
        if response.sw1() != 0x61 {
            break;
        }
        let get_response = Command::case2(0x00, 0xC0, 0x00, 0x00, le_from_sw2(response.sw2()));
        response = transmit(card, &get_response)?;
        data.append(&mut response.data);
    }
    if response.sw1() == 0x61 {
        return Err(ExchangeError::Malformed(
            "endless GET RESPONSE chain".to_owned(),
        ));
    }
    Ok(Response::new(data, response.sw))
}

fn transmit(card: &mut dyn Card, command: &Command) -> Result<Response, ExchangeError> {
    let bytes = command
        .encode()
        .map_err(|e| ExchangeError::Malformed(e.to_string()))?;
    let raw = card.transmit(&bytes).map_err(ExchangeError::Card)?;
    Response::parse(&raw).map_err(|_| {
        ExchangeError::Card(CardError::Protocol(format!(
            "R-APDU of {} bytes has no status word",
            raw.len()
        )))
    })
}

fn le_from_sw2(sw2: u8) -> u16 {
    if sw2 == 0 {
        256
    } else {
        u16::from(sw2)
    }
}
