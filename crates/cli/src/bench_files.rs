//! `kakunin bench files`: the レセコン file interface end to end, in one process: a central on
//! loopback with a seeded store (SQLite in a temporary directory, or an empty PostgreSQL
//! database with `--database`), a terminal with `--files` on a temporary folder, and
//! model レセコン (`files::client::Recekon`, one thread each) that write a request beside
//! `req/`, move it in, and wait for the result in `res/`. Reports `OQSsiquc01` round trips
//! (one at a time, then several clients in a closed loop: files/s, p50/p99 from the request
//! file appearing to the result file read), a burst of files dropped at once, and a 一括照会
//! from upload to the last result downloaded.

use anyhow::{bail, Context, Result};
use clap::Args;
use kakunin_central::pki::{Ca, Role};
use kakunin_formats::oqs::{CharacterCode, Element, Family};
use kakunin_store::CardQuery;
use kakunin_terminal::files::client::Recekon;
use kakunin_terminal::files::{Files, FilesConfig};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Args, Clone)]
pub struct FilesBenchArgs {
    /// People in the seeded population.
    #[arg(long, default_value_t = 2_000)]
    people: u64,
    /// Round trips one at a time (unloaded latency).
    #[arg(long, default_value_t = 300)]
    sequential: usize,
    /// Concurrent レセコン clients in the throughput run.
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// Seconds of the throughput run.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Request files dropped into req/ at once.
    #[arg(long, default_value_t = 2_000)]
    burst: usize,
    /// Patients in the 一括照会.
    #[arg(long, default_value_t = 1_000)]
    bulk: usize,
    /// A PostgreSQL database (postgres://…) instead of SQLite in a temporary directory; it
    /// must be empty, since the run seeds its own people.
    #[arg(long, env = "KAKUNIN_DATABASE_URL")]
    database: Option<String>,
    /// Print the figures as one JSON object.
    #[arg(long)]
    json: bool,
}

const TIMEOUT: Duration = Duration::from_secs(120);

fn request(q: &CardQuery, institution: &str) -> Element {
    Element::new("XmlMsg")
        .push(
            Element::new("MessageHeader")
                .child("MedicalInstitutionCode", institution)
                .child("ArbitraryFileIdentifier", "bench"),
        )
        .push(Element::new("MessageBody").push(search(q)))
}

fn search(q: &CardQuery) -> Element {
    Element::new("QualificationConfirmSearchInfo")
        .child("InsurerNumber", q.insurer.as_str())
        .child(
            "InsuredCardSymbol",
            (!q.symbol_key.is_empty()).then_some(q.symbol_key.as_str()),
        )
        .child("InsuredIdentificationNumber", &q.number_key)
        .child("InsuredBranchNumber", q.branch.as_ref().map(|b| b.as_str()))
        .child("Birthdate", q.birthdate.compact())
}

