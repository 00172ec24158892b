//! The kiosk and the staff console in headless Chromium, as a patient and reception staff use
//! them: `kakunin demo` with its virtual cards, the kiosk's screens ①–⑥ on the PIN path (a wrong
//! PIN first, consents, the 健診 question only from 40, the 限度額 option), then the console's
//! reception row and the card holder's drug list. A screenshot of each kiosk screen is saved
//! under `target/kiosk-screens/`; the time from placing the card to 確認完了 (the patient's
//! typing excluded) is printed, not asserted.

use kakunin_testkit::browser::Browser;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_kakunin");

struct Demo(Child);
impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the demo and returns it with the terminal's base URL.
fn demo(data: &std::path::Path) -> (Demo, String) {
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
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the demo");
    let out = child.stdout.take().unwrap();
    let mut terminal = None;
    for line in BufReader::new(out).lines() {
        let line = line.unwrap();
        if let Some(i) = line.find("http://") {
            if line.contains("/kiosk") {
                let url = &line[i..];
                terminal = Some(url[..url.find("/kiosk").unwrap()].to_string());
            }
        }
        if line.contains("止めるには") {
            break;
        }
    }
    (
        Demo(child),
        terminal.expect("the demo printed the kiosk URL"),
    )
}

fn shots() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/kiosk-screens")
}

fn screen(b: &Browser, name: &str) -> String {
    b.wait_for(&format!("[data-screen=\"{name}\"]"), 15)
}

fn pin(b: &Browser, digits: &str) {
    for d in digits.chars() {
        b.click(&format!("[data-action=\"digit-{d}\"]"));
    }
}

/// Places a demo card on the virtual reader (what the console's 挿入 does).
fn insert(b: &Browser, card: &str) {
    b.execute(
        "return fetch('/console/cards/insert', {method: 'POST', headers: {'content-type': 'application/json'}, body: JSON.stringify({card: arguments[0]})}).then(r => r.status)",
        serde_json::json!([card]),
    );
}

fn remove(b: &Browser) {
    b.execute(
        "return fetch('/console/cards/remove', {method: 'POST'}).then(r => r.status)",
        serde_json::json!([]),
    );
}

/// The age today of the newest kiosk reception's holder (what the console shows).
fn holder_age(b: &Browser) -> u32 {
    let v = b.execute(
        "return fetch('/console/receptions').then(r => r.json())",
        serde_json::json!([]),
    );
    let birth = v[0]["answer"]["results"][0]["birthdate"]
        .as_str()
        .expect("a reception with a birth date")
        .to_string();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let today = kakunin_domain::Timestamp::from_unix_millis(now).jst_date();
    kakunin_domain::Date::parse(&birth).unwrap().age_on(today)
}

