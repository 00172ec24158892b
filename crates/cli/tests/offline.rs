//! Reception through outages, with the real binaries: `kakunin central` and `kakunin terminal`
//! as separate processes over the demo's data. The central is killed mid-morning, then
//! replaced by a listener that never answers (a slow central), then the terminal itself is
//! killed with visits pending; when everything is back, every visit is checked as of its date,
//! once: nothing lost, nothing duplicated, discrepancies flagged for staff.

use kakunin_testkit::process::{self, free_port, http_json as http, Proc};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_kakunin");

/// Starts `kakunin` and returns it with the first stdout line containing `marker`.
fn start(args: &[&str], marker: &str) -> (Proc, String) {
    let mut command = Command::new(BIN);
    command.args(args).stderr(Stdio::null());
    process::start(command, marker)
}

fn central(data: &Path, port: u16) -> Proc {
    let listen = format!("127.0.0.1:{port}");
    start(
        &[
            "central",
            "--data",
            data.to_str().unwrap(),
            "--listen",
            &listen,
        ],
        "listening",
    )
    .0
}

/// Starts the terminal; returns it with its base URL.
fn terminal(data: &Path, port: u16) -> (Proc, String) {
    let central = format!("https://127.0.0.1:{port}");
    let p = |s: &str| data.join(s).to_str().unwrap().to_string();
    let (proc, line) = start(
        &[
            "terminal",
            "--data",
            &p("terminal-offline"),
            "--central",
            &central,
            "--ca",
            &p("ca.pem"),
            "--identity",
            &p("identities/institution.pem"),
            "--device-key",
            &p("identities/terminal.pem"),
            "--reader",
            &format!("virtual:{}", p("cards")),
            "--listen",
            "127.0.0.1:0",
            "--offline-after",
            "1",
        ],
        "/console",
    );
    let url = &line[line.find("http://").unwrap()..];
    (proc, url[..url.find("/console").unwrap()].to_string())
}

fn wait_until(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < until {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out waiting for {what}");
}

fn kiosk_screen(base: &str) -> (u64, String) {
    let (_, s) = http(base, "GET", "/kiosk/state", None);
    (
        s["seq"].as_u64().unwrap(),
        s["screen"].as_str().unwrap_or("").to_string(),
    )
}

fn kiosk_wait(base: &str, screen: &str) -> u64 {
    let mut seq = 0;
    wait_until(&format!("kiosk screen {screen}"), 20, || {
        let (n, s) = kiosk_screen(base);
        seq = n;
        s == screen
    });
    seq
}

fn act(base: &str, body: serde_json::Value) {
    let (status, _) = http(base, "POST", "/kiosk/action", Some(&body));
    assert!(status < 300, "kiosk action {body}: {status}");
}

/// A card visit at the kiosk up to the screen after the PIN.
fn card_visit(base: &str, card: &str) -> String {
    let (status, _) = http(
        base,
        "POST",
        "/console/cards/insert",
        Some(&serde_json::json!({ "card": card })),
    );
    assert_eq!(status, 204);
    let seq = kiosk_wait(base, "choose_method");
    act(
        base,
        serde_json::json!({"seq": seq, "action": "choose", "method": "pin"}),
    );
    // Each tap carries the number of the screen it answers: wait for the screen the previous
    // tap led to (actions are carried out in the background), or a tap could carry a stale
    // number and be ignored.
    let mut seq = kiosk_wait(base, "pin");
    for d in [1, 2, 3, 4] {
        act(
            base,
            serde_json::json!({"seq": seq, "action": "digit", "digit": d}),
        );
        wait_until("the kiosk to take the digit", 20, || {
            let (now, _) = kiosk_screen(base);
            let moved = now != seq;
            seq = now;
            moved
        });
    }
    let mut last = String::new();
    // Generous: the card signs in a debug build, and a whole test suite may share the cores.
    wait_until("the kiosk's answer to the PIN", 60, || {
        last = kiosk_screen(base).1;
        last != "working" && last != "pin"
    });
    let (status, _) = http(base, "POST", "/console/cards/remove", None);
    assert_eq!(status, 204);
    kiosk_wait(base, "waiting_for_card");
    last
}

fn offline_state(base: &str) -> serde_json::Value {
    let (status, v) = http(base, "GET", "/console/offline", None);
    assert_eq!(status, 200);
    v
}

/// The demo's suggested people (insurance numbers of valid qualifications).
fn samples(data: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(data.join("demo-samples.json")).unwrap();
    let all: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    all.into_iter().filter(|s| s["validity"] == "1").collect()
}

fn numbers(s: &serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "insurer_number": s["insurer_number"],
        "symbol": s["symbol"],
        "number": s["number"],
        "branch": s["branch"],
        "birthdate": s["birthdate"],
    })
}