#[derive(Debug, serde::Serialize)]
struct Latency {
    files: usize,
    errors: usize,
    seconds: f64,
    files_per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

fn latency(mut ms: Vec<f64>, errors: usize, elapsed: Duration) -> Latency {
    ms.sort_by(f64::total_cmp);
    let at = |p: f64| {
        if ms.is_empty() {
            0.0
        } else {
            ms[((ms.len() as f64 - 1.0) * p).round() as usize]
        }
    };
    Latency {
        files: ms.len(),
        errors,
        seconds: elapsed.as_secs_f64(),
        files_per_second: ms.len() as f64 / elapsed.as_secs_f64(),
        p50_ms: at(0.5),
        p99_ms: at(0.99),
        max_ms: ms.last().copied().unwrap_or(0.0),
    }
}

/// One round trip; its time in ms, or `None` for anything but a normal answer.
fn round_trip(client: &Recekon, message: &Element, code: CharacterCode) -> Option<f64> {
    let t = Instant::now();
    let reply = client
        .call(Family::Eligibility, message, code, TIMEOUT)
        .ok()?;
    (reply.segment() == Some("1")).then(|| t.elapsed().as_secs_f64() * 1e3)
}

pub async fn run(args: FilesBenchArgs) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let data = dir.path();
    let ca = Ca::init(data, "kakunin bench CA")?;
    let institution =
        kakunin_domain::check_digit::complete("131000001").context("institution code")?;
    let identity = data.join("institution.pem");
    kakunin_central::pki::write_private(
        &identity,
        &ca.issue(&Role::parse("institution", &institution)?)?,
    )?;
    let store = crate::bench_common::open_empty_store(data, args.database.as_deref()).await?;
    let as_of = kakunin_central::service::now().jst_date();
    kakunin_central::seed::seed_store(
        store.clone(),
        kakunin_seed::SeedConfig {
            people: args.people,
            rng_seed: 1,
            as_of,
        },
    )
    .await?;
    let samples = Arc::new(store.sample_queries(5_000).await?);
    if samples.len() < 10 {
        bail!("the seeded store has too few people");
    }
    let tls = kakunin_central::load_tls(data)?;
    let central =
        kakunin_central::Central::bind_with("127.0.0.1:0".parse()?, store.clone(), tls).await?;
    let url = central.url();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(central.serve(async {
        let _ = stopped.await;
    }));
    let cards = data.join("cards");
    std::fs::create_dir_all(&cards)?;
    let terminal_data = data.join("terminal");
    let (terminal, _listener) = crate::terminal::start(crate::terminal::Setup {
        central: &url,
        ca: &data.join(kakunin_central::pki::CA_CERT),
        identity: &identity,
        device_key: None,
        reader: kakunin_terminal::visit::Reader::Virtual { dir: cards },
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        data: &terminal_data,
        offline_after: Duration::from_secs(5),
        face: None,
    })
    .await?;
    let oqs = data.join("oqs");
    let files = Files::start(
        terminal.clone(),
        FilesConfig {
            dir: oqs.clone(),
            data: Some(terminal_data.clone()),
            institution: institution.clone(),
            encoding: CharacterCode::Utf8,
            watch: Default::default(),
        },
    )?;
    let figures = {
        let (oqs, institution, samples, args) = (
            oqs.clone(),
            institution.clone(),
            samples.clone(),
            args.clone(),
        );
        tokio::task::spawn_blocking(move || measure(&args, &oqs, &institution, &samples)).await??
    };
    files.stop();
    let _ = stop.send(());
    let _ = server.await;
    let backend = if args.database.is_some() {
        "postgres"
    } else {
        "sqlite"
    };
    let json = serde_json::json!({
        "people": args.people,
        "store": backend,
        "machine_cores": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "sequential": figures.sequential,
        "clients": args.clients,
        "throughput": figures.throughput,
        "burst": figures.burst,
        "bulk": figures.bulk,
    });
    if figures.json {
        println!("{}", serde_json::to_string_pretty(&json)?);
        return Ok(());
    }
    let row = |name: &str, l: &Latency| {
        println!(
            "{name:<34} {:>7} {:>9.0} {:>9.2} {:>9.2} {:>9.2} {:>6}",
            l.files, l.files_per_second, l.p50_ms, l.p99_ms, l.max_ms, l.errors
        )
    };
    println!(
        "OQSsiquc01 round trips through the folders ({} people, central on loopback, {backend})",
        args.people
    );
    println!(
        "{:<34} {:>7} {:>9} {:>9} {:>9} {:>9} {:>6}",
        "run", "files", "files/s", "p50 ms", "p99 ms", "max ms", "errors"
    );
    row("one at a time", &figures.sequential);
    row(
        &format!("{} clients, closed loop", json["clients"]),
        &figures.throughput,
    );
    row(
        &format!("{} files dropped at once", figures.burst.files),
        &figures.burst,
    );
    let b = &figures.bulk;
    println!(
        "一括照会 of {} patients: upload answered in {:.0} ms, all results downloaded {:.2} s after the upload ({} downloads, {} normal, {} errors)",
        b.items, b.upload_ms, b.end_to_end_s, b.downloads, b.normal, b.errors
    );
    Ok(())
}

#[derive(Debug, serde::Serialize)]
struct Bulk {
    items: usize,
    upload_ms: f64,
    end_to_end_s: f64,
    downloads: usize,
    normal: usize,
    errors: usize,
}

struct Figures {
    sequential: Latency,
    throughput: Latency,
    burst: Latency,
    bulk: Bulk,
    json: bool,
}

