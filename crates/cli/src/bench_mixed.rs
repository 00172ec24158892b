//! `kakunin bench mixed`: reception traffic shaped like a clinic morning, and `kakunin bench
//! batch`: 一括照会 uploads processed while the central serves.
//!
//! A morning at the front desk is mostly card checks (マイナ保険証, PIN), some checks by the
//! numbers of a 資格確認書, and, for patients who consented at the reader, a look at their
//! drug history right after the check. `mixed` sends such receptions in an open loop at a
//! target rate (so a slow answer cannot hide the queue behind it) and reports each kind's
//! latency and the reception as a whole. The virtual cards' RSA signing would compete with the
//! central for a shared machine's cores, so every card proof is signed before the timed phase,
//! over nonces fetched then (a nonce lives 5 minutes); the consents behind the views are
//! given once per card before it too, through the real reader flow (check, then
//! `/v1/card-consents` over the answer's next nonce).

use crate::bench::request;
use crate::bench_card::{card_proof, open_cards, sign_nonces};
use crate::bench_common::{self, open_loop, usage_line, BenchStore, Latency, Server};
use crate::card::b64;
use crate::Conn;
use anyhow::{bail, Context, Result};
use clap::Args;
use kakunin_api::client::CentralClient;
use kakunin_api::{
    BatchInquiryRequest, CardCheckRequest, CardConsentRequest, CardProof, MedicalInformationRequest,
};
use kakunin_card::Jpki;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Args)]
pub struct MixedBenchArgs {
    #[command(flatten)]
    conn: Conn,
    /// The central's data directory (store, sample people, and `cards/` unless --cards-dir).
    #[arg(long)]
    data: PathBuf,
    /// The central's database when it is not SQLite in the data directory (postgres://…).
    #[arg(long, env = "KAKUNIN_DATABASE_URL")]
    database: Option<String>,
    /// Directory of virtual card files (default DATA/cards).
    #[arg(long)]
    cards_dir: Option<PathBuf>,
    /// Cards to use (at most this many files).
    #[arg(long, default_value_t = 1000)]
    cards: usize,
    /// The cards' PIN.
    #[arg(long, default_value = "1234")]
    pin: String,
    /// Receptions per second (open loop). 2,000/s is the national peak.
    #[arg(long, default_value_t = 2000)]
    rate: u64,
    /// Seconds of the timed phase.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Share of receptions made with the card (the rest by the numbers of a 資格確認書).
    #[arg(long, default_value_t = 0.7)]
    card_share: f64,
    /// Share of card receptions followed by a view of the drug history (consented at the
    /// reader).
    #[arg(long, default_value_t = 0.15)]
    view_share: f64,
    /// The central's process id (Linux): also report its CPU per reception and its memory.
    #[arg(long)]
    central_pid: Option<u32>,
    /// Print the figures as one JSON object.
    #[arg(long)]
    json: bool,
}

/// What one reception does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Number,
    Card,
    CardAndView,
}

/// The morning's receptions in order: a fixed interleaving (a low-discrepancy sequence, so
/// every second has its share of each kind) rather than random draws.
fn plan(n: usize, card_share: f64, view_share: f64) -> Vec<Kind> {
    let golden = 0.618_033_988_749_895_f64;
    (0..n)
        .map(|i| {
            let u = (i as f64 * golden).fract();
            if u >= card_share {
                Kind::Number
            } else if u < card_share * view_share {
                Kind::CardAndView
            } else {
                Kind::Card
            }
        })
        .collect()
}

/// Latencies (µs) and errors of number checks, card checks and views.
type PerKind = [(Vec<u64>, usize); 3];

/// A card holder's numbers as the check answered them (what a terminal passes on to a view).
#[derive(Clone)]
struct Holder {
    certificate: String,
    view: MedicalInformationRequest,
}

