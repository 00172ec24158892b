//! The operations console in headless Chromium, as an operator uses it: `kakunin demo --smoke`
//! makes the demo month's checks (a number check, a card check with consents, the holder's
//! medications, a kiosk visit), then `kakunin demo` runs again on the same data and the
//! console shows them: 利用状況 with the month's figures in MHLW's layout (the same as the
//! central's admin API says, at least the smoke's) and both SVG charts with their title and
//! description; the previous month from the picker; a link review (from a roster whose
//! 個人番号 the authority does not know) closed with a note; a 災害時 declaration made and
//! ended, with the clinic console's search without a card while it was in force; an
//! institution registered (a wrong code refused first, in Japanese); データ鮮度; a client
//! certificate issued, used and revoked (then refused); 失効; and a form posted from another
//! origin refused. Screenshots are saved as
//! `target/kiosk-screens/ops-*.png`.

use kakunin_api::client::CentralClient;
use kakunin_testkit::browser::Browser;
use serde_json::json;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_kakunin");

struct Demo(Child);
impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn demo_args(data: &Path) -> Vec<String> {
    [
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
        "--ops-listen",
        "127.0.0.1:0",
    ]
    .map(String::from)
    .to_vec()
}

/// Starts the demo (every listener on a free port); returns the central's, the operations
/// console's and the clinic terminal's URLs.
fn demo(data: &Path) -> (Demo, String, String, String) {
    let mut child = Command::new(BIN)
        .args(demo_args(data))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the demo");
    let out = child.stdout.take().unwrap();
    let (mut central, mut ops, mut terminal) = (None, None, None);
    for line in BufReader::new(out).lines() {
        let line = line.unwrap();
        if let (Some(i), Some(j)) = (line.find("http://"), line.find("/kiosk")) {
            terminal = Some(line[i..j].to_string());
        }
        if line.trim_start().starts_with("central (API):") {
            let i = line.find("https://").unwrap();
            central = line[i..].split_whitespace().next().map(str::to_string);
        }
        if let (Some(i), true) = (line.find("http://"), line.contains("運用コンソール")) {
            let url = line[i..].trim_end();
            ops = Some(url.trim_end_matches("/statistics").to_string());
        }
        if line.contains("止めるには") {
            break;
        }
    }
    (
        Demo(child),
        central.expect("the demo printed the central's URL"),
        ops.expect("the demo printed the console's URL"),
        terminal.expect("the demo printed the kiosk's URL"),
    )
}

fn shots() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/kiosk-screens")
}