fn measure(
    args: &FilesBenchArgs,
    oqs: &Path,
    institution: &str,
    samples: &Arc<Vec<CardQuery>>,
) -> Result<Figures> {
    let client = Recekon::new(oqs)?;
    let message = |i: usize| request(&samples[i % samples.len()], institution);
    let code = |i: usize| {
        if i % 2 == 0 {
            CharacterCode::Utf8
        } else {
            CharacterCode::ShiftJis
        }
    };
    // Warm-up: connections to the central, the first files.
    for i in 0..20 {
        round_trip(&client, &message(i), code(i)).context("warm-up round trip failed")?;
    }

    let started = Instant::now();
    let (mut ms, mut errors) = (Vec::new(), 0);
    for i in 0..args.sequential {
        match round_trip(&client, &message(i), code(i)) {
            Some(t) => ms.push(t),
            None => errors += 1,
        }
    }
    let sequential = latency(ms, errors, started.elapsed());

    let seconds = Duration::from_secs(args.seconds.max(1));
    let started = Instant::now();
    let results: Vec<(Vec<f64>, usize)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..args.clients.max(1))
            .map(|c| {
                s.spawn(move || -> Result<(Vec<f64>, usize)> {
                    let client = Recekon::new(oqs)?;
                    let (mut ms, mut errors, mut i) = (Vec::new(), 0, c * 7919);
                    while started.elapsed() < seconds {
                        match round_trip(&client, &message(i), code(i)) {
                            Some(t) => ms.push(t),
                            None => errors += 1,
                        }
                        i += 1;
                    }
                    Ok((ms, errors))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Ok((Vec::new(), 1))))
            .collect::<Result<_>>()
    })?;
    let elapsed = started.elapsed();
    let (ms, errors) = results
        .into_iter()
        .fold((Vec::new(), 0), |(mut all, e), (ms, n)| {
            all.extend(ms);
            (all, e + n)
        });
    let throughput = latency(ms, errors, elapsed);

    // A burst: every file written first, then every result awaited (latency from each file's
    // own drop to its result).
    let started = Instant::now();
    let mut sent = Vec::with_capacity(args.burst);
    for i in 0..args.burst {
        sent.push((
            client.send(Family::Eligibility, &message(i), code(i))?,
            Instant::now(),
        ));
    }
    let (mut ms, mut errors) = (Vec::new(), 0);
    for (name, at) in &sent {
        match client.wait(name, TIMEOUT) {
            Ok(r) if r.segment() == Some("1") => ms.push(at.elapsed().as_secs_f64() * 1e3),
            _ => errors += 1,
        }
    }
    let burst = latency(ms, errors, started.elapsed());

    // 一括照会: upload, then download every 100 ms until done.
    let items: Vec<Element> = (0..args.bulk)
        .map(|i| search(&samples[i % samples.len()]))
        .collect();
    let upload = Element::new("XmlMsg")
        .push(Element::new("MessageHeader").child("MedicalInstitutionCode", institution))
        .push(Element::new("MessageBody").push_all(items));
    let started = Instant::now();
    let accepted = client.call(
        Family::BulkEligibility,
        &upload,
        CharacterCode::ShiftJis,
        TIMEOUT,
    )?;
    let upload_ms = started.elapsed().as_secs_f64() * 1e3;
    let number = accepted
        .value("MessageHeader/ReceptionNumber")
        .with_context(|| format!("the upload was refused: {:?}", accepted.error_code()))?
        .to_string();
    let download = Element::new("XmlMsg")
        .push(Element::new("MessageHeader").child("MedicalInstitutionCode", institution))
        .push(Element::new("MessageBody").child("ReceptionNumber", &number));
    let mut downloads = 0;
    let done = loop {
        downloads += 1;
        let r = client.call(
            Family::BulkEligibilityResult,
            &download,
            CharacterCode::ShiftJis,
            TIMEOUT,
        )?;
        match r.segment() {
            Some("1") => break r,
            Some("2") => std::thread::sleep(Duration::from_millis(100)),
            other => bail!("the bulk download failed: {other:?} {:?}", r.error_code()),
        }
        if started.elapsed() > TIMEOUT {
            bail!("the 一括照会 did not finish in {TIMEOUT:?}");
        }
    };
    let end_to_end_s = started.elapsed().as_secs_f64();
    let units = done.all("MessageBody/BulkConfirmUnit").len();
    if units != args.bulk {
        bail!("{units} results for {} patients", args.bulk);
    }
    let count = |path: &str| {
        done.value(path)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0usize)
    };
    Ok(Figures {
        sequential,
        throughput,
        burst,
        bulk: Bulk {
            items: args.bulk,
            upload_ms,
            end_to_end_s,
            downloads,
            normal: count("MessageHeader/NumberOfNormalProcessing"),
            errors: count("MessageHeader/NumberOfError"),
        },
        json: args.json,
    })
}
