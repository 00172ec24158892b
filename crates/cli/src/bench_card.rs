//! `kakunin bench card-check`: card-based checks per second beside the number-based rate, and
//! the raw RSA-2048 verification rate of the crypto library, all in the same run.
//!
//! A card check is a nonce, the card's own work (PIN and signature: on a real card that runs on
//! the card's chip, for about half a second), then the signed proof. Every answer carries the
//! next nonce, so a terminal in steady use makes one request per check; a cold terminal makes
//! two. On a shared 2-core machine the virtual cards' RSA signing would compete with the
//! central for the CPU, so the run times the central's part only: phase 1 fetches N nonces
//! (timed), the virtual cards sign them (not timed), phase 2 submits the N proofs (timed; each
//! answer issues a next nonce). Steady-state card checks per second = N ÷ phase 2; cold ones
//! = N ÷ (phase 1 + phase 2). The number-based rate is measured first, with the same
//! concurrency, against the same central and store. With `--central-pid`, the central's own
//! CPU time per check is reported too.

use crate::bench_common::{self, closed_loop_for, BenchStore};
use crate::card::b64;
use crate::Conn;
use anyhow::{bail, Context, Result};
use clap::Args;
use kakunin_api::{card_challenge, CardCheckRequest, CardProof};
use kakunin_card::{Jpki, VirtualCard};
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Args)]
pub struct CardBenchArgs {
    #[command(flatten)]
    conn: Conn,
    /// The central's data directory (store, and `cards/` unless --cards-dir).
    #[arg(long)]
    data: PathBuf,
    /// Directory of virtual card files (default DATA/cards).
    #[arg(long)]
    cards_dir: Option<PathBuf>,
    /// Cards to use (at most this many files).
    #[arg(long, default_value_t = 1000)]
    cards: usize,
    /// The cards' PIN.
    #[arg(long, default_value = "1234")]
    pin: String,
    /// Card checks to run.
    #[arg(long, default_value_t = 20_000)]
    checks: usize,
    /// Concurrent keep-alive clients.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Seconds of the number-based baseline.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    #[arg(long, env = "KAKUNIN_DATABASE_URL")]
    database: Option<String>,
    /// The central's process id (Linux): also report the central's own CPU time per check,
    /// which the client's share of a shared machine does not distort.
    #[arg(long)]
    central_pid: Option<u32>,
    #[arg(long)]
    json: bool,
}

/// Opens up to `count` virtual cards of `dir` and verifies each one's PIN (the session stays
/// verified, as on a real card until it leaves the reader); returns each card with its
/// 利用者証明用 certificate.
pub(crate) async fn open_cards(
    dir: &std::path::Path,
    count: usize,
    pin: &str,
) -> Result<Vec<(VirtualCard, Vec<u8>)>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {} (seed with --cards first)", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "vcard"))
        .collect();
    files.sort();
    files.truncate(count);
    if files.is_empty() {
        bail!("no card files in {}", dir.display());
    }
    let pin = pin.to_owned();
    tokio::task::spawn_blocking(move || {
        files
            .iter()
            .map(|f| {
                let mut card = VirtualCard::open(f)?;
                let cert = {
                    let mut jpki = Jpki::open(&mut card)?;
                    jpki.verify_auth_pin(&pin)?;
                    jpki.read_auth_certificate()?
                };
                Ok((card, cert))
            })
            .collect::<Result<Vec<_>>>()
    })
    .await?
}

/// The card's PIN proof for a card check over `nonce` (base64 signature of the challenge).
pub(crate) fn card_proof(jpki: &mut Jpki<'_>, nonce: &str) -> Result<String> {
    let hash: [u8; 32] = Sha256::digest(card_challenge(nonce)).into();
    Ok(b64(&jpki.sign_sha256(&hash)?))
}

