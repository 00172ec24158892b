//! `kakunin bench check`: eligibility checks against a running central, with the raw store
//! point-lookup rate measured in the same run as the baseline.

use crate::bench_common::{
    closed_loop_for, empty_handler, open_loop, rsa_verify_rate, usage_line, Latency, Server,
};
use crate::Conn;
use anyhow::{bail, Context, Result};
use clap::Args;
use kakunin_api::EligibilityCheckRequest;
use kakunin_store::CardQuery;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Args)]
pub struct BenchArgs {
    #[command(flatten)]
    conn: Conn,
    /// The central's data directory (for the store baseline and sample people).
    #[arg(long)]
    data: PathBuf,
    /// The central's database when it is not SQLite in the data directory (postgres://…).
    #[arg(long, env = "KAKUNIN_DATABASE_URL")]
    database: Option<String>,
    /// Concurrent keep-alive clients in the saturation run.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Seconds per phase.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Fixed request rate (per second) for the latency run.
    #[arg(long, default_value_t = 1000)]
    rate: u64,
    /// Print the figures as one JSON object.
    #[arg(long)]
    json: bool,
    /// Another institution's certificate: the fixed-rate run is repeated while
    /// `--noisy-clients` clients of that institution send checks as fast as they can, and the
    /// measured institution's latency is compared with the run alone (the rate limits should
    /// keep it level).
    #[arg(long)]
    noisy_identity: Option<PathBuf>,
    /// Clients of the noisy institution.
    #[arg(long, default_value_t = 32)]
    noisy_clients: usize,
    /// The central's process id (Linux): also report its CPU per check and its memory.
    #[arg(long)]
    central_pid: Option<u32>,
    /// More central nodes (repeatable): the clients of every phase are spread over
    /// `--server` and these, round robin, as terminals given several addresses would be.
    #[arg(long = "also-server")]
    also_servers: Vec<String>,
}

pub(crate) fn request(q: &CardQuery) -> EligibilityCheckRequest {
    EligibilityCheckRequest {
        insurer_number: q.insurer.as_str().into(),
        symbol: (!q.symbol_key.is_empty()).then(|| q.symbol_key.clone()),
        number: q.number_key.clone(),
        branch: q.branch.map(|b| b.as_str().into()),
        birthdate: q.birthdate.compact(),
        qualification_confirmation_date: None,
        limit_application_certificate_related_cons_flg: None,
    }
}