#[test]
fn reception_survives_outages_and_reconciles_once() {
    let dir = tempfile::tempdir().unwrap();
    let data: PathBuf = dir.path().join("demo");
    let out = Command::new(BIN)
        .args([
            "demo",
            "--data",
            data.to_str().unwrap(),
            "--people",
            "300",
            "--medical",
            "0",
            "--listen",
            "127.0.0.1:0",
            "--terminal-listen",
            "127.0.0.1:0",
            "--smoke",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let people = samples(&data);
    assert!(people.len() >= 4, "the demo suggests valid people");

    let port = free_port();
    let mut central_proc = Some(central(&data, port));
    let (term, base) = terminal(&data, port);
    let mut term = Some(term);

    // Online: an answer, no visit recorded.
    let (status, r) = http(&base, "POST", "/console/check", Some(&numbers(&people[0])));
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["answer"]["validity"], "1");
    assert_eq!(offline_state(&base)["central"], "online");
    let (_, r) = http(&base, "POST", "/console/check", Some(&numbers(&people[1])));
    let actual = r["answer"]["results"][0]["copay_ratio"]
        .as_str()
        .unwrap()
        .to_string();
    let other = if actual == "010" { "030" } else { "010" };

    // 1. The central dies mid-morning.
    drop(central_proc.take());
    let mut visits = Vec::new();
    let t = Instant::now();
    let (status, r) = http(&base, "POST", "/console/check", Some(&numbers(&people[1])));
    assert_eq!(status, 202, "{r}");
    assert_eq!(r["offline"], true);
    assert_eq!(r["visit"]["status"], "pending");
    visits.push(r["visit"]["id"].as_str().unwrap().to_string());
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "recorded within the bound"
    );
    assert_eq!(offline_state(&base)["central"], "offline");
    // Staff note what the patient declares: a co-pay that will turn out different.
    let (status, noted) = http(
        &base,
        "POST",
        &format!("/console/offline/{}/note", visits[0]),
        Some(&serde_json::json!({"name": "申告　太郎", "sex": "1", "declared_copay": other})),
    );
    assert_eq!(status, 200, "{noted}");
    // Bad notes and malformed checks change nothing.
    let (status, e) = http(
        &base,
        "POST",
        &format!("/console/offline/{}/note", visits[0]),
        Some(&serde_json::json!({"declared_copay": "015"})),
    );
    assert_eq!((status, e["field"].as_str()), (400, Some("declared_copay")));
    let mut bad = numbers(&people[2]);
    bad["birthdate"] = "19800231".into();
    let (status, e) = http(&base, "POST", "/console/check", Some(&bad));
    assert_eq!(
        (status, e["code"].as_str()),
        (400, Some("invalid_birthdate"))
    );
    // While the breaker is open, a visit is recorded at once.
    let t = Instant::now();
    let (status, r) = http(&base, "POST", "/console/check", Some(&numbers(&people[2])));
    assert_eq!(status, 202);
    visits.push(r["visit"]["id"].as_str().unwrap().to_string());
    assert!(
        t.elapsed() < Duration::from_millis(900),
        "no wait while known offline"
    );
    // A card visit: the PIN is verified on the card and the visit recorded.
    assert_eq!(card_visit(&base, "000001.vcard"), "recorded_offline");
    // Unknown numbers are recorded too (the central will say 該当資格なし).
    let mut unknown = numbers(&people[3]);
    unknown["number"] = "99999999".into();
    let (status, r) = http(&base, "POST", "/console/check", Some(&unknown));
    assert_eq!(status, 202);
    visits.push(r["visit"]["id"].as_str().unwrap().to_string());

    // 2. A slow central: it accepts connections and never answers.
    let silent = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let hold = std::thread::spawn(move || {
        let mut held = Vec::new();
        silent.set_nonblocking(true).unwrap();
        let until = Instant::now() + Duration::from_secs(8);
        while Instant::now() < until {
            if let Ok((s, _)) = silent.accept() {
                held.push(s);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    // The probe keeps the breaker open: visits keep being recorded without waiting.
    let (status, r) = http(&base, "POST", "/console/check", Some(&numbers(&people[0])));
    assert_eq!(status, 202, "{r}");
    visits.push(r["visit"]["id"].as_str().unwrap().to_string());
    assert_eq!(card_visit(&base, "000002.vcard"), "recorded_offline");
    assert_eq!(offline_state(&base)["counts"]["pending"], 6);

    // 3. The terminal is killed with six visits pending, and restarted.
    drop(term.take());
    let (term2, base) = terminal(&data, port);
    term = Some(term2);
    let state = offline_state(&base);
    assert_eq!(
        state["counts"]["pending"], 6,
        "nothing lost across kill -9: {state}"
    );
    assert_eq!(state["visits"][5]["note"]["name"], "申告　太郎");
    hold.join().unwrap();

    // Staff note each number visit's patient (a console visit waits for its note, or a grace
    // period, so that a declared co-pay is never skipped).
    for id in &visits[1..] {
        let (status, v) = http(
            &base,
            "POST",
            &format!("/console/offline/{id}/note"),
            Some(&serde_json::json!({"name": "受付　記録"})),
        );
        assert_eq!(status, 200, "{v}");
    }

    // 4. The network is back: every visit is checked as of its date, once.
    let _central = central(&data, port);
    wait_until("every visit reconciled", 60, || {
        offline_state(&base)["counts"]["pending"] == 0
    });
    let state = offline_state(&base);
    assert_eq!(state["central"], "online");
    assert_eq!(
        state["counts"],
        serde_json::json!({"pending": 0, "confirmed": 4, "discrepancy": 2, "failed": 0, "needs_action": 2}),
        "{state}"
    );
    let by_id = |id: &str| {
        state["visits"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["id"] == id)
            .unwrap()
            .clone()
    };
    let declared = by_id(&visits[0]);
    assert_eq!(declared["status"], "discrepancy");
    assert!(
        declared["problem"]
            .as_str()
            .unwrap()
            .contains("負担割合が異なります"),
        "{declared}"
    );
    let nobody = by_id(&visits[2]);
    assert_eq!(nobody["status"], "discrepancy");
    assert_eq!(nobody["answer"]["validity"], "4");
    for v in state["visits"].as_array().unwrap() {
        assert_eq!(
            v["answer"]["qualification_confirmation_date"]
                .as_str()
                .unwrap(),
            &v["visited_at"].as_str().unwrap()[..8],
            "checked as of the visit's date"
        );
    }
    // Each reconciled visit is one reception, shown to staff; none twice.
    let (_, receptions) = http(&base, "GET", "/console/receptions", None);
    let mut ids: Vec<&str> = receptions
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["offline"]["visit_id"].as_str())
        .collect();
    ids.sort();
    let before = ids.len();
    ids.dedup();
    assert_eq!((before, ids.len()), (6, 6));

    // A note after the check is refused (it would not be compared); staff mark the
    // discrepancies as dealt with.
    let (status, e) = http(
        &base,
        "POST",
        &format!("/console/offline/{}/note", visits[1]),
        Some(&serde_json::json!({"declared_copay": "030"})),
    );
    assert_eq!((status, e["code"].as_str()), (409, Some("visit_settled")));
    for id in [&visits[0], &visits[2]] {
        let (status, v) = http(
            &base,
            "POST",
            &format!("/console/offline/{id}/resolve"),
            Some(&serde_json::json!({"resolution": "差額を徴収し、保険証で確認した"})),
        );
        assert_eq!(status, 200, "{v}");
    }
    let (status, e) = http(
        &base,
        "POST",
        &format!("/console/offline/{}/resolve", visits[1]),
        Some(&serde_json::json!({"resolution": "x"})),
    );
    assert_eq!(
        (status, e["code"].as_str()),
        (409, Some("nothing_to_resolve"))
    );
    let state = offline_state(&base);
    assert_eq!(state["counts"]["needs_action"], 0);

    // Restarting again reconciles nothing twice.
    drop(term.take());
    let (_term3, base) = terminal(&data, port);
    std::thread::sleep(Duration::from_secs(3));
    let again = offline_state(&base);
    assert_eq!(again["counts"], state["counts"]);
    let (_, receptions) = http(&base, "GET", "/console/receptions", None);
    assert_eq!(
        receptions.as_array().unwrap().len(),
        0,
        "a new day's terminal"
    );
}
