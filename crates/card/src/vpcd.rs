//! Presents a [`VirtualCard`] to pcscd through the vsmartcard `vpcd` reader driver, so that any
//! PC/SC application (including `PcscCard`) sees it as a card in the reader "Virtual PCD 00 00".
//!
//! The card is a TCP *client* (vpcd's default mode: pcscd listens on port 35963, the card
//! connects). Every message, both ways, is a 2-byte big-endian length and a payload. From vpcd,
//! 1-byte payloads are control: `00` power off, `01` power on, `02` reset (no reply), `04` get ATR
//! (reply: the ATR). Longer payloads are C-APDUs; the reply is the R-APDU.

use crate::transport::CardError;
use crate::virtual_card::VirtualCard;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Where vpcd listens by default (slot 0, "Virtual PCD 00 00").
pub const VPCD_DEFAULT_ADDR: &str = "127.0.0.1:35963";

/// How long [`serve_vpcd`] keeps trying to connect while pcscd is starting.
pub const VPCD_CONNECT_PATIENCE: Duration = Duration::from_secs(10);

const CTRL_POWER_OFF: u8 = 0x00;
const CTRL_POWER_ON: u8 = 0x01;
const CTRL_RESET: u8 = 0x02;
const CTRL_GET_ATR: u8 = 0x04;

/// How often a blocked read looks at the stop flag.
const POLL: Duration = Duration::from_millis(100);

/// Connects to vpcd at `addr` (e.g. [`VPCD_DEFAULT_ADDR`]) and serves `card` until vpcd closes
/// the connection (`Ok`), `stop` becomes true (`Ok`), or the link fails (`Err`).
///
/// Connecting is retried for [`VPCD_CONNECT_PATIENCE`] while pcscd is starting. Power off and
/// reset reset the card (its PIN-verified state is gone), as on a real reader.
pub fn serve_vpcd(card: VirtualCard, addr: &str, stop: &AtomicBool) -> Result<(), CardError> {
    let Some(mut stream) = connect(addr, stop)? else {
        return Ok(());
    };
    let transport = |e: io::Error| CardError::Transport(format!("vpcd link: {e}"));
    stream.set_nodelay(true).map_err(transport)?;
    stream.set_read_timeout(Some(POLL)).map_err(transport)?;
    let mut card = card;
    loop {
        let payload = match read_frame(&mut stream, stop) {
            Ok(Some(payload)) => payload,
            Ok(None) => return Ok(()),
            Err(e) if peer_gone(&e) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                return Err(CardError::Protocol(format!("vpcd: {e}")))
            }
            Err(e) => return Err(transport(e)),
        };
        let reply = match payload.as_slice() {
            [] | [CTRL_POWER_ON] => None,
            [CTRL_POWER_OFF] | [CTRL_RESET] => {
                card.reset();
                None
            }
            [CTRL_GET_ATR] => Some(VirtualCard::atr().to_vec()),
            [_] => None, // a control code this card does not know: no reply expected
            apdu => Some(card.process(apdu)),
        };
        if let Some(reply) = reply {
            match write_frame(&mut stream, &reply) {
                Ok(()) => {}
                Err(e) if peer_gone(&e) => return Ok(()),
                Err(e) => return Err(transport(e)),
            }
        }
    }
}

/// `Ok(None)` when stopped before a connection was made.
fn connect(addr: &str, stop: &AtomicBool) -> Result<Option<TcpStream>, CardError> {
    let addrs: Vec<SocketAddr> = addr
        .to_socket_addrs()
        .map_err(|e| CardError::Transport(format!("vpcd address {addr:?}: {e}")))?
        .collect();
    let deadline = Instant::now() + VPCD_CONNECT_PATIENCE;
    let mut last_error = None;
    loop {
        for a in &addrs {
            if stop.load(Ordering::SeqCst) {
                return Ok(None);
            }
            match TcpStream::connect_timeout(a, Duration::from_secs(1)) {
                Ok(stream) => return Ok(Some(stream)),
                Err(e) => last_error = Some(e),
            }
        }
        if Instant::now() >= deadline {
            let why = last_error.map_or_else(|| "no address".to_owned(), |e| e.to_string());
            return Err(CardError::Transport(format!(
                "could not connect to vpcd at {addr} (is pcscd running with the vpcd driver?): {why}"
            )));
        }
        std::thread::sleep(POLL);
    }
}

/// One length-prefixed frame; `Ok(None)` when the peer closed between frames or `stop` is set.
fn read_frame(stream: &mut TcpStream, stop: &AtomicBool) -> io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 2];
    if !read_full(stream, &mut len, stop, true)? {
        return Ok(None);
    }
    let mut payload = vec![0u8; usize::from(u16::from_be_bytes(len))];
    if !read_full(stream, &mut payload, stop, false)? {
        return Ok(None);
    }
    Ok(Some(payload))
}

/// Fills `buf`, riding out read timeouts. `Ok(false)` when stopped, or on a clean end of stream
/// before the first byte when `eof_ok`.
fn read_full(
    stream: &mut TcpStream,
    buf: &mut [u8],
    stop: &AtomicBool,
    eof_ok: bool,
) -> io::Result<bool> {
    let mut filled = 0;
    while filled < buf.len() {
        if stop.load(Ordering::SeqCst) {
            return Ok(false);
        }
        match stream.read(&mut buf[filled..]) {
            Ok(0) if filled == 0 && eof_ok => return Ok(false),
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "connection closed inside a frame",
                ))
            }
            Ok(n) => filled += n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

fn write_frame(stream: &mut TcpStream, payload: &[u8]) -> io::Result<()> {
    let len = u16::try_from(payload.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame too long"))?;
    let mut frame = Vec::with_capacity(2 + payload.len());
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(payload);
    stream.write_all(&frame)?;
    stream.flush()
}

fn peer_gone(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
    )
}
