//! `kakunin demo`: the whole system on one machine, ready to try.

use anyhow::{Context, Result};
use clap::Args;
use kakunin_api::client::CentralClient;
use kakunin_api::EligibilityCheckRequest;
use kakunin_central::pki::{Ca, Role};
use kakunin_central::{load_tls, open_store, Central};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Args)]
pub struct DemoArgs {
    /// Data directory (created if missing; reused on the next run).
    #[arg(long, default_value = "kakunin-demo")]
    data: PathBuf,
    #[arg(long, default_value_t = 10_000)]
    people: u64,
    #[arg(long, default_value_t = 1)]
    rng_seed: u64,
    /// Address of the central (a free port is used if it is taken).
    #[arg(long, default_value = "127.0.0.1:8443")]
    listen: SocketAddr,
    /// Virtual My Number cards issued to seeded people (DATA/cards/*.vcard, PIN 1234).
    #[arg(long, default_value_t = 5)]
    cards: usize,
    /// Address of the clinic terminal's kiosk and staff console (a free port if taken).
    #[arg(long, default_value = "127.0.0.1:8080")]
    terminal_listen: SocketAddr,
    /// People given 5 years of receipts and checkups besides the card holders (who all get
    /// some).
    #[arg(long, default_value_t = 2_000)]
    medical: u32,
    /// Address of the local card helper the patient portal logs in through (a free port if
    /// taken).
    #[arg(long, default_value = kakunin_terminal::card_helper::DEFAULT_LISTEN)]
    card_helper_listen: SocketAddr,
    /// Address of the operations console (運用コンソール, with the demo's operator
    /// certificate; a free port if taken).
    #[arg(long, default_value = "127.0.0.1:8092")]
    ops_listen: SocketAddr,
    /// The face model (`kakunin face setup`): when installed, the cards get photos and the
    /// kiosk offers 顔認証 with a test camera.
    #[arg(long, env = "KAKUNIN_FACE_MODEL", default_value = crate::face::DEFAULT_MODEL_DIR)]
    face_model: PathBuf,
    /// Start, run the printed checks once (numbers, then a card with consent, then the card
    /// holder's medications), print the answers and stop (for scripts and tests).
    #[arg(long)]
    smoke: bool,
}

/// The PIN of the demo's cards.
const DEMO_PIN: &str = "1234";

/// A person the demo suggests checking (saved so a second run shows the same one).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Suggested {
    insurer_number: String,
    symbol: Option<String>,
    number: String,
    branch: Option<String>,
    birthdate: String,
    name: String,
    validity: String,
}

const DEMO_INSTITUTION: &str = "131000001";
/// The demo clinic's name in the institution registry (the patient portal shows it).
const DEMO_INSTITUTION_NAME: &str = "かくにん内科クリニック（デモ）";

fn institution_code() -> String {
    kakunin_domain::check_digit::complete(DEMO_INSTITUTION).unwrap_or_default()
}