/// The card-check proofs for `nonces`: nonce k is signed by card k mod the number of cards,
/// on every core (base64 signatures, in the nonces' order).
pub(crate) async fn sign_nonces(
    cards: Vec<(VirtualCard, Vec<u8>)>,
    nonces: Arc<Vec<String>>,
) -> Result<Vec<String>> {
    let n_cards = cards.len();
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut by_worker: Vec<Vec<(usize, VirtualCard)>> = (0..workers).map(|_| Vec::new()).collect();
    for (i, (card, _)) in cards.into_iter().enumerate() {
        by_worker[i % workers].push((i, card));
    }
    let mut handles = Vec::new();
    for mine in by_worker {
        let nonces = nonces.clone();
        handles.push(tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            for (ci, mut card) in mine {
                let mut jpki = Jpki::open(&mut card)?;
                for (k, nonce) in nonces.iter().enumerate().skip(ci).step_by(n_cards) {
                    out.push((k, card_proof(&mut jpki, nonce)?));
                }
            }
            Ok::<_, anyhow::Error>(out)
        }));
    }
    let mut signatures: Vec<String> = vec![String::new(); nonces.len()];
    for h in handles {
        for (k, sig) in h.await?? {
            signatures[k] = sig;
        }
    }
    Ok(signatures)
}

/// Runs `jobs` with `concurrency` workers; returns the results in order and the elapsed time.
async fn closed_loop<T, F, Fut>(n: usize, concurrency: usize, job: F) -> (Vec<Option<T>>, Duration)
where
    T: Send + 'static,
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Option<T>> + Send,
{
    let job = Arc::new(job);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (job, next) = (job.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return out;
                }
                out.push((i, job(i).await));
            }
        }));
    }
    let mut results: Vec<Option<T>> = (0..n).map(|_| None).collect();
    for t in tasks {
        for (i, r) in t.await.unwrap_or_default() {
            results[i] = r;
        }
    }
    (results, started.elapsed())
}

