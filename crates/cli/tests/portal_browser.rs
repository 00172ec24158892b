//! The patient portal in headless Chromium, as a patient uses it: `kakunin demo` (its central,
//! clinic terminal and local card helper), a number check and a kiosk visit with consents at
//! the demo clinic, then the portal: log in with a demo card through the card helper (a wrong
//! PIN first, which says the tries left), the qualifications, the access log with the clinic's
//! check and visit, blocking the clinic from its log row, the clinic's next drug-information
//! view refused and that refusal in the log (ブロック), the person's own records, a consent
//! withdrawn, the opt-out switch, and a session that ended going back to the login screen.
//! Screenshots are saved as `target/kiosk-screens/portal-*.png`.

use base64::Engine;
use kakunin_testkit::browser::Browser;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_kakunin");
/// The card the portal logs in with (the demo's first card holder, with medical history).
const CARD: &str = "000001.vcard";

struct Demo(Child);
impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The URLs the demo prints.
struct Urls {
    terminal: String,
    portal: String,
}

/// Starts the demo (every listener on a free port) and reads its URLs.
fn demo(data: &Path) -> (Demo, Urls) {
    let mut child = Command::new(BIN)
        .args([
            "demo",
            "--data",
            data.to_str().unwrap(),
            "--people",
            "600",
            "--medical",
            "50",
            "--listen",
            "127.0.0.1:0",
            "--terminal-listen",
            "127.0.0.1:0",
            "--card-helper-listen",
            "127.0.0.1:0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the demo");
    let out = child.stdout.take().unwrap();
    let (mut terminal, mut portal) = (None, None);
    for line in BufReader::new(out).lines() {
        let line = line.unwrap();
        if let (Some(i), true) = (line.find("http://"), line.contains("/kiosk")) {
            let url = &line[i..];
            terminal = Some(url[..url.find("/kiosk").unwrap()].to_string());
        }
        if let (Some(i), true) = (line.find("https://"), line.trim_end().ends_with("/portal")) {
            portal = Some(line[i..].trim_end().to_string());
        }
        if line.contains("止めるには") {
            break;
        }
    }
    (
        Demo(child),
        Urls {
            terminal: terminal.expect("the demo printed the kiosk URL"),
            portal: portal.expect("the demo printed the portal URL"),
        },
    )
}

/// The Chromium switch that trusts the demo central's own key (its certificate is issued by
/// the demo's CA, which the browser does not know): base64 SHA-256 of its SubjectPublicKeyInfo.
fn trust_demo_server(data: &Path) -> String {
    let pem = std::fs::read(data.join("server.pem")).unwrap();
    let cert = x509_parser::pem::Pem::iter_from_buffer(&pem)
        .filter_map(Result::ok)
        .find(|p| p.label == "CERTIFICATE")
        .expect("server.pem holds the server certificate");
    let cert = cert.parse_x509().unwrap();
    let spki = Sha256::digest(cert.public_key().raw);
    format!(
        "--ignore-certificate-errors-spki-list={}",
        base64::engine::general_purpose::STANDARD.encode(spki)
    )
}

fn shots() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/kiosk-screens")
}

fn shot(b: &Browser, name: &str) {
    b.screenshot(&shots().join(format!("portal-{name}.png")));
}

/// `fetch` from the current page: `[status, json]`.
fn fetch(b: &Browser, method: &str, path: &str, body: Option<Value>) -> (u64, Value) {
    let v = b.execute(
        "const [method, path, body] = arguments;
         const init = {method, headers: {'content-type': 'application/json'}};
         if (body !== null) init.body = JSON.stringify(body);
         return fetch(path, init).then(async r => [r.status, await r.json().catch(() => null)]);",
        json!([method, path, body]),
    );
    (v[0].as_u64().unwrap(), v[1].clone())
}

fn visible(b: &Browser, id: &str) -> bool {
    b.execute(
        "const e = document.getElementById(arguments[0]); return !!e && !e.closest('[hidden]');",
        json!([id]),
    ) == json!(true)
}

