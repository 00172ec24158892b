//! serve_vpcd against a test playing vpcd's side of the socket (what pcscd's vpcd driver does).

use crate::support::{fixture, hex, new_card, ring_verify, sha256, PIN};
use kakunin_card::{serve_vpcd, Card, CardError, Jpki, JpkiError, VirtualCard};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// vpcd's end of the link: frames are a 2-byte big-endian length and a payload.
struct Vpcd {
    stream: TcpStream,
}

impl Vpcd {
    fn send(&mut self, payload: &[u8]) {
        let mut frame = (payload.len() as u16).to_be_bytes().to_vec();
        frame.extend_from_slice(payload);
        self.stream.write_all(&frame).unwrap();
    }

    fn receive(&mut self) -> Vec<u8> {
        let mut len = [0u8; 2];
        self.stream.read_exact(&mut len).unwrap();
        let mut payload = vec![0u8; usize::from(u16::from_be_bytes(len))];
        self.stream.read_exact(&mut payload).unwrap();
        payload
    }

    fn exchange(&mut self, apdu: &[u8]) -> Vec<u8> {
        self.send(apdu);
        self.receive()
    }
}

/// The vpcd link as a reader: lets the JPKI client run over the socket protocol.
impl Card for Vpcd {
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, CardError> {
        Ok(self.exchange(apdu))
    }
}

/// Starts serve_vpcd towards a fresh listener; returns vpcd's side, the stop flag, the server.
fn start(card: VirtualCard) -> (Vpcd, Arc<AtomicBool>, JoinHandle<Result<(), CardError>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let stop = Arc::new(AtomicBool::new(false));
    let server = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || serve_vpcd(card, &addr, &stop))
    };
    let (stream, _) = listener.accept().unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    (Vpcd { stream }, stop, server)
}

#[test]
fn a_session_as_pcscd_drives_it() {
    let t = new_card();
    let (mut vpcd, _stop, server) = start(t.card);
    let cert = &fixture().auth_cert;

    // Power on (no reply), get ATR.
    vpcd.send(&[0x01]);
    assert_eq!(
        vpcd.exchange(&[0x04]),
        hex("3B 88 80 01 00 00 05 E0 B3 81 A1 00 7F")
    );
    vpcd.send(&[0x00]);
    vpcd.send(&[0x01]);
    assert_eq!(vpcd.exchange(&[0x04]), VirtualCard::atr());

    // Raw APDUs: select, certificate header.
    let steps: &[(&str, &str)] = &[
        ("00 A4 04 0C 0A D3 92 F0 00 26 01 00 00 00 01", "90 00"),
        ("00 A4 02 0C 02 00 18", "90 00"),
        ("00 20 00 80", "63 C3"),
        ("00 A4 02 0C 02 00 0A", "90 00"),
    ];
    for (command, response) in steps {
        assert_eq!(vpcd.exchange(&hex(command)), hex(response), "{command}");
    }
    let header = vpcd.exchange(&hex("00 B0 00 00 07"));
    assert_eq!(&header[..7], &cert[..7]);
    assert_eq!(&header[7..], [0x90, 0x00]);

    // The JPKI client over the socket: cert, VERIFY, signature.
    let mut jpki = Jpki::open(&mut vpcd).unwrap();
    assert_eq!(&jpki.read_auth_certificate().unwrap(), cert);
    jpki.verify_auth_pin(PIN).unwrap();
    let signature = jpki.sign_sha256(&sha256(b"over vpcd")).unwrap();
    assert!(ring_verify(b"over vpcd", &signature));

    // pcscd's SCardDisconnect(RESET) sends 02: the VERIFY is gone.
    vpcd.send(&[0x02]);
    let mut jpki = Jpki::open(&mut vpcd).unwrap();
    assert_eq!(
        jpki.sign_sha256(&sha256(b"x")),
        Err(JpkiError::SecurityNotSatisfied)
    );

    // Malformed APDUs get status words, not a dropped link.
    assert_eq!(vpcd.exchange(&[0x00, 0xA4]), hex("67 00"));
    vpcd.send(&[]); // an empty frame is ignored
    vpcd.send(&[0x07]); // so is an unknown control code
    assert_eq!(vpcd.exchange(&[0x04]), VirtualCard::atr());

    // vpcd closes the socket: the server returns Ok.
    drop(vpcd);
    assert_eq!(server.join().unwrap(), Ok(()));
}

#[test]
fn the_stop_flag_ends_an_idle_session() {
    let t = new_card();
    let (mut vpcd, stop, server) = start(t.card);
    assert_eq!(vpcd.exchange(&[0x04]), VirtualCard::atr());
    stop.store(true, Ordering::SeqCst);
    assert_eq!(server.join().unwrap(), Ok(()));
    // The card side hung up.
    let mut byte = [0u8; 1];
    assert_eq!(vpcd.stream.read(&mut byte).unwrap(), 0);
}

#[test]
fn connecting_is_retried_while_pcscd_starts() {
    let t = new_card();
    // Find a free port, then start listening on it only after the card started connecting.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let stop = Arc::new(AtomicBool::new(false));
    let server = {
        let (stop, addr) = (Arc::clone(&stop), addr.clone());
        std::thread::spawn(move || serve_vpcd(t.card, &addr, &stop))
    };
    std::thread::sleep(Duration::from_millis(400));
    let listener = TcpListener::bind(&addr).unwrap();
    let (stream, _) = listener.accept().unwrap();
    let mut vpcd = Vpcd { stream };
    assert_eq!(vpcd.exchange(&[0x04]), VirtualCard::atr());
    drop(vpcd);
    assert_eq!(server.join().unwrap(), Ok(()));
}

#[test]
fn a_frame_cut_short_is_a_protocol_error() {
    let t = new_card();
    let (mut vpcd, _stop, server) = start(t.card);
    vpcd.stream.write_all(&[0x00, 0x05, 0x00, 0xA4]).unwrap();
    drop(vpcd);
    assert!(matches!(
        server.join().unwrap(),
        Err(CardError::Protocol(_))
    ));
}

#[test]
fn a_bad_address_is_reported() {
    let t = new_card();
    let err = serve_vpcd(t.card, "not an address", &AtomicBool::new(false)).unwrap_err();
    assert!(matches!(err, CardError::Transport(_)), "{err:?}");
}
