//! The kiosk and the staff console in headless Chromium, as a patient and reception staff use
//! them: `kakunin demo` with its virtual cards, the kiosk's screens ①–⑥ on the PIN path (a wrong
//! PIN first, consents, the 健診 question only from 40, the 限度額 option), then the console's
//! reception row and the card holder's drug list, a 照会番号 registered from the reception row,
//! and a 一括照会 of demo people plus numbers nobody has (a bad upload refused first). A
//! screenshot of each kiosk screen and console step is saved under `target/kiosk-screens/`; the
//! time from placing the card to 確認完了 (the patient's typing excluded) is printed, not
//! asserted. A second test runs `kakunin terminal` against a central nobody listens on and
//! receives a patient by numbers on the console (障害時受付: the 202 message, the banner, the
//! patient's 申告, the visit listed 要後日確認). A third (with the face model) takes the 顔認証
//! path: a match, then someone else twice and the fallback to the PIN.

use kakunin_testkit::browser::Browser;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_kakunin");

/// A child process stopped when dropped.
struct Running(Child);
impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the demo and returns it with the terminal's base URL.
fn demo(data: &std::path::Path) -> (Running, String) {
    demo_with(data, &[])
}

/// The demo with more arguments.
fn demo_with(data: &std::path::Path, more: &[&str]) -> (Running, String) {
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
        .args(more)
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
        Running(child),
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
    b.click("#medical-close");

    let reference = register_reference_number(&b);
    batch_inquiry(&b, &dir.path().join("demo"), &reference);
}

/// The newest reception's person (the 目視確認 visit) gets a 照会番号 from the reception row:
/// the form opens prefilled, refuses a number that is too long as it is typed, registers, and
/// the row shows the number; a later check by numbers returns it from the central. Returns the
/// person's numbers and the 照会番号.
fn register_reference_number(b: &Browser) -> (serde_json::Value, String) {
    const NUMBER: &str = "KS-000123";
    let row = "#reception-rows tr[data-reception-id]:first-child";
    b.click(&format!("{row} button[data-action=\"reference-open\"]"));
    b.wait_for("#reference[open]", 10);
    let v = b.execute(
        "return fetch('/console/receptions').then(r => r.json())",
        serde_json::json!([]),
    );
    let person = v[0]["answer"]["results"][0].clone();
    let prefilled = b.execute(
        "return ['insurer_number', 'number', 'birthdate'].map(n => document.getElementById('rf-' + n).value)",
        serde_json::json!([]),
    );
    assert_eq!(
        prefilled,
        serde_json::json!([
            person["insurer_number"],
            person["number"],
            person["birthdate"]
        ]),
        "the form is prefilled from the reception"
    );
    b.type_text("#rf-reference_number", &"9".repeat(51));
    b.wait_for("#re-reference_number:not(:empty)", 5);
    let msg = b.text("#re-reference_number");
    assert!(msg.contains("50文字"), "{msg}");
    b.clear("#rf-reference_number");
    b.type_text("#rf-reference_number", NUMBER);
    b.click("#reference-submit");
    b.wait_for("#reference-status.c-ok", 15);
    let status = b.text("#reference-status");
    assert!(status.contains("照会番号を登録しました"), "{status}");
    assert!(status.contains(NUMBER), "{status}");
    b.screenshot(&shots().join("console-reference.png"));
    b.click("#reference-close");
    b.wait_for(&format!("{row} [data-reference-number]"), 10);
    let shown = b.text(&format!("{row} [data-reference-number]"));
    assert_eq!(shown, NUMBER);

    // The central returns it with the person's next check.
    let mut check = serde_json::json!({
        "insurer_number": person["insurer_number"],
        "number": person["number"],
        "birthdate": person["birthdate"],
    });
    for k in ["symbol", "branch"] {
        if person[k].is_string() {
            check[k] = person[k].clone();
        }
    }
    let answer = b.execute(
        "return fetch('/console/check', {method: 'POST', headers: {'content-type': 'application/json'}, body: JSON.stringify(arguments[0])}).then(r => r.json())",
        serde_json::json!([check]),
    );
    assert_eq!(
        answer["answer"]["results"][0]["reference_number"], NUMBER,
        "{answer}"
    );
    b.screenshot(&shots().join("console-reference-row.png"));
    (person, NUMBER.to_string())
}