fn wait_visible(b: &Browser, id: &str, secs: u64) {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while !visible(b, id) {
        assert!(
            std::time::Instant::now() < until,
            "#{id} not shown after {secs} s; the page shows: {}",
            b.text("body")
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Waits until the text of `css` contains `needle`; returns the text.
fn wait_text(b: &Browser, css: &str, needle: &str, secs: u64) -> String {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        let text = b.text(css);
        if text.contains(needle) {
            return text;
        }
        assert!(
            std::time::Instant::now() < until,
            "{css} does not say {needle:?} after {secs} s: {text:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

fn bare(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

/// A kiosk visit with the PIN, consenting to everything asked, then the card taken off.
fn kiosk_visit(b: &Browser, terminal: &str, card: &str) {
    b.goto(&format!("{terminal}/kiosk"));
    b.wait_for("[data-screen=\"waiting_for_card\"]", 15);
    fetch(
        b,
        "POST",
        "/console/cards/insert",
        Some(json!({ "card": card })),
    );
    b.click("[data-action=\"choose-pin\"]");
    b.wait_for("[data-screen=\"pin\"]", 15);
    for d in "1234".chars() {
        b.click(&format!("[data-action=\"digit-{d}\"]"));
    }
    b.wait_for("[data-screen=\"consent_medical\"]", 15);
    b.click("[data-action=\"yes\"]");
    let next = b.wait_for(
        "[data-screen=\"consent_checkups\"], [data-screen=\"done\"]",
        15,
    );
    if b.find("[data-screen=\"consent_checkups\"]") == Some(next) {
        b.click("[data-action=\"yes\"]");
        b.wait_for("[data-screen=\"done\"]", 15);
    }
    fetch(b, "POST", "/console/cards/remove", None);
    b.wait_for("[data-screen=\"waiting_for_card\"]", 15);
}

/// Logs in on the portal's login screen with the demo card.
fn log_in(b: &Browser, pin: &str) {
    b.execute(
        "document.getElementById('card').value = arguments[0];",
        json!([CARD]),
    );
    b.clear("#pin");
    b.type_text("#pin", pin);
    b.click("#login-submit");
}

#[test]
fn the_portal_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let (_demo, urls) = demo(&data);
    let Some(b) = Browser::start_with(&[trust_demo_server(&data)]) else {
        return;
    };
    let holder: Value =
        serde_json::from_slice(&std::fs::read(data.join("demo-card-holder.json")).unwrap())
            .unwrap();
    let mut numbers = json!({
        "insurer_number": holder["insurer_number"],
        "number": holder["number"],
        "birthdate": holder["birthdate"],
    });
    for k in ["symbol", "branch"] {
        if holder[k].is_string() {
            numbers[k] = holder[k].clone();
        }
    }

    // At the demo clinic: a kiosk visit with consents, then a number check at reception.
    kiosk_visit(&b, &urls.terminal, CARD);
    b.goto(&format!("{}/console", urls.terminal));
    let (status, answer) = fetch(&b, "POST", "/console/check", Some(numbers.clone()));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["answer"]["validity"], "1", "{answer}");

    // The portal's login: the card helper lists the demo cards.
    b.goto(&urls.portal);
    wait_visible(&b, "login", 15);
    wait_visible(&b, "card-field", 15);
    assert!(!visible(&b, "helper-missing"), "the demo's helper runs");
    let cards = b.execute(
        "return [...document.querySelectorAll('#card option')].map(o => o.value)",
        json!([]),
    );
    assert!(cards.as_array().unwrap().contains(&json!(CARD)), "{cards}");
    shot(&b, "01-login");

    // A wrong PIN: the tries left are said; nothing is logged in.
    log_in(&b, "9999");
    let message = wait_text(&b, "#login-error", "あと", 20);
    assert!(message.contains("暗証番号が違います"), "{message}");
    assert!(message.contains("あと2回"), "{message}");
    assert_eq!(
        b.execute("return document.getElementById('pin').value", json!([])),
        "",
        "the PIN field is cleared"
    );
    shot(&b, "02-pin-wrong");

    log_in(&b, "1234");
    wait_visible(&b, "app", 20);
    b.wait_for("#qualifications .p-qual", 15);
    let quals = b.text("#qualifications");
    let name = holder["name"].as_str().unwrap();
    assert!(bare(&quals).contains(&bare(name)), "{quals}");
    assert!(quals.contains("有効"), "{quals}");
    assert!(b.find("#notice-link[href=\"/portal/notice\"]").is_some());
    shot(&b, "03-qualifications");

    // Nothing personal in the URL or in browser storage.
    let where_ = b.execute(
        "return [location.href, localStorage.length, sessionStorage.length, document.cookie]",
        json!([]),
    );
    assert_eq!(where_[0], urls.portal.as_str(), "{where_}");
    assert_eq!((where_[1].as_u64(), where_[2].as_u64()), (Some(0), Some(0)));
    assert_eq!(where_[3], "", "the session cookie is HttpOnly");

    // The access log: the clinic's check and the kiosk visit, newest first.
    b.click("#tab-access");
    b.wait_for("#access-rows tr[data-access-id]", 15);
    let clinic = b.execute(
        "return document.querySelector('#access-rows tr[data-access-id]').dataset.institution",
        json!([]),
    );
    let clinic = clinic.as_str().unwrap().to_string();
    let first = b.text("#access-rows tr[data-access-id]:first-child");
    assert!(first.contains("かくにん内科クリニック"), "{first}");
    assert!(first.contains("資格確認（保険証情報）"), "{first}");
    let log = b.text("#access-rows");
    for expected in [
        "資格確認（マイナンバーカード）",
        "閲覧同意の登録",
        "マイナンバーカード",
        "保険証等の番号",
    ] {
        assert!(log.contains(expected), "{expected}: {log}");
    }
    assert!(
        b.text("#panel-access").contains("拒否されたものも含め"),
        "the page says every access is listed"
    );
    shot(&b, "04-access-log");
    // Filters: refusals only (none yet), then one kind.
    b.click("#filter-refused");
    wait_text(&b, "#access-rows", "条件に合う記録はありません", 5);
    b.click("#filter-refused");
    b.execute(
        "const s = document.getElementById('filter-kind'); s.value = 'consent_registration'; s.dispatchEvent(new Event('change'));",
        json!([]),
    );
    let shown = b.execute(
        "return [...document.querySelectorAll('#access-rows tr[data-access-id]')].map(r => r.innerText)",
        json!([]),
    );
    let shown = shown.as_array().unwrap();
    assert!(!shown.is_empty());
    assert!(shown
        .iter()
        .all(|r| r.as_str().unwrap().contains("閲覧同意の登録")));
    b.execute(
        "const s = document.getElementById('filter-kind'); s.value = ''; s.dispatchEvent(new Event('change'));",
        json!([]),
    );

    // Block the clinic from its row.
    b.click(&format!(
        "#access-rows tr[data-institution=\"{clinic}\"] button[data-action=\"block\"]"
    ));
    b.wait_for("#confirm[open]", 5);
    let ask = b.text("#confirm");
    assert!(ask.contains("資格確認はこれまでどおり"), "{ask}");
    shot(&b, "05-block-confirm");
    b.click("#confirm-ok");
    b.wait_for(
        &format!("#access-rows tr[data-institution=\"{clinic}\"] .p-badge-block"),
        10,
    );
    wait_text(&b, "#flash", "ブロックしました", 5);
    shot(&b, "06-blocked");

    // The clinic asks for the person's medications: refused, and logged.
    b.goto(&format!("{}/console", urls.terminal));
    let (status, refusal) = fetch(
        &b,
        "POST",
        "/console/medical/medications",
        Some(numbers.clone()),
    );
    assert_eq!(
        (status, refusal["code"].as_str()),
        (403, Some("institution_blocked")),
        "{refusal}"
    );

    // Back on the portal (the session cookie still holds): the refusal is the newest entry.
    b.goto(&urls.portal);
    wait_visible(&b, "app", 15);
    b.click("#tab-access");
    b.wait_for("#access-rows tr[data-outcome=\"refused\"]", 15);
    let first = b.text("#access-rows tr[data-access-id]:first-child");
    assert!(first.contains("ブロック"), "{first}");
    assert!(first.contains("拒否"), "{first}");
    assert!(first.contains("薬剤"), "{first}");
    assert!(first.contains("かくにん内科クリニック"), "{first}");
    assert_eq!(
        b.execute(
            "return document.querySelector('#access-rows tr[data-access-id]').dataset.outcome",
            json!([])
        ),
        "refused"
    );
    shot(&b, "07-refused");

    // The person's own records.
    b.click("#tab-medical");
    wait_text(&b, "#medical", "期間", 20);
    shot(&b, "08-medications");
    b.click("#medical-kinds [data-category=\"checkups\"]");
    wait_text(&b, "#medical", "特定健診", 20);

    // Consents: the kiosk's, active; withdraw one.
    b.click("#tab-consents");
    b.wait_for("#consent-rows tr[data-state=\"active\"]", 15);
    shot(&b, "09-consents");
    b.click("#consent-rows tr[data-state=\"active\"][data-category=\"medications\"] button[data-action=\"withdraw\"]");
    b.wait_for("#confirm[open]", 5);
    b.click("#confirm-ok");
    b.wait_for(
        "#consent-rows tr[data-state=\"withdrawn\"][data-category=\"medications\"]",
        10,
    );
    assert!(b
        .find("#consent-rows tr[data-state=\"active\"][data-category=\"medications\"]")
        .is_none());

    // Sharing: the block is listed; the opt-out switch says eligibility still works.
    b.click("#tab-sharing");
    b.wait_for(
        &format!("#blocks button[data-action=\"unblock\"][data-institution=\"{clinic}\"]"),
        10,
    );
    assert!(b
        .text("#panel-sharing")
        .contains("資格確認はこれまでどおりできます"));
    b.click("#opt-out");
    wait_text(&b, "#opt-out-status", "停止しています", 10);
    shot(&b, "10-sharing");
    let (_, sharing) = fetch(&b, "GET", "/portal/api/sharing", None);
    assert_eq!(sharing["opted_out"], true);
    b.click("#opt-out");
    wait_text(&b, "#opt-out-status", "提供されます", 10);

    // Export: a download of everything, from the session cookie.
    b.click("#tab-export");
    let (status, export) = fetch(&b, "GET", "/portal/api/export", None);
    assert_eq!(status, 200);
    assert!(export["access_log"].as_array().unwrap().len() >= 4);

    // 資格情報のお知らせ, printable.
    b.goto(&format!("{}/notice", urls.portal));
    b.wait_for("section.notice", 10);
    let notice = b.text("body");
    assert!(notice.contains("資格情報のお知らせ"), "{notice}");
    assert!(bare(&notice).contains(&bare(name)), "{notice}");
    shot(&b, "14-notice");
    b.goto(&urls.portal);
    wait_visible(&b, "app", 15);

    // A phone's width: tables become cards.
    b.set_window_size(390, 844);
    b.click("#tab-access");
    b.wait_for("#access-rows tr[data-outcome=\"refused\"]", 15);
    b.execute(
        "document.getElementById('access-count').scrollIntoView()",
        json!([]),
    );
    shot(&b, "11-phone-access-log");
    b.set_window_size(1024, 768);

    // The session ends (cookie gone): the next call returns to the login with a message.
    b.delete_cookies();
    b.click("#tab-qualifications");
    wait_visible(&b, "login", 10);
    let message = wait_text(&b, "#login-notice", "ログイン", 5);
    assert!(message.contains("有効期限"), "{message}");
    assert!(
        b.text("#qualifications").is_empty(),
        "nothing kept in the page"
    );
    shot(&b, "12-session-ended");

    // The card helper not answering (as when it is not started): the page says so and how to
    // start it; once it answers again, the login is offered again.
    b.execute(
        "window.realFetch = window.fetch;
         window.fetch = (url, init) => String(url).startsWith(location.origin) || String(url).startsWith('/')
           ? window.realFetch(url, init) : Promise.reject(new TypeError('Failed to fetch'));",
        json!([]),
    );
    log_in(&b, "1234");
    wait_visible(&b, "helper-missing", 10);
    let missing = b.text("#helper-missing");
    assert!(
        missing.contains("カード読み取りアプリが起動していません"),
        "{missing}"
    );
    assert!(missing.contains("kakunin card-helper"), "{missing}");
    assert!(
        missing.contains(&urls.portal.replace("/portal", "")),
        "{missing}"
    );
    shot(&b, "13-helper-missing");
    b.execute("window.fetch = window.realFetch;", json!([]));
    b.click("#helper-retry");
    // The card list was shown before: wait for the retry's answer to hide the notice.
    let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while visible(&b, "helper-missing") {
        assert!(
            std::time::Instant::now() < until,
            "the notice stays after the helper answers again"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    wait_visible(&b, "card-field", 10);
}
