//! Running `kakunin` processes from tests: a child that is killed when dropped, a free
//! loopback port, the line a process prints when it is ready, and a minimal HTTP/1.1 JSON
//! exchange with a page served on loopback.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A child process killed (SIGKILL) and reaped when dropped.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A free loopback port (bound and released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind a loopback port")
        .local_addr()
        .expect("a bound address")
        .port()
}

/// Spawns `command` with its stdout piped and returns it with the first line containing
/// `marker`; the rest of stdout is drained so the child never blocks on a full pipe.
pub fn start(mut command: Command, marker: &str) -> (Proc, String) {
    let mut child = command
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the process");
    let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
    let found = loop {
        match lines.next() {
            Some(Ok(line)) if line.contains(marker) => break line,
            Some(Ok(_)) => continue,
            _ => panic!("{command:?} ended before printing {marker:?}"),
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (Proc(child), found)
}

/// A minimal HTTP/1.1 exchange with a loopback page (`http://host:port`): the status and the
/// JSON body (`null` when the body is not JSON).
pub fn http_json(
    base: &str,
    method: &str,
    path: &str,
    body: Option<&serde_json::Value>,
) -> (u16, serde_json::Value) {
    let addr = base.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("a read timeout");
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("send the request");
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("read the answer");
    let status = raw[9..12].parse().expect("a status code");
    let payload = raw.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (
        status,
        serde_json::from_str(payload).unwrap_or(serde_json::Value::Null),
    )
}