/// A CSV cell, quoted when it needs to be.
fn cell(v: &serde_json::Value) -> String {
    let s = v.as_str().unwrap_or_default();
    if s.contains([',', '"']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn csv_line(p: &serde_json::Value) -> String {
    ["insurer_number", "symbol", "number", "branch", "birthdate"]
        .map(|k| cell(&p[k]))
        .join(",")
}

/// 一括照会 for tomorrow: a bad upload is refused line by line; then two demo people (one
/// typed with full-width digits), the person with the 照会番号 and a line of numbers nobody
/// has. The batch is listed as 処理中 until done; its table shows 有効 for the people, the
/// 照会番号, and 該当資格なし for the unknown line.
fn batch_inquiry(b: &Browser, data: &std::path::Path, reference: &(serde_json::Value, String)) {
    let samples: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(data.join("demo-samples.json")).unwrap()).unwrap();
    let mut valid: Vec<&serde_json::Value> =
        samples.iter().filter(|s| s["validity"] == "1").collect();
    // A 6-digit 国保 number first, when the seed has one.
    valid.sort_by_key(|s| s["insurer_number"].as_str().map_or(8, str::len) != 6);
    assert!(valid.len() >= 2, "the demo has valid sample people");
    let people = &valid[..2];

    b.click("#view-tab-batches");
    b.wait_for("#view-batches:not([hidden]) #batch-form", 10);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let tomorrow = kakunin_domain::Timestamp::from_unix_millis(now)
        .jst_date()
        .add_days(1)
        .unwrap();
    let date = b.execute(
        "return document.getElementById('bf-date').value",
        serde_json::json!([]),
    );
    assert_eq!(
        date,
        tomorrow.iso(),
        "the 資格確認日 is tomorrow by default"
    );

    // A bad upload: every bad line said, nothing sent.
    b.type_text(
        "#bf-lines",
        "保険者番号,記号,番号,枝番,生年月日\n6139992,,1,,19800101\n06139992,,1,,19800231",
    );
    b.click("#batch-submit");
    b.wait_for("#batch-errors:not([hidden]) table", 15);
    let errors = b.text("#batch-errors");
    assert!(errors.contains("2行目"), "{errors}");
    assert!(errors.contains("3行目"), "{errors}");
    assert!(errors.contains("保険者番号"), "{errors}");
    assert!(errors.contains("何も送信していません"), "{errors}");
    b.screenshot(&shots().join("console-batch-refused.png"));
    let listed = b.execute(
        "return fetch('/console/batches').then(r => r.json())",
        serde_json::json!([]),
    );
    assert_eq!(listed, serde_json::json!([]), "nothing was sent");

    // The real one.
    let mut lines = vec!["保険者番号,記号,番号,枝番,生年月日".to_string()];
    lines.push(csv_line(people[0]));
    let mut wide = people[1].clone();
    let full_width: String = wide["number"]
        .as_str()
        .unwrap()
        .chars()
        .map(|c| {
            if c.is_ascii_digit() {
                char::from_u32(c as u32 + 0xFEE0).unwrap()
            } else {
                c
            }
        })
        .collect();
    wide["number"] = full_width.into();
    lines.push(csv_line(&wide));
    lines.push(csv_line(&reference.0));
    let unknown = format!(
        "{},,99999999,,19010101",
        people[0]["insurer_number"].as_str().unwrap()
    );
    lines.push(unknown);
    b.clear("#bf-lines");
    b.type_text("#bf-lines", &lines.join("\n"));
    b.wait_for("#bh-lines:not(:empty)", 5);
    assert_eq!(b.text("#bh-lines"), "4件");
    b.click("#batch-submit");
    b.wait_for("#batch-status.c-ok", 15);
    let status = b.text("#batch-status");
    assert!(status.contains("受付番号"), "{status}");
    assert!(status.contains("4件"), "{status}");
    assert_eq!(
        b.execute(
            "return document.getElementById('bf-lines').value",
            serde_json::json!([])
        ),
        "",
        "the lines are forgotten once sent"
    );
    b.wait_for("#batch-rows tr[data-reception-number]", 10);
    b.wait_for("#batch-units table.c-batch-table", 60);
    b.wait_for("#batch-rows tr[data-status=\"done\"]", 10);
    let rows = b.execute(
        "return [...document.querySelectorAll('#batch-units tbody tr')].map(tr => [tr.querySelector('[data-validity]').dataset.validity, tr.innerText])",
        serde_json::json!([]),
    );
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 4, "{rows:?}");
    for (i, row) in rows.iter().enumerate().take(3) {
        assert_eq!(row[0], "1", "line {}: {row}", i + 1);
        assert!(row[1].as_str().unwrap().contains("有効"), "{row}");
    }
    // Names compared without their spaces (half- or full-width).
    let bare = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
    let shown = |i: usize, name: &serde_json::Value| {
        let text = rows[i][1].as_str().unwrap();
        assert!(
            bare(text).contains(&bare(name.as_str().unwrap())),
            "line {} names {name}: {text}",
            i + 1
        );
    };
    shown(0, &people[0]["name"]);
    shown(1, &people[1]["name"]);
    shown(2, &reference.0["name"]);
    assert!(
        rows[2][1].as_str().unwrap().contains(&reference.1),
        "the 照会番号 is in the batch result: {}",
        rows[2][1]
    );
    assert_eq!(rows[3][0], "4", "{}", rows[3][1]);
    assert!(rows[3][1].as_str().unwrap().contains("該当資格なし"));
    let summary = b.text("#batch-rows tr[data-status=\"done\"]");
    assert!(summary.contains("完了"), "{summary}");
    b.screenshot(&shots().join("console-batch-result.png"));
}

