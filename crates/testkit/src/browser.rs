//! Headless Chromium for page tests: Debian's `chromium` driven through `chromedriver`
//! (package `chromium-driver`) with a minimal W3C WebDriver client over plain HTTP. Nothing is
//! downloaded. chromedriver is started on a free loopback port and stopped by pid.

use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CHROMIUM: [&str; 2] = ["/usr/bin/chromium", "/usr/bin/chromium-browser"];
const DRIVER: [&str; 2] = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"];

fn first_existing(paths: &[&str]) -> Option<PathBuf> {
    paths.iter().map(PathBuf::from).find(|p| p.exists())
}

/// A headless browser session.
pub struct Browser {
    driver: Child,
    port: u16,
    session: String,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session (1024×768); `None` after a visible
    /// skip message (a failure under `KAKUNIN_REQUIRE_EXTERNAL=1`) when they are not installed.
    pub fn start() -> Option<Self> {
        Self::start_with(&[])
    }

    /// [`Browser::start`] with more Chromium switches, e.g.
    /// `--ignore-certificate-errors-spki-list=…` to trust one test server's key.
    pub fn start_with(extra_args: &[String]) -> Option<Self> {
        let Some(chromium) = first_existing(&CHROMIUM) else {
            crate::external_missing("Chromium (Debian package `chromium`)");
            return None;
        };
        let Some(driver) = first_existing(&DRIVER) else {
            crate::external_missing("chromedriver (Debian package `chromium-driver`)");
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let mut b = Self {
            driver: child,
            port,
            session: String::new(),
        };
        let until = Instant::now() + Duration::from_secs(20);
        while b.request("GET", "/status", None).is_err() {
            assert!(Instant::now() < until, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let mut args: Vec<String> = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--window-size=1024,768",
            "--lang=ja",
        ]
        .map(String::from)
        .to_vec();
        args.extend_from_slice(extra_args);
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium.display().to_string(),
                "args": args
            }
        }}});
        let v = b
            .request("POST", "/session", Some(caps))
            .expect("new session");
        b.session = v["sessionId"].as_str().expect("session id").to_string();
        Some(b)
    }

    /// One WebDriver call; the `value` of the answer, or its error message.
    fn request(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(Duration::from_secs(60))).ok();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .map_err(|e| e.to_string())?;
        // chromedriver may keep the connection open: read the head, then Content-Length bytes
        // (or chunks up to the last one).
        let mut raw = Vec::new();
        let mut buf = [0u8; 8192];
        let (head, payload) = loop {
            let n = s.read(&mut buf).map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("connection closed".into());
            }
            raw.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&raw).into_owned();
            let Some((head, body)) = text.split_once("\r\n\r\n") else {
                continue;
            };
            let lower = head.to_ascii_lowercase();
            let length = lower.lines().find_map(|l| {
                l.strip_prefix("content-length:")
                    .and_then(|v| v.trim().parse::<usize>().ok())
            });
            let complete = match length {
                Some(len) => body.len() >= len,
                None if lower.contains("transfer-encoding: chunked") => body.ends_with("0\r\n\r\n"),
                None => false,
            };
            if complete {
                let body = if length.is_none() {
                    dechunk(body)
                } else {
                    body.to_string()
                };
                break (head.to_string(), body);
            }
        };
        let v: Value = serde_json::from_str(&payload).map_err(|e| format!("{e}: {payload}"))?;
        let value = v["value"].clone();
        if head.starts_with("HTTP/1.1 2") {
            Ok(value)
        } else {
            Err(value["message"].as_str().unwrap_or(&payload).to_string())
        }
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let path = format!("/session/{}{path}", self.session);
        self.request(method, &path, body)
            .unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"))
    }

    pub fn goto(&self, url: &str) {
        self.call("POST", "/url", Some(json!({ "url": url })));
    }

    /// The first element matching a CSS selector, if any.
    pub fn find(&self, css: &str) -> Option<String> {
        let path = format!("/session/{}/element", self.session);
        let v = self
            .request(
                "POST",
                &path,
                Some(json!({"using": "css selector", "value": css})),
            )
            .ok()?;
        v.as_object()?.values().next()?.as_str().map(str::to_string)
    }

    /// Waits (at most `secs`) for an element matching `css`.
    pub fn wait_for(&self, css: &str, secs: u64) -> String {
        let until = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(e) = self.find(css) {
                return e;
            }
            assert!(
                Instant::now() < until,
                "no {css} after {secs} s; the page shows: {}",
                self.text("body")
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Whether `css` matches within `secs` (for optional screens).
    pub fn appears(&self, css: &str, secs: u64) -> bool {
        let until = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < until {
            if self.find(css).is_some() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    /// Clicks the (first) element matching `css`, waiting for it.
    pub fn click(&self, css: &str) {
        let e = self.wait_for(css, 10);
        self.call("POST", &format!("/element/{e}/click"), Some(json!({})));
    }

    /// Types `text` into the (first) element matching `css`, as keystrokes (`\n` is Enter).
    pub fn type_text(&self, css: &str, text: &str) {
        let e = self.wait_for(css, 10);
        self.call(
            "POST",
            &format!("/element/{e}/value"),
            Some(json!({ "text": text })),
        );
    }

    /// Empties the (first) text field matching `css`.
    pub fn clear(&self, css: &str) {
        let e = self.wait_for(css, 10);
        self.call("POST", &format!("/element/{e}/clear"), Some(json!({})));
    }

    /// The visible text of the first element matching `css` ("" when none).
    pub fn text(&self, css: &str) -> String {
        match self.find(css) {
            Some(e) => self
                .call("GET", &format!("/element/{e}/text"), None)
                .as_str()
                .unwrap_or_default()
                .to_string(),
            None => String::new(),
        }
    }

    /// Runs `script` (a function body; `arguments` holds `args`) in the page.
    pub fn execute(&self, script: &str, args: Value) -> Value {
        self.call(
            "POST",
            "/execute/sync",
            Some(json!({ "script": script, "args": args })),
        )
    }

    /// Resizes the window (e.g. to a phone's width).
    pub fn set_window_size(&self, width: u32, height: u32) {
        self.call(
            "POST",
            "/window/rect",
            Some(json!({ "width": width, "height": height })),
        );
    }

    /// Deletes every cookie of the current page's site (a session that ended).
    pub fn delete_cookies(&self) {
        self.call("DELETE", "/cookie", None);
    }

    /// Saves a PNG of the viewport.
    pub fn screenshot(&self, path: &Path) {
        use base64::Engine;
        let v = self.call("GET", "/screenshot", None);
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap_or_default())
            .expect("a base64 PNG");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).ok();
        }
        std::fs::write(path, png).expect("write screenshot");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self.request("DELETE", &format!("/session/{}", self.session), None);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn dechunk(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || tail.len() < n {
            break;
        }
        out.push_str(&tail[..n]);
        rest = tail[n..].trim_start_matches("\r\n");
    }
    out
}