pub async fn run(args: DemoArgs) -> Result<()> {
    let data = &args.data;
    std::fs::create_dir_all(data).with_context(|| format!("creating {}", data.display()))?;
    let ca = if data.join(kakunin_central::pki::CA_CERT).exists() {
        Ca::load(data)?
    } else {
        Ca::init(data, "kakunin demo CA")?
    };
    let ids = data.join("identities");
    std::fs::create_dir_all(&ids)?;
    let institution = ids.join("institution.pem");
    let admin = ids.join("admin.pem");
    // The reception terminal's device key: it attests staff 目視確認 on the kiosk.
    let device = ids.join("terminal.pem");
    for (path, role) in [
        (
            &institution,
            Role::parse("institution", &institution_code())?,
        ),
        (&admin, Role::parse("admin", "demo-operator")?),
        (&device, Role::parse("terminal", &institution_code())?),
    ] {
        if !path.exists() {
            kakunin_central::pki::write_private(path, &ca.issue(&role)?)?;
        }
    }

    let store = open_store(data, &Default::default()).await?;
    store
        .upsert_institution(kakunin_domain::Institution {
            code: kakunin_domain::InstitutionCode::parse(&institution_code())
                .map_err(|e| anyhow::anyhow!("the demo institution code: {e}"))?,
            name: DEMO_INSTITUTION_NAME.into(),
            kind: kakunin_domain::InstitutionKind::MedicalClinic,
            municipality: Some("13101".into()),
        })
        .await?;
    let samples_path = data.join("demo-samples.json");
    let samples: Vec<Suggested> =
        if store.counts().await?.qualifications == 0 || !samples_path.exists() {
            eprintln!("{}人の架空の加入者を登録しています…", args.people);
            let as_of = kakunin_central::service::now().jst_date();
            let out = kakunin_central::seed::seed_store(
                store.clone(),
                kakunin_seed::SeedConfig {
                    people: args.people,
                    rng_seed: args.rng_seed,
                    as_of,
                },
            )
            .await?;
            let samples: Vec<Suggested> = out
                .summary
                .samples
                .iter()
                .map(|s| Suggested {
                    insurer_number: s.insurer_number.clone(),
                    symbol: s.symbol.clone(),
                    number: s.number.clone(),
                    branch: s.branch.clone(),
                    birthdate: s.birthdate.clone(),
                    name: s.name.clone(),
                    validity: s.validity_on_as_of.code().into(),
                })
                .collect();
            std::fs::write(&samples_path, serde_json::to_vec_pretty(&samples)?)?;
            samples
        } else {
            serde_json::from_slice(&std::fs::read(&samples_path)?)?
        };
    let authority_dir = data.join(kakunin_central::AUTHORITY_DIR);
    let authority = tokio::task::spawn_blocking(move || {
        kakunin_authority::Authority::open_or_init(&authority_dir)
    })
    .await??;
    let cards_dir = data.join("cards");
    let holder_path = data.join("demo-card-holder.json");
    let demo_cards_path = data.join("demo-cards.json");
    let mut cards: Vec<PathBuf> = std::fs::read_dir(&cards_dir)
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "vcard"))
                .collect()
        })
        .unwrap_or_default();
    cards.sort();
    if cards.is_empty() && args.cards > 0 {
        eprintln!(
            "マイナンバーカード（仮想）を{}枚発行しています…",
            args.cards
        );
        let seeded = kakunin_central::seed::seed_cards(
            store.clone(),
            authority,
            &cards_dir,
            args.cards,
            DEMO_PIN,
        )
        .await?;
        let issued: Vec<crate::demo_face::DemoCard> = seeded
            .iter()
            .filter_map(|c| {
                Some(crate::demo_face::DemoCard {
                    file: c.path.file_name()?.to_str()?.to_string(),
                    birthdate: c.qualification.birthdate.compact(),
                })
            })
            .collect();
        std::fs::write(&demo_cards_path, serde_json::to_vec_pretty(&issued)?)?;
        eprintln!("5年分のレセプトと特定健診を登録しています…");
        let holders: Vec<_> = seeded.iter().map(|c| c.qualification.clone()).collect();
        let out = kakunin_central::seed::seed_medical(
            store.clone(),
            &holders,
            args.medical,
            kakunin_central::service::now().jst_date(),
            args.rng_seed,
        )
        .await?;
        eprintln!(
            "  {}人分: レセプト {} 件（{} ファイル）、特定健診 {} 件",
            out.patients, out.receipts, out.files, out.checkups
        );
        if let Some(first) = seeded.first() {
            let q = &first.qualification;
            let holder = Suggested {
                insurer_number: q.card.insurer.as_str().into(),
                symbol: q.card.symbol.as_ref().map(|s| s.raw().to_string()),
                number: q.card.number.raw().into(),
                branch: q.card.branch.as_ref().map(|b| b.as_str().to_string()),
                birthdate: q.birthdate.compact(),
                name: q.name.clone(),
                validity: "1".into(),
            };
            std::fs::write(&holder_path, serde_json::to_vec_pretty(&holder)?)?;
        }
        cards = seeded.into_iter().map(|c| c.path).collect();
    }
    let holder: Option<Suggested> = std::fs::read(&holder_path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let person = samples
        .iter()
        .find(|s| s.validity == "1")
        .context("the seed produced no valid sample person")?
        .clone();

    let tls = load_tls(data)?;
    let services = kakunin_central::open_card_services(
        data,
        &kakunin_central::AuthorityConfig::Embedded,
        &tls,
    )
    .await?
    .context("the demo runs the authority in-process")?;
    let central = match Central::bind_with(args.listen, store.clone(), tls.clone()).await {
        Ok(c) => c,
        Err(_) => {
            Central::bind_with(SocketAddr::new(args.listen.ip(), 0), store.clone(), tls).await?
        }
    }
    .with_cards(services, std::time::Duration::from_secs(5))
    .with_ca(Ca::load(data)?)
    .with_limits(kakunin_central::limits::Limits::default())
    .with_audit_key(
        kakunin_central::audit::AuditKey::load_or_create(data)?,
        kakunin_central::audit::CHECKPOINT_EVERY,
    );
    let url = central.url();
    // The patient portal's card helper: the demo's cards, for pages of this central only.
    let helper_listener = match tokio::net::TcpListener::bind(args.card_helper_listen).await {
        Ok(l) => l,
        Err(_) => {
            tokio::net::TcpListener::bind(SocketAddr::new(args.card_helper_listen.ip(), 0)).await?
        }
    };
    let helper_url = format!("http://{}", helper_listener.local_addr()?);
    let helper_config = kakunin_terminal::card_helper::HelperConfig {
        source: kakunin_terminal::card_helper::CardSource::Directory(cards_dir.clone()),
        allowed_origins: vec![
            url.clone(),
            format!("https://localhost:{}", central.addr.port()),
        ],
    };
    let central = central.with_portal_card_helper(helper_url.clone());
    let reader = kakunin_terminal::visit::Reader::Virtual {
        dir: cards_dir.clone(),
    };
    // 顔認証: the cards get faces and the kiosk a test camera, once the model is installed.
    let camera_dir = data.join("camera");
    let camera_spec = format!("test:{}", camera_dir.display());
    let face_ready = if crate::face::installed(&args.face_model) {
        let demo_cards: Vec<crate::demo_face::DemoCard> = std::fs::read(&demo_cards_path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        let (model, cards_at, camera_at) = (
            args.face_model.clone(),
            cards_dir.clone(),
            camera_dir.clone(),
        );
        let today = kakunin_central::service::now().jst_date();
        let given = tokio::task::spawn_blocking(move || {
            crate::demo_face::prepare(&model, &cards_at, &demo_cards, &camera_at, today)
        })
        .await??;
        if given > 0 {
            eprintln!("仮想カード{given}枚に顔写真（券面AP）を入れました。");
        }
        true
    } else {
        false
    };
    let ca_pem = data.join(kakunin_central::pki::CA_CERT);
    let terminal_data = data.join("terminal");
    let setup = |listen| crate::terminal::Setup {
        central: &url,
        ca: &ca_pem,
        identity: &institution,
        device_key: Some(&device),
        reader: reader.clone(),
        listen,
        data: &terminal_data,
        offline_after: std::time::Duration::from_secs(5),
        face: face_ready.then_some((camera_spec.as_str(), args.face_model.as_path())),
    };
    let (terminal, terminal_listener) =
        match crate::terminal::start(setup(args.terminal_listen)).await {
            Ok(t) => t,
            Err(_) => {
                crate::terminal::start(setup(SocketAddr::new(args.terminal_listen.ip(), 0))).await?
            }
        };
    let terminal_url = format!("http://{}", terminal_listener.local_addr()?);
    // The レセコン file interface, as clinic software would use it.
    let files = crate::terminal::start_files(
        &terminal,
        &data.join("oqs"),
        &terminal_data,
        kakunin_formats::oqs::CharacterCode::ShiftJis,
    )?;
    let ops_start = |listen| crate::ops::start(&url, &ca_pem, &admin, listen, Some(data.as_path()));
    let (ops_config, ops_listener) = match ops_start(args.ops_listen).await {
        Ok(o) => o,
        Err(_) => ops_start(SocketAddr::new(args.ops_listen.ip(), 0)).await?,
    };
    let ops_url = format!("http://{}", ops_listener.local_addr()?);
    let exe =
        std::env::current_exe().map_or_else(|_| "kakunin".into(), |p| p.display().to_string());
    let ca_path = data.join(kakunin_central::pki::CA_CERT);
    let command = format!(
        "{exe} check --server {url} --ca {} --identity {}{} --json",
        ca_path.display(),
        institution.display(),
        person_args(&person)
    );

    println!("kakunin demo");
    println!("  central (API):  {url}    health: {url}/health    OpenAPI: {url}/v1/openapi.json");
    println!("  受付端末（患者用、カードリーダーの画面）: {terminal_url}/kiosk");
    println!(
        "  受付スタッフ画面: {terminal_url}/console  （仮想カードの挿入・取り出しもここから）"
    );
    println!("  患者ポータル（マイナンバーカードでログイン、暗証番号 {DEMO_PIN}）: {url}/portal");
    println!(
        "    ブラウザはデモ専用の認証局の証明書について警告します。受け入れるか、{} をブラウザに取り込んでください。",
        data.join(kakunin_central::pki::CA_CERT).display()
    );
    println!(
        "    カード読み取りアプリ（このデモの中で起動済み、仮想カード {}）: {helper_url}",
        cards_dir.display()
    );
    println!(
        "  運用コンソール（利用状況・紐付け確認・災害時モード・医療機関）: {ops_url}/statistics"
    );
    println!(
        "  レセコン連携フォルダ: {}（req/ に OQSsiquc01req_….xml などを置くと res/ に結果、face/ にカード受付の結果）",
        files.folders.root.display()
    );
    if face_ready {
        println!(
            "  顔認証: キオスクで「顔認証を行う」を選ぶと、テスト用カメラ（{}）がカードの持ち主を映します。最後のカードでは別人が映り、照合に失敗します。",
            camera_dir.display()
        );
    } else {
        println!(
            "  顔認証を試すには、一度だけ `cargo run --release -- face setup` を実行してから demo を起動し直してください（モデル: {}）。",
            args.face_model.display()
        );
    }
    println!("  data directory: {}", data.display());
    println!(
        "  certificates:   CA {}  医療機関 {}  運用者 {}",
        ca_path.display(),
        institution.display(),
        admin.display()
    );
    println!();
    println!("資格確認を試す（{}さん、有効な資格）:", person.name);
    println!("  {command}");
    println!();
    if let Some(card) = cards.first() {
        let card_command = format!(
            "{exe} check --server {url} --ca {} --identity {} --card virtual:{} --pin {DEMO_PIN} --json",
            ca_path.display(),
            institution.display(),
            card.display()
        );
        println!("マイナンバーカード（仮想）で資格確認を試す（暗証番号 {DEMO_PIN}）:");
        println!("  {card_command}");
        println!(
            "  カードの情報: {exe} card info --card virtual:{}",
            card.display()
        );
        println!(
            "  ほかのカード: {}（{}枚）",
            cards_dir.display(),
            cards.len()
        );
        println!(
            "  カードを失効させる: {exe} card revoke --data {} --card virtual:{}",
            data.display(),
            card.display()
        );
        println!();
        if let Some(h) = &holder {
            println!(
                "お薬・診療・健診の情報を見る（{}さん。先にカードで資格確認し、同意してください）:",
                h.name
            );
            println!(
                "  {exe} check --server {url} --ca {} --identity {} --card virtual:{} --pin {DEMO_PIN} --consent medications,treatments,surgeries,checkups",
                ca_path.display(),
                institution.display(),
                card.display()
            );
            println!(
                "  {exe} medical medications --server {url} --ca {} --identity {}{}",
                ca_path.display(),
                institution.display(),
                person_args(h)
            );
            println!("  （medications の代わりに treatments、surgeries、checkups も指定できます）");
            println!();
        }
    }
    println!("止めるには Ctrl-C を押してください。");

    let (helper_stop, helper_stopped) = tokio::sync::oneshot::channel::<()>();
    let helper_server = tokio::spawn(kakunin_terminal::card_helper::serve(
        helper_config,
        helper_listener,
        async {
            let _ = helper_stopped.await;
        },
    ));
    let (ops_stop, ops_stopped) = tokio::sync::oneshot::channel::<()>();
    let ops_server = tokio::spawn(kakunin_ops::serve(ops_config, ops_listener, async {
        let _ = ops_stopped.await;
    }));
    let (terminal_stop, terminal_stopped) = tokio::sync::oneshot::channel::<()>();
    let terminal_server = tokio::spawn(kakunin_terminal::http::serve(
        terminal.clone(),
        terminal_listener,
        async {
            let _ = terminal_stopped.await;
        },
    ));
    if args.smoke {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(central.serve(async {
            let _ = rx.await;
        }));
        let client = CentralClient::from_files(&url, &ca_path, Some(&institution))?;
        let answer = client
            .check(&EligibilityCheckRequest {
                insurer_number: person.insurer_number.clone(),
                symbol: person.symbol.clone(),
                number: person.number.clone(),
                branch: person.branch.clone(),
                birthdate: person.birthdate.clone(),
                qualification_confirmation_date: None,
                limit_application_certificate_related_cons_flg: None,
            })
            .await?;
        println!("{}", serde_json::to_string_pretty(&answer)?);
        if let Some(card) = cards.first() {
            let spec = format!("virtual:{}", card.display());
            let consents: Vec<String> = ["medications", "treatments", "surgeries", "checkups"]
                .map(String::from)
                .to_vec();
            let answer = crate::card::check_with_pin(&client, &spec, DEMO_PIN, false, &consents)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("{}", serde_json::to_string_pretty(&answer)?);
            if let Some(h) = &holder {
                let meds = client
                    .medical_information(
                        "medications",
                        &kakunin_api::MedicalInformationRequest {
                            insurer_number: h.insurer_number.clone(),
                            symbol: h.symbol.clone(),
                            number: h.number.clone(),
                            branch: h.branch.clone(),
                            birthdate: h.birthdate.clone(),
                            start_date: None,
                            end_date: None,
                        },
                    )
                    .await?;
                println!("{}", serde_json::to_string_pretty(&meds)?);
            }
        }
        if let Some(card) = cards.get(1).and_then(|c| c.file_name()) {
            kiosk_smoke(&terminal, &card.to_string_lossy()).await?;
        }
        let _ = tx.send(());
        let _ = server.await;
    } else {
        central.serve(crate::shutdown_signal()).await;
    }
    let _ = terminal_stop.send(());
    let _ = terminal_server.await;
    files.stop();
    let _ = helper_stop.send(());
    let _ = ops_stop.send(());
    let _ = ops_server.await;
    let _ = helper_server.await;
    Ok(())
}

/// The kiosk state's screen name and sequence number.
fn screen_of(t: &kakunin_terminal::visit::Terminal) -> (String, u64) {
    let v: serde_json::Value = serde_json::from_str(&t.kiosk_state()).unwrap_or_default();
    (
        v["screen"].as_str().unwrap_or_default().to_string(),
        v["seq"].as_u64().unwrap_or_default(),
    )
}

/// Waits (at most 10 s) for the kiosk to show `screen`; returns its sequence number.
async fn wait_for(t: &kakunin_terminal::visit::Terminal, screen: &str) -> Result<u64> {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (now, seq) = screen_of(t);
        if now == screen {
            return Ok(seq);
        }
        if std::time::Instant::now() > until {
            anyhow::bail!("the kiosk shows {now}, not {screen}: {}", t.kiosk_state());
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// The kiosk's PIN path with every consent, as a patient would go through it: prints the
/// time from placing the card to the completion screen (the patient's typing excluded) and
/// the reception the staff console shows.
async fn kiosk_smoke(
    t: &std::sync::Arc<kakunin_terminal::visit::Terminal>,
    card: &str,
) -> Result<()> {
    use kakunin_terminal::kiosk::{Action, Method};
    let mut machine = std::time::Duration::ZERO;
    let started = std::time::Instant::now();
    anyhow::ensure!(t.place_virtual(Some(card)), "no demo card {card}");
    let seq = wait_for(t, "choose_method").await?;
    machine += started.elapsed();
    t.act(seq, Action::Choose(Method::Pin)).await;
    for (i, d) in DEMO_PIN.bytes().enumerate() {
        let seq = screen_of(t).1;
        let started = std::time::Instant::now();
        t.act(seq, Action::Digit(d - b'0')).await;
        if i + 1 == DEMO_PIN.len() {
            let seq = wait_for(t, "consent_medical").await?;
            machine += started.elapsed();
            let started = std::time::Instant::now();
            t.act(seq, Action::Answer(true)).await;
            if screen_of(t).0 == "consent_checkups" {
                let seq = screen_of(t).1;
                t.act(seq, Action::Answer(true)).await;
            }
            let seq = wait_for(t, "done").await?;
            machine += started.elapsed();
            t.act(seq, Action::WantLimit).await;
            let seq = wait_for(t, "consent_limit").await?;
            t.act(seq, Action::Answer(true)).await;
            wait_for(t, "finished").await?;
        }
    }
    println!("{}", t.kiosk_state());
    let receptions = t.receptions();
    println!("{}", serde_json::to_string_pretty(&receptions.first())?);
    eprintln!(
        "kiosk: card placed → 確認完了 in {} ms (PIN path, typing excluded)",
        machine.as_millis()
    );
    t.place_virtual(None);
    wait_for(t, "waiting_for_card").await?;
    Ok(())
}

/// ` --insurer … --number … --birthdate …` for a person.
fn person_args(p: &Suggested) -> String {
    let mut out = format!(" --insurer {}", p.insurer_number);
    if let Some(s) = &p.symbol {
        out.push_str(&format!(" --symbol {}", shell_word(s)));
    }
    out.push_str(&format!(" --number {}", shell_word(&p.number)));
    if let Some(b) = &p.branch {
        out.push_str(&format!(" --branch {b}"));
    }
    out.push_str(&format!(" --birthdate {}", p.birthdate));
    out
}

/// Quotes a value for a POSIX shell when it has anything but safe characters.
fn shell_word(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}