pub async fn run(args: BenchArgs) -> Result<()> {
    let crate::bench_common::BenchStore {
        store,
        people,
        samples,
    } = crate::bench_common::open_store(&args.data, args.database.as_deref()).await?;
    let seconds = Duration::from_secs(args.seconds.max(1));

    // Baseline: raw point lookups through the store, one at a time, same data.
    let baseline = {
        let started = Instant::now();
        let mut n = 0usize;
        while started.elapsed() < seconds {
            for q in samples.iter().cycle().skip(n % samples.len()).take(200) {
                store.find_qualifications(q).await?;
            }
            n += 200;
        }
        n as f64 / started.elapsed().as_secs_f64()
    };

    let client = args.conn.client()?;
    client
        .health()
        .await
        .context("the central does not answer /health")?;
    let mut nodes = vec![client.clone()];
    for server in &args.also_servers {
        let c = kakunin_api::client::CentralClient::from_files(
            server,
            &args.conn.ca,
            Some(&args.conn.identity),
        )?;
        c.health()
            .await
            .with_context(|| format!("{server} does not answer /health"))?;
        nodes.push(c);
    }
    let nodes = Arc::new(nodes);
    // Checks answered by each node, to show how the clients spread over them.
    let per_node: Arc<Vec<AtomicUsize>> =
        Arc::new((0..nodes.len()).map(|_| AtomicUsize::new(0)).collect());
    let logged_before = store.access_log_len().await?;

    // Warm-up: open the keep-alive connections.
    let mut warm = Vec::new();
    for i in 0..args.concurrency {
        let (c, q) = (client.clone(), request(&samples[i % samples.len()]));
        warm.push(tokio::spawn(async move { c.check(&q).await.is_ok() }));
    }
    let mut warm_ok = 0;
    for w in warm {
        warm_ok += usize::from(w.await.unwrap_or(false));
    }
    if warm_ok == 0 {
        bail!("no warm-up check succeeded; is --identity an institution certificate of this central's CA?");
    }

    // Baselines: the empty handler over the same HTTPS stack, same clients; the crypto
    // library's RSA-2048 verification on one core (what a card check adds).
    let server = Server::new(args.central_pid);
    let mark = server.mark();
    let empty = empty_handler(&client, args.concurrency, seconds).await;
    let empty_usage = server.since(mark, empty.requests);
    let rsa_verify =
        tokio::task::spawn_blocking(|| rsa_verify_rate(Duration::from_secs(2))).await??;

    // Saturation: `concurrency` clients in a closed loop.
    let mark = server.mark();
    let (n, s, counts) = (nodes.clone(), samples.clone(), per_node.clone());
    let saturation = closed_loop_for(args.concurrency, seconds, move |i| {
        let (c, q) = (n[i % n.len()].clone(), request(&s[i % s.len()]));
        let counts = counts.clone();
        async move { answered_by(&counts, i % counts.len(), c.check(&q).await.is_ok()) }
    })
    .await;
    let saturation_usage = server.since(mark, saturation.requests);

    // Fixed rate: an open loop at `rate` per second.
    let mark = server.mark();
    let fixed = fixed_rate(&nodes, &per_node, &samples, args.rate, seconds).await;
    let fixed_usage = server.since(mark, fixed.requests);

    // The same with a noisy neighbour: another institution's clients in a closed loop.
    let noisy = match &args.noisy_identity {
        None => None,
        Some(identity) => {
            let neighbour = kakunin_api::client::CentralClient::from_files(
                &args.conn.server,
                &args.conn.ca,
                Some(identity),
            )?;
            let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let (answered, refused) =
                (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
            let mut hammer = Vec::new();
            for k in 0..args.noisy_clients {
                let (c, samples, stop) = (neighbour.clone(), samples.clone(), stop.clone());
                let (answered, refused) = (answered.clone(), refused.clone());
                hammer.push(tokio::spawn(async move {
                    let mut i = k;
                    while !stop.load(Ordering::Relaxed) {
                        match c.check(&request(&samples[i % samples.len()])).await {
                            Ok(_) => answered.fetch_add(1, Ordering::Relaxed),
                            Err(_) => refused.fetch_add(1, Ordering::Relaxed),
                        };
                        i += 7;
                    }
                }));
            }
            let with = fixed_rate(&nodes, &per_node, &samples, args.rate, seconds).await;
            stop.store(true, Ordering::Relaxed);
            for h in hammer {
                h.await?;
            }
            Some((
                with,
                answered.load(Ordering::Relaxed),
                refused.load(Ordering::Relaxed),
            ))
        }
    };

    per_node[0].fetch_add(warm_ok, Ordering::Relaxed);
    let per_node: Vec<serde_json::Value> = std::iter::once(&args.conn.server)
        .chain(&args.also_servers)
        .zip(per_node.iter())
        .map(|(server, n)| serde_json::json!({"server": server, "checks_answered": n.load(Ordering::Relaxed)}))
        .collect();
    let logged = store.access_log_len().await? - logged_before;
    let answered = (warm_ok
        + saturation.requests
        + fixed.requests
        + noisy.as_ref().map_or(0, |(w, a, _)| w.requests + a)) as u64;
    let to_empty = saturation.per_second / empty.per_second.max(f64::MIN_POSITIVE);
    if args.json {
        let out = serde_json::json!({
            "people": people,
            "store_lookups_per_second": baseline,
            "empty_handler": empty,
            "empty_handler_central": empty_usage,
            "rsa2048_verify_per_second_one_core": rsa_verify,
            "concurrency": args.concurrency,
            "nodes": nodes.len(),
            "per_node": per_node,
            "saturation": saturation,
            "saturation_central": saturation_usage,
            "ratio_to_store_lookups": saturation.per_second / baseline,
            "ratio_to_empty_handler": to_empty,
            "fixed_rate": { "target_per_second": args.rate, "result": fixed, "central": fixed_usage },
            "access_log_entries_written": logged,
            "checks_answered": answered,
            "noisy_neighbour": noisy.as_ref().map(|(with, a, r)| serde_json::json!({
                "clients": args.noisy_clients,
                "fixed_rate_with_neighbour": with,
                "neighbour_answered": a,
                "neighbour_refused": r,
                "p99_ratio": with.p99_ms / fixed.p99_ms.max(f64::MIN_POSITIVE),
            })),
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!("store: {people} qualifications; baseline store point lookups: {baseline:.0}/s (one at a time)");
        println!(
            "empty handler (GET /health, same mTLS stack, {} clients): {}",
            args.concurrency,
            empty.line()
        );
        println!("  {}", usage_line(&empty_usage));
        println!("ring RSA-2048 verifications: {rsa_verify:.0}/s on one core");
        println!(
            "saturation ({} clients over {} node(s), {} s): {}",
            args.concurrency,
            nodes.len(),
            args.seconds,
            saturation.line()
        );
        println!("  {}", usage_line(&saturation_usage));
        println!(
            "fixed rate ({}/s, {} s): {}",
            args.rate,
            args.seconds,
            fixed.line()
        );
        println!("  {}", usage_line(&fixed_usage));
        println!(
            "access-log entries written during the run: {logged} for {answered} answered checks"
        );
        if per_node.len() > 1 {
            for node in &per_node {
                println!(
                    "  {}: {} checks answered",
                    node["server"].as_str().unwrap_or_default(),
                    node["checks_answered"]
                );
            }
        }
        println!(
            "checks/s ÷ raw lookups/s: {:.3}; checks/s ÷ empty-handler requests/s: {to_empty:.3}",
            saturation.per_second / baseline
        );
        if let Some((with, a, r)) = &noisy {
            println!(
                "fixed rate with a noisy neighbour ({} clients of another institution: {a} answered, {r} refused): {}; p99 ratio to alone {:.2}",
                args.noisy_clients,
                with.line(),
                with.p99_ms / fixed.p99_ms.max(f64::MIN_POSITIVE)
            );
        }
    }
    Ok(())
}

/// Counts an answered check against the node that answered it; passes `ok` on.
fn answered_by(counts: &[AtomicUsize], node: usize, ok: bool) -> bool {
    if ok {
        counts[node].fetch_add(1, Ordering::Relaxed);
    }
    ok
}

/// An open loop at `rate` checks per second for `seconds`, spread over `nodes`.
async fn fixed_rate(
    nodes: &[kakunin_api::client::CentralClient],
    per_node: &Arc<Vec<AtomicUsize>>,
    samples: &Arc<Vec<CardQuery>>,
    rate: u64,
    seconds: Duration,
) -> Latency {
    open_loop(rate as f64, seconds, |i| {
        let (c, q) = (
            nodes[i % nodes.len()].clone(),
            request(&samples[i % samples.len()]),
        );
        let counts = per_node.clone();
        async move { answered_by(&counts, i % counts.len(), c.check(&q).await.is_ok()) }
    })
    .await
}