/// Runs `kakunin` to completion.
fn kakunin(args: &[&str]) {
    let out = Command::new(BIN).args(args).output().expect("run kakunin");
    assert!(
        out.status.success(),
        "kakunin {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA, a clinic's identity and `kakunin terminal` against a central nobody listens on (port 9
/// needs root to listen on), with `--offline-after 1`. Returns it with its base URL.
fn offline_terminal(dir: &std::path::Path) -> (Running, String) {
    let ca = dir.join("ca");
    let clinic = dir.join("clinic.pem");
    let cards = dir.join("cards");
    std::fs::create_dir_all(&cards).unwrap();
    let path = |p: &std::path::Path| p.to_str().unwrap().to_string();
    kakunin(&["ca", "init", "--data", &path(&ca)]);
    kakunin(&[
        "ca",
        "issue",
        "--data",
        &path(&ca),
        "--role",
        "institution",
        "--id",
        "0110113719",
        "--out",
        &path(&clinic),
    ]);
    let mut child = Command::new(BIN)
        .args([
            "terminal",
            "--data",
            &path(&dir.join("terminal")),
            "--central",
            "https://127.0.0.1:9",
            "--ca",
            &path(&ca.join("ca.pem")),
            "--identity",
            &path(&clinic),
            "--reader",
            &format!("virtual:{}", path(&cards)),
            "--listen",
            "127.0.0.1:0",
            "--offline-after",
            "1",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the terminal");
    let out = child.stdout.take().unwrap();
    let mut base = None;
    for line in BufReader::new(out).lines() {
        let line = line.unwrap();
        if let (Some(i), true) = (line.find("http://"), line.ends_with("/console")) {
            base = Some(line[i..line.len() - "/console".len()].to_string());
            break;
        }
    }
    (
        Running(child),
        base.expect("the terminal printed the console URL"),
    )
}

/// 障害時受付 on the console: a check by numbers while the central cannot be reached is
/// recorded (202): the form says so, the banner says reception goes on, the note form opens
/// with the birth date prefilled and checks it as it is typed; the declared 3割 and the name
/// are recorded; the visit is listed 要後日確認 in the third tab, counted on its badge, and its
/// note can be edited from there. Nothing personal is kept in the URL or browser storage.
#[test]
fn console_offline_reception_in_chromium() {
    let Some(b) = Browser::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (_terminal, base) = offline_terminal(dir.path());
    let shot = |n: &str| b.screenshot(&shots().join(format!("console-offline-{n}.png")));

    b.goto(&format!("{base}/console"));
    b.wait_for("#reception-rows .c-empty", 15);
    for (field, value) in [
        ("insurer_number", "06139992"),
        ("symbol", "123"),
        ("number", "4567"),
        ("birthdate", "19800101"),
    ] {
        b.type_text(&format!("#f-{field}"), value);
    }
    b.click("#check-submit");

    // Recorded for a later check: the message, the banner, the header, the note form.
    b.wait_for("#note[open]", 15);
    let status = b.text("#check-status");
    assert!(
        status.contains("通信障害のため、要後日確認として受付しました"),
        "{status}"
    );
    let recorded = b.text("#note-recorded");
    assert!(
        recorded.contains("要後日確認として受付しました"),
        "{recorded}"
    );
    b.wait_for("[data-banner=\"offline\"]", 10);
    let banner = b.text("[data-banner=\"offline\"]");
    assert!(
        banner.contains("中央サーバに接続できません。受付は続けられます"),
        "{banner}"
    );
    b.wait_for("#central-status[data-central=\"offline\"]", 10);
    let value = |id: &str| {
        b.execute(
            "return document.getElementById(arguments[0]).value",
            serde_json::json!([id]),
        )
    };
    assert_eq!(value("nf-birthdate"), "19800101", "prefilled from the form");
    shot("1-recorded");

    // Checked as it is typed: an impossible date is refused before anything is sent.
    b.clear("#nf-birthdate");
    b.type_text("#nf-birthdate", "19800231");
    b.wait_for("#ne-birthdate:not(:empty)", 5);
    assert!(b.text("#ne-birthdate").contains("存在しない日付"));
    assert!(b.find("#note-submit:disabled").is_some());
    b.clear("#nf-birthdate");
    b.type_text("#nf-birthdate", "19800101");
    b.wait_for("#note-submit:not(:disabled)", 5);

    // The patient declares 3割; staff note the name (kana typed in hiragana is converted).
    b.click("label.c-copay-choice:has(input[value=\"030\"])");
    b.type_text("#nf-name", "試験　花子");
    b.type_text("#nf-name_kana", "しけん　はなこ");
    b.click("#nf-sex-2");
    assert_eq!(value("nf-name_kana"), "シケン\u{3000}ハナコ");
    b.type_text("#nf-address", "東京都千代田区千代田1-1");
    shot("2-note");
    b.click("#note-submit");
    b.wait_for("#note:not([open])", 10);
    let status = b.text("#check-status");
    assert!(status.contains("申告を記録しました"), "{status}");
    b.wait_for("#offline-badge:not([hidden])", 10);
    assert_eq!(b.text("#offline-badge"), "1");
    shot("3-noted");

    // The 障害時受付 tab, reached with the keyboard from 一括照会.
    b.click("#view-tab-batches");
    b.type_text("#view-tab-batches", "\u{E014}"); // ArrowRight
    b.wait_for("#view-offline:not([hidden])", 5);
    let row = "#offline-rows tr[data-status=\"pending\"]";
    b.wait_for(row, 10);
    let text = b.text(row);
    for expected in [
        "保険証番号",
        "06139992",
        "4567",
        "試験　花子",
        "3割",
        "要後日確認",
    ] {
        assert!(text.contains(expected), "{expected} in {text}");
    }
    assert_eq!(b.text("#offline-progress"), "後日確認: 1件中 0件 完了");
    shot("4-list");

    // Its note can be edited from the list, as it was recorded.
    b.click(&format!("{row} button[data-action=\"note-open\"]"));
    b.wait_for("#note[open]", 10);
    assert_eq!(value("nf-name"), "試験　花子");
    assert!(b
        .find("input[name=\"declared_copay\"][value=\"030\"]:checked")
        .is_some());
    assert!(b.find("#nf-sex-2:checked").is_some());
    b.click("#note-close");
    b.wait_for("#note:not([open])", 10);

    let kept = b.execute(
        "return [location.search, location.hash, localStorage.length, sessionStorage.length]",
        serde_json::json!([]),
    );
    assert_eq!(kept, serde_json::json!(["", "", 0, 0]), "nothing kept");
}

#[test]
fn kiosk_face_verification_in_chromium() {
    let Some(model) = kakunin_testkit::face::model_dir() else {
        return;
    };
    let Some(b) = Browser::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let model = model.canonicalize().unwrap();
    let (_demo, base) = demo_with(
        &dir.path().join("demo"),
        &["--cards", "3", "--face-model", model.to_str().unwrap()],
    );
    let shot = |n: &str| b.screenshot(&shots().join(format!("face-{n}.png")));
    b.goto(&format!("{base}/kiosk"));
    screen(&b, "waiting_for_card");

    // The holder: 顔認証 is offered first, and matches.
    insert(&b, "000001.vcard");
    screen(&b, "choose_method");
    let face_button = b.wait_for("[data-action=\"choose-face\"]", 5);
    assert!(
        b.text("[data-action=\"choose-face\"]").contains("顔認証"),
        "{face_button}"
    );
    shot("01-choose_method");
    b.click("[data-action=\"choose-face\"]");
    if b.appears("[data-screen=\"face_capture\"]", 2) {
        let text = b.text("[data-screen=\"face_capture\"]");
        assert!(text.contains("保存も送信もせず"), "{text}");
        shot("02-face_capture");
    }
    screen(&b, "consent_medical");
    shot("03-matched-consent");
    remove(&b);
    screen(&b, "waiting_for_card");

    // Someone else in front of the camera: a second try, then only the PIN or staff.
    insert(&b, "000003.vcard");
    screen(&b, "choose_method");
    b.click("[data-action=\"choose-face\"]");
    screen(&b, "face_retry");
    let text = b.text("[data-screen=\"face_retry\"]");
    assert!(text.contains("顔写真と一致しませんでした"), "{text}");
    assert!(
        text.contains("消去"),
        "the patient is told the image is gone: {text}"
    );
    assert!(b.find("[data-action=\"choose-visual\"]").is_some());
    shot("04-face_retry");
    b.click("[data-action=\"choose-face\"]");
    let until = Instant::now() + Duration::from_secs(30);
    while b.find("[data-screen=\"choose_method\"]").is_none() {
        assert!(
            Instant::now() < until,
            "the kiosk never came back to the method choice"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let text = b.text("[data-screen=\"choose_method\"]");
    assert!(text.contains("顔認証ができませんでした"), "{text}");
    assert!(
        b.find("[data-action=\"choose-face\"]").is_none(),
        "no third try"
    );
    shot("05-fallback");
    b.click("[data-action=\"choose-pin\"]");
    screen(&b, "pin");
    pin(&b, "1234");
    screen(&b, "consent_medical");
    remove(&b);
}
