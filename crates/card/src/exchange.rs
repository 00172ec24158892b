//! One command to the card and its answer, the way every application client sends it.

use crate::apdu::{Command, Response, SW_OK, SW_WRONG_OFFSET};
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

/// How an application client (the JPKI AP's, the 券面AP's) reports what the commands every
/// client sends can go wrong with.
pub(crate) trait ApplicationError: Sized {
    /// The exchange produced no response.
    fn exchange(e: ExchangeError) -> Self;
    /// A status word the command does not expect.
    fn status(sw: u16) -> Self;
    /// The card's answer makes no sense.
    fn malformed(reason: String) -> Self;
}

/// One command, its failure in the client's terms.
pub(crate) fn send<E: ApplicationError>(
    card: &mut dyn Card,
    command: &Command,
) -> Result<Response, E> {
    exchange(card, command).map_err(E::exchange)
}

/// SELECT EF `00 A4 02 0C 02 <FID>` in the selected application.
pub(crate) fn select_ef<E: ApplicationError>(card: &mut dyn Card, fid: [u8; 2]) -> Result<(), E> {
    let response = send::<E>(card, &Command::case3(0x00, 0xA4, 0x02, 0x0C, &fid))?;
    match response.sw {
        SW_OK => Ok(()),
        sw => Err(E::status(sw)),
    }
}

/// READ BINARY `00 B0 <offset> <le>` on the selected EF; `short_file` says what an offset past
/// the end (`6B 00`) means for the file being read.
pub(crate) fn read_binary<E: ApplicationError>(
    card: &mut dyn Card,
    offset: u16,
    le: u16,
    short_file: &str,
) -> Result<Vec<u8>, E> {
    if offset > 0x7FFF {
        return Err(E::malformed(format!(
            "offset {offset} beyond READ BINARY's 15-bit range"
        )));
    }
    let [p1, p2] = offset.to_be_bytes();
    let response = send::<E>(card, &Command::case2(0x00, 0xB0, p1, p2, le))?;
    match response.sw {
        // 62 82: end of file reached before Le bytes; the data is still good.
        SW_OK | 0x6282 => Ok(response.data),
        SW_WRONG_OFFSET => Err(E::malformed(short_file.to_owned())),
        sw => Err(E::status(sw)),
    }
}
