//! A throwaway pcscd with vsmartcard's vpcd reader driver, for tests that present a virtual card
//! through the real PC/SC stack.
//!
//! pcscd runs in the foreground with a project-local reader.conf (never /etc), on a free port
//! pair (vpcd listens on `port` for slot 0 and `port + 1` for slot 1), and is stopped by pid.
//! Only one pcscd can run on a machine (its socket is /run/pcscd/pcscd.comm), so [`Pcscd::start`]
//! waits for another one to go away and never stops a pcscd it did not start.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const VPCD_DRIVER: &str = "/usr/lib/pcsc/drivers/serial/libifdvpcd.so";
pub const PCSCD_SOCKET: &str = "/run/pcscd/pcscd.comm";
const FRIENDLY_NAME: &str = "Kakunin Test PCD";

/// Our pcscd; stopped by pid (SIGTERM, so it removes its socket) when dropped.
pub struct Pcscd {
    child: Child,
    conf: tempfile::TempDir,
    /// vpcd's port for slot 0: a virtual card connects to `127.0.0.1:port`.
    pub port: u16,
    /// The PC/SC name of slot 0's reader.
    pub reader: String,
}

impl std::fmt::Debug for Pcscd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pcscd").field("port", &self.port).finish()
    }
}

fn find_pcscd() -> Option<String> {
    ["/usr/sbin/pcscd", "/usr/local/sbin/pcscd", "/sbin/pcscd"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .map(str::to_owned)
}

/// A port whose neighbour is free too.
fn free_port_pair() -> u16 {
    loop {
        let first = TcpListener::bind("0.0.0.0:0").expect("bind");
        let port = first.local_addr().expect("addr").port();
        if port < u16::MAX && TcpListener::bind(("0.0.0.0", port + 1)).is_ok() {
            return port;
        }
    }
}

/// Polls `condition` up to `patience`.
pub fn wait_for(patience: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + patience;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

impl Pcscd {
    /// Starts pcscd with a vpcd reader, or returns `None` after [`crate::external_missing`]
    /// (which fails instead under `KAKUNIN_REQUIRE_EXTERNAL=1`) when pcscd, the vpcd driver or
    /// pcsc-tools are not installed. Ready when `pcsc_scan -r` lists the reader.
    pub fn start() -> Option<Self> {
        let Some(pcscd) = find_pcscd() else {
            crate::external_missing("pcscd (apt-get install pcscd)");
            return None;
        };
        if !Path::new(VPCD_DRIVER).exists() {
            crate::external_missing("the vpcd reader driver (apt-get install vsmartcard-vpcd)");
            return None;
        }
        if Command::new("pcsc_scan").arg("-h").output().is_err() {
            crate::external_missing("pcsc_scan (apt-get install pcsc-tools)");
            return None;
        }
        if !wait_for(Duration::from_secs(90), || {
            !Path::new(PCSCD_SOCKET).exists()
        }) {
            panic!("another pcscd kept {PCSCD_SOCKET} for 90 s");
        }
        let conf = tempfile::tempdir().expect("tempdir");
        let port = free_port_pair();
        std::fs::write(
            conf.path().join("vpcd"),
            format!(
                "FRIENDLYNAME \"{FRIENDLY_NAME}\"\nDEVICENAME /dev/null:{port}\nLIBPATH {VPCD_DRIVER}\nCHANNELID {port}\n"
            ),
        )
        .expect("write reader.conf");
        let log = std::fs::File::create(conf.path().join("pcscd.log")).expect("log");
        let child = Command::new(&pcscd)
            .arg("-f")
            .arg("-c")
            .arg(conf.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start pcscd");
        let me = Self {
            child,
            conf,
            port,
            reader: format!("{FRIENDLY_NAME} 00 00"),
        };
        let ready = wait_for(Duration::from_secs(20), || {
            Command::new("pcsc_scan").arg("-r").output().is_ok_and(|o| {
                o.status.success() && String::from_utf8_lossy(&o.stdout).contains(&me.reader)
            })
        });
        assert!(
            ready,
            "pcscd never listed {:?}; its log:\n{}",
            me.reader,
            me.log()
        );
        Some(me)
    }

    /// pcscd's output so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.conf.path().join("pcscd.log")).unwrap_or_default()
    }
}

impl Drop for Pcscd {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        if !wait_for(Duration::from_secs(5), || {
            matches!(self.child.try_wait(), Ok(Some(_)))
        }) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