/// Runs `kakunin` with `args` and asserts it succeeds.
fn kakunin(args: &[&str]) -> String {
    let out = Command::new(BIN).args(args).output().expect("run kakunin");
    assert!(
        out.status.success(),
        "kakunin {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The number in a cell or figure (`1,234` or `66.67%` → digits and the point).
fn number(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_ascii_digit() || *c == '.')
        .collect()
}

#[test]
fn operations_console_in_chromium() {
    let Some(b) = Browser::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    // The demo month's checks: the smoke run's number check, card check, medications and
    // kiosk visit.
    let mut smoke = demo_args(&data);
    smoke.push("--smoke".into());
    let smoke: Vec<&str> = smoke.iter().map(String::as_str).collect();
    kakunin(&smoke);
    let (_demo, central, ops, terminal) = demo(&data);
    let shot = |n: &str| b.screenshot(&shots().join(format!("ops-{n}.png")));
    let ca = data.join("ca.pem");

    // What the central's admin API says about this month.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let admin =
        CentralClient::from_files(&central, &ca, Some(&data.join("identities/admin.pem"))).unwrap();
    let stats = rt.block_on(admin.statistics(None)).unwrap();
    let t = &stats.total;
    assert!(
        t.by_card >= 2 && t.by_numbers >= 1 && t.medications >= 1,
        "the smoke's checks and view: {t:?}"
    );

    // 利用状況.
    b.set_window_size(1280, 2700);
    b.goto(&format!("{ops}/statistics"));
    b.wait_for("[data-table=\"usage\"]", 15);
    assert!(b.text("h1").contains("利用状況"));
    let figure = |key: &str| number(&b.text(&format!("[data-figure=\"{key}\"]")));
    assert_eq!(figure("checks"), t.checks.to_string());
    assert_eq!(figure("by_card"), t.by_card.to_string());
    assert_eq!(figure("by_numbers"), t.by_numbers.to_string());
    assert_eq!(
        figure("card_share"),
        t.card_share_percent.clone().unwrap_or_default()
    );
    let cell = |kind: &str, col: &str| {
        number(&b.text(&format!("tr[data-kind=\"{kind}\"] td[data-col=\"{col}\"]")))
    };
    // The demo clinic is registered as a 医科診療所: every check of the month is its.
    for (kind, figures) in [("total", t), ("medical_clinic", &stats.by_kind[1].figures)] {
        assert_eq!(cell(kind, "checks"), figures.checks.to_string(), "{kind}");
        assert_eq!(cell(kind, "by_card"), figures.by_card.to_string(), "{kind}");
        assert_eq!(
            cell(kind, "medications"),
            figures.medications.to_string(),
            "{kind}"
        );
    }
    assert_eq!(cell("medical_clinic", "checks"), cell("total", "checks"));
    assert_eq!(cell("pharmacy", "checks"), "0");
    // The charts: drawn on the server, described in words, one bar per type and per month.
    let charts = b.execute(
        "return ['chart-kinds', 'chart-trend'].map(id => {
            const s = document.getElementById(id);
            return s && {
                title: s.querySelector('title').textContent,
                desc: s.querySelector('desc').textContent,
                bars: s.querySelectorAll('g.bar').length,
                labelled: s.getAttribute('aria-labelledby'),
                width: s.getBoundingClientRect().width,
            };
        })",
        json!([]),
    );
    assert!(charts[0]["title"].as_str().unwrap().contains("施設類型別"));
    assert!(charts[0]["desc"]
        .as_str()
        .unwrap()
        .contains(&format!("医科診療所は{}件", t.checks)));
    assert_eq!(charts[0]["bars"], 4);
    assert_eq!(charts[1]["bars"], 13);
    assert_eq!(charts[1]["labelled"], "chart-trend-title chart-trend-desc");
    assert!(charts[1]["width"].as_f64().unwrap() > 300.0, "{charts}");
    assert!(
        b.find("script").is_none(),
        "no script on the console's pages"
    );
    shot("01-statistics");

    // The month before, from the link under the picker: nothing yet.
    b.click(".months a");
    let previous = &stats.trend[11].month;
    wait_text(
        &b,
        "caption",
        &format!(
            "{}年{}月",
            &previous[..4],
            previous[4..].parse::<u32>().unwrap()
        ),
    );
    assert_eq!(figure("checks"), "0");
    assert_eq!(figure("card_share"), "");

    // 紐付け確認: a roster row whose 個人番号 the authority does not know opens a review.
    let insurer = dir.path().join("insurer.pem");
    kakunin(&[
        "ca",
        "issue",
        "--data",
        data.to_str().unwrap(),
        "--role",
        "insurer",
        "--id",
        "06139992",
        "--out",
        insurer.to_str().unwrap(),
    ]);
    let number_unknown = kakunin_domain::IndividualNumber::from_body("98765432109").unwrap();
    let roster = dir.path().join("roster.csv");
    std::fs::write(
        &roster,
        format!(
            "insurer_number,symbol,number,branch,relationship,name,name_kana,sex,birthdate,qualification_date,disqualification_date,disqualification_reason,card_classification,copay_ratio,insurer_name,individual_number\n\
             06139992,運用,4242,00,1,確認 待子,ｶｸﾆﾝ ﾏﾁｺ,2,19850505,20250401,,,01,030,架空健康保険組合,{}\n",
            number_unknown.expose()
        ),
    )
    .unwrap();
    kakunin(&[
        "import",
        "roster",
        "--server",
        &central,
        "--ca",
        ca.to_str().unwrap(),
        "--identity",
        insurer.to_str().unwrap(),
        roster.to_str().unwrap(),
    ]);
    b.set_window_size(1280, 1000);
    b.click("nav a[href=\"/link-reviews\"]");
    b.wait_for("[data-table=\"link-reviews\"] tr[data-review]", 15);
    let row = b.text("tr[data-review]");
    assert!(
        row.contains("06139992") && row.contains("個人番号") && row.contains("未処理"),
        "{row}"
    );
    assert!(
        row.contains(number_unknown.last4()),
        "the last 4 digits: {row}"
    );
    shot("02-link-reviews");
    b.type_text(
        "tr[data-review] textarea",
        "保険者に照会済み。<b>再登録待ち</b>",
    );
    b.click("tr[data-review] button");
    b.wait_for(".notice", 15);
    assert!(b.text(".notice").contains("閉じました"));
    assert!(b.current_url_contains("/link-reviews?done=dismissed"));
    assert!(b.find("tr[data-review]").is_none(), "no open review left");
    b.click(".filters a[href=\"/link-reviews?status=all\"]");
    wait_text(&b, "tr[data-review]", "紐付けせずに終了");
    let row = b.text("tr[data-review]");
    assert!(
        row.contains("紐付けせずに終了")
            && row.contains("理由: 保険者に照会済み。<b>再登録待ち</b>"),
        "the note, as text: {row}"
    );

    // 災害時モード: declared for Tokyo until the day after tomorrow, then ended.
    b.click("nav a[href=\"/emergencies\"]");
    b.wait_for("form[action=\"/emergencies\"]", 15);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let ends = kakunin_domain::Timestamp::from_unix_millis(now + 2 * 86_400_000).jst_compact();
    let ends = format!(
        "{}-{}-{}T{}:{}",
        &ends[..4],
        &ends[4..6],
        &ends[6..8],
        &ends[8..10],
        &ends[10..12]
    );
    b.type_text("#areas", "13、27100");
    b.execute(
        "document.getElementById('ends_at').value = arguments[0]",
        json!([ends]),
    );
    b.type_text("#reason", "令和8年架空地震（訓練）");
    b.click("form[action=\"/emergencies\"] button");
    b.wait_for("tr[data-declaration]", 15);
    let row = b.text("tr[data-declaration]");
    assert!(
        row.contains("13、27100") && row.contains("実施中") && row.contains("訓練"),
        "{row}"
    );
    shot("03-emergencies");
    emergency_search_on_the_console(&b, &terminal, &data);
    b.goto(&format!("{ops}/emergencies"));
    b.wait_for("tr[data-declaration] button", 15);
    b.click("tr[data-declaration] button");
    wait_text(&b, ".notice", "終了しました");
    assert!(b.text("tr[data-declaration]").contains("早期終了"));
    assert!(b.find("tr[data-declaration] button").is_none());

    // 医療機関: a wrong check digit is refused in Japanese, with what was typed kept; then a
    // pharmacy registered.
    b.click("nav a[href=\"/institutions\"]");
    b.wait_for("form[action=\"/institutions\"]", 15);
    let pharmacy = kakunin_domain::check_digit::complete("134000001").unwrap();
    let wrong = format!(
        "{}{}",
        &pharmacy[..9],
        (pharmacy.as_bytes()[9] - b'0' + 1) % 10
    );
    b.type_text("#code", &wrong);
    b.type_text("#name", "かくにん薬局（デモ）");
    b.execute(
        "document.getElementById('kind').value = 'pharmacy'",
        json!([]),
    );
    b.type_text("#municipality", "13101");
    b.click("form[action=\"/institutions\"] button");
    b.wait_for(".error", 15);
    assert!(b
        .text(".error")
        .contains("医療機関コードが正しくありません"));
    assert_eq!(
        b.execute("return document.getElementById('name').value", json!([])),
        "かくにん薬局（デモ）"
    );
    b.clear("#code");
    b.type_text("#code", &pharmacy);
    b.click("form[action=\"/institutions\"] button");
    b.wait_for(".notice", 15);
    let row = b.text(&format!("tr[data-institution=\"{pharmacy}\"]"));
    assert!(
        row.contains("かくにん薬局（デモ）") && row.contains("薬局") && row.contains("13101"),
        "{row}"
    );
    assert!(b
        .text("[data-table=\"institutions\"]")
        .contains("かくにん内科クリニック（デモ）"));
    shot("04-institutions");

    // データ鮮度: every seeded insurer, 06139992's upload just now.
    b.click("nav a[href=\"/freshness\"]");
    b.wait_for("[data-table=\"freshness\"]", 15);
    let row = b.text("tr[data-insurer=\"06139992\"]");
    assert!(row.contains("0日"), "{row}");
    shot("05-freshness");

    // 証明書: a wrong code refused in Japanese, then a certificate issued for the pharmacy (its
    // PEM offered once as a download), used, and revoked with a reason.
    b.click("nav a[href=\"/certificates\"]");
    b.wait_for("form[action=\"/certificates\"][method=\"post\"]", 15);
    assert!(
        b.find("tr[data-certificate]").is_some(),
        "the demo's certificates, recorded on use, are listed"
    );
    b.execute(
        "document.getElementById('kind').value = 'institution'",
        json!([]),
    );
    b.type_text("#subject", &wrong);
    b.click("form[action=\"/certificates\"][method=\"post\"] button");
    b.wait_for(".error", 15);
    assert!(
        b.text(".error").contains("種別と番号"),
        "{}",
        b.text(".error")
    );
    b.clear("#subject");
    b.type_text("#subject", &pharmacy);
    b.click("form[action=\"/certificates\"][method=\"post\"] button");
    b.wait_for("section.issued", 15);
    let pem = b.execute("return document.getElementById('pem').value", json!([]));
    let pem = pem.as_str().unwrap().to_string();
    assert!(pem.contains("BEGIN CERTIFICATE") && pem.contains("PRIVATE KEY"));
    let download = b.execute(
        "const a = document.querySelector('section.issued a[download]'); return [a.getAttribute('download'), a.href.slice(0, 40)]",
        json!([]),
    );
    assert_eq!(
        download,
        json!([
            format!("kakunin-institution-{pharmacy}.pem"),
            "data:application/x-pem-file;charset=utf-"
        ])
    );
    shot("06-certificate-issued");
    let serial = b
        .execute(
            "return document.querySelector('section.issued code').textContent",
            json!([]),
        )
        .as_str()
        .unwrap()
        .to_string();
    let pharmacy_client =
        CentralClient::new(&central, &std::fs::read(&ca).unwrap(), Some(pem.as_bytes())).unwrap();
    rt.block_on(pharmacy_client.emergencies_in_force())
        .expect("the issued certificate is accepted");
    let row = format!("tr[data-certificate=\"{serial}\"]");
    assert!(
        b.text(&row).contains("かくにん薬局（デモ）"),
        "{}",
        b.text(&row)
    );
    // No reason chosen: the browser keeps the form (required), nothing is revoked.
    b.click(&format!("{row} button"));
    assert!(b.find("section.issued").is_some(), "still on the same page");
    b.execute(
        "document.querySelector(arguments[0] + ' select').value = 'affiliation_changed'",
        json!([row]),
    );
    b.click(&format!("{row} button"));
    wait_text(&b, ".notice", "失効させました");
    let text = b.text(&row);
    assert!(
        text.contains("失効") && text.contains("廃止・移転"),
        "{text}"
    );
    assert!(b.find(&format!("{row} button")).is_none());
    match rt.block_on(pharmacy_client.emergencies_in_force()) {
        Err(kakunin_api::client::ClientError::Api(e, 401)) => {
            assert_eq!(e.code, "certificate_revoked")
        }
        other => panic!("a revoked certificate must be refused: {other:?}"),
    }
    shot("07-certificates");

    // 失効: the revoked certificate, and how card certificates are revoked (at the authority).
    b.click("nav a[href=\"/revocations\"]");
    b.wait_for("pre", 15);
    assert!(b.text("main").contains(&serial));
    assert!(b.text("pre").contains("kakunin card revoke --data"));
    shot("08-revocations");

    // A form on another origin posting to the console is refused and changes nothing.
    let before = rt.block_on(admin.institutions()).unwrap().len();
    b.goto(&format!(
        "data:text/html;charset=utf-8,<form method=post action=\"{ops}/institutions\">\
         <input name=code value={pharmacy}><input name=name value=x><input name=kind value=pharmacy>\
         </form><script>document.forms[0].submit()</script>"
    ));
    b.wait_for("h1", 15);
    assert!(
        b.text("h1").contains("送信元を確認できません"),
        "{}",
        b.text("body")
    );
    assert_eq!(rt.block_on(admin.institutions()).unwrap().len(), before);
}