#[test]
fn kiosk_and_console_in_chromium() {
    let Some(b) = Browser::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (_demo, base) = demo(&dir.path().join("demo"));
    let shot = |n: &str| b.screenshot(&shots().join(format!("{n}.png")));

    b.goto(&format!("{base}/kiosk"));
    screen(&b, "waiting_for_card");
    shot("01-waiting_for_card");

    let mut seen_checkups = (false, false);
    for (i, card) in [
        "000002.vcard",
        "000003.vcard",
        "000004.vcard",
        "000005.vcard",
    ]
    .into_iter()
    .enumerate()
    {
        let mut machine = Duration::ZERO;
        let t = Instant::now();
        insert(&b, card);
        screen(&b, "choose_method");
        machine += t.elapsed();
        assert!(
            b.find("[data-action=\"choose-face\"]").is_none(),
            "顔認証 is hidden"
        );
        if i == 0 {
            shot("02-choose_method");
        }
        b.click("[data-action=\"choose-pin\"]");
        screen(&b, "pin");
        if i == 0 {
            // A wrong PIN: the kiosk says so and how many tries are left.
            pin(&b, "9999");
            b.wait_for("[data-pin-messages] .k-warn", 15);
            let msg = b.text("[data-pin-messages]");
            assert!(msg.contains("暗証番号が違います"), "{msg}");
            assert!(msg.contains("あと"), "{msg}");
            shot("03-pin_wrong");
        }
        // Three digits, then the last one times the card and the check.
        pin(&b, "123");
        if i == 0 {
            shot("03-pin");
        }
        let t = Instant::now();
        pin(&b, "4");
        screen(&b, "consent_medical");
        machine += t.elapsed();
        if i == 0 {
            shot("04-consent_medical");
        }
        b.click("[data-action=\"yes\"]");
        let t = Instant::now();
        let next = b.wait_for(
            "[data-screen=\"consent_checkups\"], [data-screen=\"done\"]",
            15,
        );
        let asked = b.find("[data-screen=\"consent_checkups\"]") == Some(next);
        if asked {
            shot("04-consent_checkups");
            b.click("[data-action=\"yes\"]");
            screen(&b, "done");
        } else {
            machine += t.elapsed();
        }
        // The 健診 question is asked exactly when the holder is 40 or older today.
        let age = holder_age(&b);
        assert_eq!(asked, age >= 40, "{card}: age {age}");
        if asked {
            seen_checkups.0 = true;
        } else {
            seen_checkups.1 = true;
        }
        println!(
            "kiosk {card}: card placed → 確認完了 in {} ms (typing excluded)",
            machine.as_millis()
        );
        if i == 0 {
            shot("05-done");
            b.click("[data-action=\"want-limit\"]");
            screen(&b, "consent_limit");
            shot("06-consent_limit");
            b.click("[data-action=\"yes\"]");
            screen(&b, "finished");
            shot("06-finished");
        }
        // Taking the card out ends the visit at any step.
        remove(&b);
        screen(&b, "waiting_for_card");
    }
    println!(
        "健診 question asked for a holder of 40+: {}, skipped for one under 40: {}",
        seen_checkups.0, seen_checkups.1
    );

    // Staff 目視確認: the kiosk waits, the console confirms, the terminal attests the check.
    insert(&b, "000001.vcard");
    screen(&b, "choose_method");
    b.click("[data-action=\"choose-visual\"]");
    screen(&b, "waiting_for_staff");
    shot("03-waiting_for_staff");
    b.execute(
        "return fetch('/console/visual/confirm', {method: 'POST'}).then(r => r.status)",
        serde_json::json!([]),
    );
    screen(&b, "consent_medical");
    b.click("[data-action=\"no\"]");
    let next = b.wait_for(
        "[data-screen=\"consent_checkups\"], [data-screen=\"done\"]",
        15,
    );
    if b.find("[data-screen=\"consent_checkups\"]") == Some(next) {
        b.click("[data-action=\"no\"]");
    }
    screen(&b, "done");
    let v = b.execute(
        "return fetch('/console/receptions').then(r => r.json())",
        serde_json::json!([]),
    );
    assert_eq!(v[0]["method"], "visual", "{v}");
    assert_eq!(v[0]["answer"]["validity"], "1");
    remove(&b);
    screen(&b, "waiting_for_card");

    // A card pulled at the PIN pad: back to ① and nothing recorded.
    insert(&b, "000001.vcard");
    screen(&b, "choose_method");
    b.click("[data-action=\"choose-pin\"]");
    screen(&b, "pin");
    pin(&b, "12");
    remove(&b);
    screen(&b, "waiting_for_card");

    // The staff console: the receptions, and the first one's drug list under its consent.
    b.goto(&format!("{base}/console"));
    b.wait_for("tr[data-reception-id]", 15);
    let table = b.text("body");
    assert!(table.contains("有効"), "{table}");
    b.click("button[data-action=\"medical-open\"]");
    b.wait_for(
        "#medical-panel table, #medical-panel .c-empty, #medical-panel p",
        15,
    );
    std::thread::sleep(Duration::from_millis(300));
    let panel = b.text("#medical-panel");
    assert!(!panel.is_empty(), "the medical view shows something");
    b.screenshot(&shots().join("console-medical.png"));
}