pub async fn run(args: CardBenchArgs) -> Result<()> {
    let BenchStore {
        store,
        people,
        samples,
    } = bench_common::open_store(&args.data, args.database.as_deref()).await?;
    let dir = args
        .cards_dir
        .clone()
        .unwrap_or_else(|| args.data.join("cards"));
    let cards = open_cards(&dir, args.cards, &args.pin).await?;
    let n_cards = cards.len();
    let certs: Arc<Vec<String>> = Arc::new(cards.iter().map(|(_, c)| b64(c)).collect());

    // The crypto library's raw RSA-2048 verification rate (one core).
    let rsa_verify_per_second =
        tokio::task::spawn_blocking(|| bench_common::rsa_verify_rate(Duration::from_secs(2)))
            .await??;

    let central = bench_common::Server::new(args.central_pid);
    let client = args.conn.client()?;
    client
        .health()
        .await
        .context("the central does not answer /health")?;

    // Baseline: number-based checks, same concurrency, same central.
    let mark = central.mark();
    let (c, q) = (client.clone(), samples.clone());
    let numbers = closed_loop_for(
        args.concurrency,
        Duration::from_secs(args.seconds.max(1)),
        move |i| {
            let (c, q) = (c.clone(), crate::bench::request(&q[i % q.len()]));
            async move { c.check(&q).await.is_ok() }
        },
    )
    .await;
    let number_rate = numbers.per_second;
    let cpu_numbers = central
        .since(mark, numbers.requests)
        .map(|u| u.cpu_us_per_request / 1e6);

    // Warm the central's certificate and owner caches once per card (first sight of a card
    // asks the authority, as in real life once per card).
    let logged_before = store.access_log_len().await?;

    // Phase 1: nonces.
    let cpu_before_nonces = central.cpu_seconds();
    let c1 = client.clone();
    let (nonces, t_nonces) = closed_loop(args.checks, args.concurrency, move |_| {
        let c = c1.clone();
        async move { c.card_nonce().await.ok().map(|n| n.nonce) }
    })
    .await;
    let cpu_nonces = central
        .cpu_seconds()
        .zip(cpu_before_nonces)
        .map(|(a, b)| a - b);
    let nonces: Vec<String> = nonces.into_iter().flatten().collect();
    if nonces.len() != args.checks {
        bail!(
            "only {} of {} nonces were issued",
            nonces.len(),
            args.checks
        );
    }

    // The cards sign (their own chips in real life; not timed).
    let signing_started = Instant::now();
    let nonces = Arc::new(nonces);
    let signatures = sign_nonces(cards, nonces.clone()).await?;
    let signing = signing_started.elapsed();
    let signatures = Arc::new(signatures);

    // Phase 2: the proofs.
    let cpu_before_proofs = central.cpu_seconds();
    let (c2, certs2, nonces2, sigs2) = (
        client.clone(),
        certs.clone(),
        nonces.clone(),
        signatures.clone(),
    );
    let (answers, t_checks) = closed_loop(args.checks, args.concurrency, move |k| {
        let c = c2.clone();
        let request = CardCheckRequest {
            certificate: certs2[k % n_cards].clone(),
            nonce: nonces2[k].clone(),
            proof: CardProof::Pin {
                signature: sigs2[k].clone(),
            },
            limit_application_certificate_related_cons_flg: None,
            consents: vec![],
        };
        async move { c.card_check(&request).await.ok().map(|a| a.validity) }
    })
    .await;
    let cpu_proofs = central
        .cpu_seconds()
        .zip(cpu_before_proofs)
        .map(|(a, b)| a - b);
    let answered = answers.iter().filter(|a| a.is_some()).count();
    let cpu_cards = cpu_nonces
        .zip(cpu_proofs)
        .map(|(n, p)| (n + p) / answered.max(1) as f64);
    let valid = answers.iter().filter(|a| a.as_deref() == Some("1")).count();
    let logged = store.access_log_len().await? - logged_before;
    let cold_rate = answered as f64 / (t_nonces + t_checks).as_secs_f64();
    let card_rate = answered as f64 / t_checks.as_secs_f64();
    let cpu_cold = cpu_cards;
    let cpu_cards = cpu_proofs.map(|p| p / answered.max(1) as f64);
    let out = serde_json::json!({
        "people": people,
        "cards": n_cards,
        "concurrency": args.concurrency,
        "number_checks_per_second": number_rate,
        "card_checks": args.checks,
        "card_checks_answered": answered,
        "card_checks_valid": valid,
        "nonces_per_second": args.checks as f64 / t_nonces.as_secs_f64(),
        "card_checks_per_second": card_rate,
        "ratio_card_to_number": card_rate / number_rate,
        "cold_card_checks_per_second": cold_rate,
        "ratio_cold_card_to_number": cold_rate / number_rate,
        "virtual_card_signing_seconds": signing.as_secs_f64(),
        "rsa2048_verify_per_second_one_core": rsa_verify_per_second,
        "central_cpu_us_per_number_check": cpu_numbers.map(|c| c * 1e6),
        "central_cpu_us_per_card_check": cpu_cards.map(|c| c * 1e6),
        "central_cpu_us_per_cold_card_check": cpu_cold.map(|c| c * 1e6),
        "central_capacity_ratio_card_to_number": cpu_numbers.zip(cpu_cards).map(|(n, c)| n / c),
        "central_capacity_ratio_cold_card_to_number": cpu_numbers.zip(cpu_cold).map(|(n, c)| n / c),
        "access_log_entries_written": logged,
        "central_memory": central.memory_mb().map(|(rss, peak)| serde_json::json!({
            "rss_mb": rss, "peak_rss_mb": peak,
        })),
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "store: {people} qualifications, {n_cards} cards, {} clients",
            args.concurrency
        );
        println!("number-based checks: {number_rate:.0}/s");
        println!(
            "card-based checks: {card_rate:.0}/s steady (one request each), {cold_rate:.0}/s cold (nonce + proof); {answered} answered, {valid} valid; nonces {:.0}/s; the cards' signing took {:.1} s, not timed",
            args.checks as f64 / t_nonces.as_secs_f64(),
            signing.as_secs_f64()
        );
        println!(
            "card ÷ number: {:.3} steady, {:.3} cold",
            card_rate / number_rate,
            cold_rate / number_rate
        );
        println!("ring RSA-2048 verifications: {rsa_verify_per_second:.0}/s on one core");
        if let (Some(n), Some(c)) = (cpu_numbers, cpu_cards) {
            println!(
                "central CPU per check: numbers {:.0} µs, card {:.0} µs steady ({:.0} µs cold); capacity card ÷ number: {:.3} steady, {:.3} cold",
                n * 1e6,
                c * 1e6,
                cpu_cold.unwrap_or(0.0) * 1e6,
                n / c,
                n / cpu_cold.unwrap_or(c)
            );
        }
        println!("access-log entries written: {logged} for {answered} card checks");
        if let Some((rss, peak)) = central.memory_mb() {
            println!("central memory: RSS {rss:.0} MB, peak {peak:.0} MB");
        }
    }
    Ok(())
}