/// While the declaration for Tokyo is in force, the demo clinic's console (in 13101) shows the
/// banner and the search without a card: an incomplete form is refused as typed, the card
/// holder found by numbers on the verbal-consent ground, and the holder's medications shown on
/// the emergency basis.
fn emergency_search_on_the_console(b: &Browser, terminal: &str, data: &Path) {
    let holder: serde_json::Value =
        serde_json::from_slice(&std::fs::read(data.join("demo-card-holder.json")).unwrap())
            .unwrap();
    b.goto(&format!("{terminal}/console"));
    b.wait_for("#emergency-panel:not([hidden])", 15);
    assert!(b
        .text("body")
        .contains("災害時モード（令和8年架空地震（訓練）"));
    b.click("#ef-by-numbers");
    b.wait_for("#emergency-numbers:not([hidden])", 5);
    b.click("#emergency-submit");
    wait_text(b, "#ee-consent", "同意の種類を選んでください");
    assert!(
        !b.text("#ee-insurer_number").is_empty(),
        "the insurer number is asked for"
    );
    for (field, key) in [
        ("insurer_number", "insurer_number"),
        ("symbol", "symbol"),
        ("number", "number"),
        ("branch", "branch"),
        ("birthdate", "birthdate"),
    ] {
        if let Some(v) = holder[key].as_str() {
            b.type_text(&format!("#ef-{field}"), v);
        }
    }
    b.click("#ef-consent-verbal");
    b.click("#emergency-submit");
    b.wait_for("#emergency-result:not([hidden])", 15);
    let result = b.text("#emergency-result");
    let name = holder["name"].as_str().unwrap();
    assert!(
        result.contains(name) && result.contains("有効") && result.contains("口頭で同意を得た"),
        "{result}"
    );
    b.screenshot(&shots().join("ops-console-emergency.png"));
    b.click("#emergency-result button[data-category=\"medications\"]");
    b.wait_for("#medical-panel table, #medical-panel .c-empty", 15);
    assert!(b
        .text("#medical")
        .contains("閲覧の根拠: 災害時（口頭で同意を得た）"));
    b.click("#medical-close");
}

/// Waits (at most 15 s) until the first `css` element's text contains `needle`.
fn wait_text(b: &Browser, css: &str, needle: &str) {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let text = || {
        b.execute(
            "const e = document.querySelector(arguments[0]); return e ? e.innerText : ''",
            json!([css]),
        )
        .as_str()
        .unwrap_or_default()
        .to_string()
    };
    while !text().contains(needle) {
        assert!(
            std::time::Instant::now() < until,
            "no {needle:?} in {css}; the page shows: {}",
            b.text("body")
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

trait CurrentUrl {
    fn current_url_contains(&self, part: &str) -> bool;
}
impl CurrentUrl for Browser {
    fn current_url_contains(&self, part: &str) -> bool {
        self.execute("return location.href", json!([]))
            .as_str()
            .is_some_and(|u| u.contains(part))
    }
}