pub async fn run_mixed(args: MixedBenchArgs) -> Result<()> {
    if !(0.0..=1.0).contains(&args.card_share) || !(0.0..=1.0).contains(&args.view_share) {
        bail!("--card-share and --view-share are between 0 and 1");
    }
    let BenchStore {
        store,
        people,
        samples,
    } = bench_common::open_store(&args.data, args.database.as_deref()).await?;
    let client = args.conn.client()?;
    client
        .health()
        .await
        .context("the central does not answer /health")?;

    // One second more than the run: the open loop may start a few more than rate × seconds,
    // and a proof must never be sent twice.
    let n = (args.rate * (args.seconds.max(1) + 1)) as usize;
    let kinds = plan(n, args.card_share, args.view_share);
    let card_receptions = kinds.iter().filter(|k| **k != Kind::Number).count();

    // Setup (not timed): each card is checked once and gives its drug-history consent through
    // the reader flow; then every card reception's proof is signed over a fresh nonce.
    let dir = args
        .cards_dir
        .clone()
        .unwrap_or_else(|| args.data.join("cards"));
    let setup_started = Instant::now();
    let mut cards = open_cards(&dir, args.cards, &args.pin).await?;
    let mut holders = Vec::with_capacity(cards.len());
    for (card, cert) in cards.iter_mut() {
        let certificate = b64(cert);
        let nonce = client.card_nonce().await?.nonce;
        let signature = sign_one(card, &nonce)?;
        let answer = client
            .card_check(&CardCheckRequest {
                certificate: certificate.clone(),
                nonce,
                proof: CardProof::Pin { signature },
                limit_application_certificate_related_cons_flg: None,
                consents: vec![],
            })
            .await?;
        let (Some(q), Some(next)) = (answer.results.first(), answer.next_nonce) else {
            bail!("a seeded card's check found no qualification");
        };
        let signature = sign_one(card, &next.nonce)?;
        client
            .card_consents(&CardConsentRequest {
                certificate: certificate.clone(),
                nonce: next.nonce,
                proof: CardProof::Pin { signature },
                consents: vec!["medications".into()],
            })
            .await?;
        holders.push(Holder {
            certificate,
            view: MedicalInformationRequest {
                insurer_number: q.insurer_number.clone(),
                symbol: q.symbol.clone(),
                number: q.number.clone(),
                branch: q.branch.clone(),
                birthdate: q.birthdate.clone(),
                start_date: None,
                end_date: None,
            },
        });
    }
    let mut nonces = Vec::with_capacity(card_receptions);
    for _ in 0..card_receptions {
        nonces.push(client.card_nonce().await?.nonce);
    }
    let nonces = Arc::new(nonces);
    let n_cards = cards.len();
    let signatures = Arc::new(sign_nonces(cards, nonces.clone()).await?);
    let setup = setup_started.elapsed();
    let logged_before = store.access_log_len().await?;

    // The morning.
    let per_kind: Arc<Mutex<PerKind>> = Arc::default();
    let first_error: Arc<Mutex<Option<String>>> = Arc::default();
    let holders = Arc::new(holders);
    let server = Server::new(args.central_pid);
    let mark = server.mark();
    let started = Instant::now();
    let mut card_k = 0usize;
    let receptions = open_loop(
        args.rate as f64,
        Duration::from_secs(args.seconds.max(1)),
        |i| {
            let kind = kinds[i % kinds.len()];
            let c = client.clone();
            let per_kind = per_kind.clone();
            let first_error = first_error.clone();
            let card = (kind != Kind::Number).then(|| {
                let k = card_k % nonces.len().max(1);
                card_k += 1;
                // Nonce k was signed by card k mod the number of cards.
                let holder = holders[k % n_cards].clone();
                let check = CardCheckRequest {
                    certificate: holder.certificate.clone(),
                    nonce: nonces[k].clone(),
                    proof: CardProof::Pin {
                        signature: signatures[k].clone(),
                    },
                    limit_application_certificate_related_cons_flg: None,
                    consents: vec![],
                };
                (check, holder.view)
            });
            let number = request(&samples[i % samples.len()]);
            async move {
                let t = Instant::now();
                let record = |slot: usize, ok: bool, since: Instant| {
                    let mut p = per_kind.lock().unwrap_or_else(|e| e.into_inner());
                    if ok {
                        p[slot].0.push(since.elapsed().as_micros() as u64);
                    } else {
                        p[slot].1 += 1;
                    }
                };
                match (kind, card) {
                    (Kind::Number, _) | (_, None) => {
                        let ok = succeeded(&first_error, c.check(&number).await);
                        record(0, ok, t);
                        ok
                    }
                    (Kind::Card, Some((check, _))) => {
                        let ok = succeeded(&first_error, c.card_check(&check).await);
                        record(1, ok, t);
                        ok
                    }
                    // The reception lasts until the view is shown; the check's own latency
                    // ends with its answer.
                    (Kind::CardAndView, Some((check, view))) => {
                        let checked = succeeded(&first_error, c.card_check(&check).await);
                        record(1, checked, t);
                        if !checked {
                            return false;
                        }
                        let t_view = Instant::now();
                        let viewed = succeeded(
                            &first_error,
                            c.medical_information("medications", &view).await,
                        );
                        record(2, viewed, t_view);
                        viewed
                    }
                }
            }
        },
    )
    .await;
    let elapsed = started.elapsed();
    let usage = server.since(mark, receptions.requests);
    let logged = store.access_log_len().await? - logged_before;
    let first_error = first_error.lock().unwrap_or_else(|e| e.into_inner()).take();
    let [numbers, checks, views] = {
        let mut p = per_kind.lock().unwrap_or_else(|e| e.into_inner());
        std::mem::take(&mut *p).map(|(lat, errors)| Latency::from_micros(lat, errors, elapsed))
    };

    if args.json {
        let out = serde_json::json!({
            "people": people,
            "cards": n_cards,
            "target_per_second": args.rate,
            "seconds": args.seconds,
            "card_share": args.card_share,
            "view_share": args.view_share,
            "setup_seconds": setup.as_secs_f64(),
            "receptions": receptions,
            "number_checks": numbers,
            "card_checks": checks,
            "drug_history_views": views,
            "central": usage,
            "access_log_entries_written": logged,
            "first_error": first_error,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "store: {people} qualifications, {n_cards} cards; setup (consents, {card_receptions} proofs signed) {:.1} s, not timed",
            setup.as_secs_f64()
        );
        println!(
            "clinic morning at {}/s for {} s ({:.0} % card, {:.0} % of those viewing drug history):",
            args.rate,
            args.seconds,
            args.card_share * 100.0,
            args.view_share * 100.0
        );
        println!("  receptions:         {}", receptions.line());
        println!("  number checks:      {}", numbers.line());
        println!("  card checks:        {}", checks.line());
        println!("  drug-history views: {}", views.line());
        println!("  {}", usage_line(&usage));
        println!(
            "  access-log entries written: {logged} for {} checks and {} views",
            numbers.requests + checks.requests,
            views.requests
        );
        if let Some(e) = &first_error {
            println!("  first error: {e}");
        }
    }
    Ok(())
}

/// True for an answer; for an error, false, keeping the run's first error to print.
fn succeeded<T, E: std::fmt::Display>(
    first_error: &Mutex<Option<String>>,
    r: Result<T, E>,
) -> bool {
    match r {
        Ok(_) => true,
        Err(e) => {
            let mut first = first_error.lock().unwrap_or_else(|e| e.into_inner());
            first.get_or_insert_with(|| e.to_string());
            false
        }
    }
}

fn sign_one(card: &mut kakunin_card::VirtualCard, nonce: &str) -> Result<String> {
    card_proof(&mut Jpki::open(card)?, nonce)
}

#[derive(Args)]
pub struct BatchBenchArgs {
    #[command(flatten)]
    conn: Conn,
    /// The central's data directory (for sample people).
    #[arg(long)]
    data: PathBuf,
    /// The central's database when it is not SQLite in the data directory (postgres://…).
    #[arg(long, env = "KAKUNIN_DATABASE_URL")]
    database: Option<String>,
    /// 一括照会 uploads to send at once.
    #[arg(long, default_value_t = 8)]
    batches: usize,
    /// Items per upload (1–5,000).
    #[arg(long, default_value_t = 5000)]
    items: usize,
    /// Number checks per second sent beside the uploads (open loop; 0 for none): how much
    /// the uploads slow the front desk.
    #[arg(long, default_value_t = 500)]
    rate: u64,
    /// The central's process id (Linux): also report its CPU per item and its memory.
    #[arg(long)]
    central_pid: Option<u32>,
    /// Print the figures as one JSON object.
    #[arg(long)]
    json: bool,
}

pub async fn run_batch(args: BatchBenchArgs) -> Result<()> {
    if !(1..=5000).contains(&args.items) {
        bail!("--items is between 1 and 5,000");
    }
    let samples = bench_common::open_store(&args.data, args.database.as_deref())
        .await?
        .samples;
    let client = args.conn.client()?;
    client
        .health()
        .await
        .context("the central does not answer /health")?;
    let seconds = Duration::from_secs(5);

    // The front desk alone, then beside the uploads.
    let alone = desk(&client, &samples, args.rate, seconds).await;
    let server = Server::new(args.central_pid);
    let mark = server.mark();
    let started = Instant::now();
    let mut uploads = Vec::new();
    for b in 0..args.batches {
        let c = client.clone();
        let items = (0..args.items)
            .map(|i| request(&samples[(b * args.items + i) % samples.len()]))
            .collect();
        uploads.push(tokio::spawn(async move {
            let t = Instant::now();
            let accepted = c
                .submit_batch_inquiry(&BatchInquiryRequest {
                    qualification_confirmation_date: None,
                    items,
                })
                .await?;
            let upload = t.elapsed();
            loop {
                let r = c.batch_inquiry(&accepted.reception_number).await?;
                if r.summary.status == "done" {
                    return Ok::<_, anyhow::Error>((upload, t.elapsed(), r.units.len()));
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }));
    }
    let beside = desk(&client, &samples, args.rate, seconds);
    let (beside, done) = tokio::join!(beside, async {
        let mut done = Vec::new();
        for u in uploads {
            done.push(u.await);
        }
        done
    });
    let all_done = started.elapsed();
    let usage = server.since(mark, args.batches * args.items);
    let mut answered = 0usize;
    let (mut upload_ms, mut done_ms) = (Vec::new(), Vec::new());
    for d in done {
        let (upload, finished, units) = d??;
        answered += units;
        upload_ms.push(upload.as_micros() as u64);
        done_ms.push(finished.as_micros() as u64);
    }
    if answered != args.batches * args.items {
        bail!(
            "{answered} of {} items were answered",
            args.batches * args.items
        );
    }
    let items_per_second = answered as f64 / all_done.as_secs_f64();
    let upload = Latency::from_micros(upload_ms, 0, all_done);
    let finished = Latency::from_micros(done_ms, 0, all_done);
    if args.json {
        let out = serde_json::json!({
            "batches": args.batches,
            "items_per_batch": args.items,
            "items_per_second": items_per_second,
            "all_done_seconds": all_done.as_secs_f64(),
            "upload": upload,
            "until_done": finished,
            "desk_alone": alone,
            "desk_beside_uploads": beside,
            "central": usage,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "{} uploads of {} items: all answered in {:.2} s ({items_per_second:.0} items/s); upload p50 {:.0} ms, until done p50 {:.0} ms, max {:.0} ms",
            args.batches,
            args.items,
            all_done.as_secs_f64(),
            upload.p50_ms,
            finished.p50_ms,
            finished.max_ms
        );
        println!(
            "front desk ({}/s) alone:          {}",
            args.rate,
            alone.line()
        );
        println!(
            "front desk ({}/s) beside uploads: {}",
            args.rate,
            beside.line()
        );
        println!("{}", usage_line(&usage));
    }
    Ok(())
}

/// Number checks at `rate` per second (the front desk) for `duration`.
async fn desk(
    client: &CentralClient,
    samples: &Arc<Vec<kakunin_store::CardQuery>>,
    rate: u64,
    duration: Duration,
) -> Latency {
    if rate == 0 {
        return Latency::from_micros(vec![], 0, duration);
    }
    open_loop(rate as f64, duration, |i| {
        let (c, q) = (client.clone(), request(&samples[(i * 13) % samples.len()]));
        async move { c.check(&q).await.is_ok() }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_morning_has_each_kind_in_its_share_every_second() {
        let kinds = plan(2000, 0.7, 0.15);
        for second in kinds.chunks(200) {
            let cards = second.iter().filter(|k| **k != Kind::Number).count();
            let views = second.iter().filter(|k| **k == Kind::CardAndView).count();
            assert!((135..=145).contains(&cards), "{cards}");
            assert!((18..=24).contains(&views), "{views}");
        }
        assert!(plan(100, 0.0, 0.5).iter().all(|k| *k == Kind::Number));
        assert!(plan(100, 1.0, 0.0).iter().all(|k| *k == Kind::Card));
    }
}
