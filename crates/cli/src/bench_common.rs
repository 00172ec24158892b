//! What every `kakunin bench` scenario shares: latency figures with the tail percentiles, the
//! central's own CPU and memory (read from /proc while it serves), load in a closed or an open
//! loop, and the baselines measured in the same run (the empty handler over the same HTTPS
//! stack, the crypto library's RSA verification).

use anyhow::{anyhow, bail, Result};
use kakunin_api::client::CentralClient;
use kakunin_store::{CardQuery, Store};
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The central's store as a bench reads it: for sample people and the access-log count.
pub struct BenchStore {
    pub store: Arc<dyn Store>,
    /// Qualifications in the store.
    pub people: u64,
    /// Up to 20,000 people to check, by their card numbers.
    pub samples: Arc<Vec<CardQuery>>,
}

/// Opens the central's store (SQLite in `data` unless `database` names PostgreSQL), refusing
/// a data directory without one rather than creating an empty store there.
/// An empty store for a bench that seeds its own people: SQLite in `dir`, or the PostgreSQL
/// database `database`, which must hold no one yet.
pub async fn open_empty_store(
    dir: &std::path::Path,
    database: Option<&str>,
) -> Result<Arc<dyn Store>> {
    let store = kakunin_central::open_store(
        dir,
        &kakunin_central::StoreConfig {
            database: database.map(str::to_string),
            ..Default::default()
        },
    )
    .await?;
    if store.counts().await?.qualifications > 0 {
        bail!("the benchmark needs an empty database");
    }
    Ok(store)
}

pub async fn open_store(data: &std::path::Path, database: Option<&str>) -> Result<BenchStore> {
    if database.is_none() && !data.join(kakunin_central::SQLITE_FILE).exists() {
        bail!(
            "{} has no store; seed it first (kakunin seed --data …)",
            data.display()
        );
    }
    let store = kakunin_central::open_store(
        data,
        &kakunin_central::StoreConfig {
            database: database.map(str::to_owned),
            ..Default::default()
        },
    )
    .await?;
    let people = store.counts().await?.qualifications;
    let samples = Arc::new(store.sample_queries(20_000).await?);
    if samples.is_empty() {
        bail!("the store is empty; seed it first");
    }
    Ok(BenchStore {
        store,
        people,
        samples,
    })
}

/// Throughput and latency of one phase.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Latency {
    pub requests: usize,
    pub errors: usize,
    pub per_second: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    /// From the latencies of the answered requests, in microseconds.
    pub fn from_micros(mut lat_us: Vec<u64>, errors: usize, elapsed: Duration) -> Latency {
        lat_us.sort_unstable();
        let at = |p: f64| -> f64 {
            if lat_us.is_empty() {
                return 0.0;
            }
            lat_us[((lat_us.len() as f64 - 1.0) * p).round() as usize] as f64 / 1000.0
        };
        Latency {
            requests: lat_us.len(),
            errors,
            per_second: lat_us.len() as f64 / elapsed.as_secs_f64().max(f64::MIN_POSITIVE),
            p50_ms: at(0.50),
            p95_ms: at(0.95),
            p99_ms: at(0.99),
            p999_ms: at(0.999),
            max_ms: lat_us.last().map_or(0.0, |&m| m as f64 / 1000.0),
        }
    }

    /// One line for the table output.
    pub fn line(&self) -> String {
        format!(
            "{:.0}/s, p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms, {} errors",
            self.per_second,
            self.p50_ms,
            self.p95_ms,
            self.p99_ms,
            self.p999_ms,
            self.max_ms,
            self.errors
        )
    }
}

/// The central's CPU time and memory, from /proc (Linux), when its pid is known.
#[derive(Debug, Clone, Copy)]
pub struct Server {
    pid: Option<u32>,
}

/// A reading of the central's counters at the start of a phase.
#[derive(Debug, Clone, Copy)]
pub struct ServerMark {
    cpu_seconds: Option<f64>,
    at: Instant,
}

/// What the central used during a phase.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ServerUsage {
    /// CPU seconds (user + system) the central used.
    pub cpu_seconds: f64,
    /// The central's CPU per answered request, µs.
    pub cpu_us_per_request: f64,
    /// Cores busy on average (CPU seconds ÷ wall seconds).
    pub cores_busy: f64,
    /// Resident memory at the end of the phase, MB.
    pub rss_mb: f64,
    /// The central's peak resident memory so far, MB.
    pub peak_rss_mb: f64,
}

impl Server {
    pub fn new(pid: Option<u32>) -> Server {
        Server { pid }
    }

    pub fn mark(&self) -> ServerMark {
        ServerMark {
            cpu_seconds: self.cpu_seconds(),
            at: Instant::now(),
        }
    }

    /// (resident, peak resident) memory in MB; `None` without a pid.
    pub fn memory_mb(&self) -> Option<(f64, f64)> {
        let (rss, peak) = self.memory_kb()?;
        Some((rss as f64 / 1024.0, peak as f64 / 1024.0))
    }

    /// Usage since `mark` for `requests` answered requests; `None` without a pid.
    pub fn since(&self, mark: ServerMark, requests: usize) -> Option<ServerUsage> {
        let cpu = self.cpu_seconds()? - mark.cpu_seconds?;
        let (rss_mb, peak_rss_mb) = self.memory_mb()?;
        Some(ServerUsage {
            cpu_seconds: cpu,
            cpu_us_per_request: cpu * 1e6 / requests.max(1) as f64,
            cores_busy: cpu / mark.at.elapsed().as_secs_f64().max(f64::MIN_POSITIVE),
            rss_mb,
            peak_rss_mb,
        })
    }

    /// CPU seconds (user + system) the process has used.
    pub fn cpu_seconds(&self) -> Option<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid?)).ok()?;
        // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
        let rest = &stat[stat.rfind(')')? + 2..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks: f64 =
            fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
        Some(ticks / 100.0)
    }

    /// (VmRSS, VmHWM) in kB.
    fn memory_kb(&self) -> Option<(u64, u64)> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid?)).ok()?;
        let field = |name: &str| -> Option<u64> {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        };
        Some((field("VmRSS:")?, field("VmHWM:")?))
    }
}

/// Formats a usage for the table output.
pub fn usage_line(usage: &Option<ServerUsage>) -> String {
    match usage {
        None => "central CPU and memory: not measured (give --central-pid)".into(),
        Some(u) => format!(
            "central: {:.0} µs CPU per request, {:.2} cores busy, RSS {:.0} MB (peak {:.0} MB)",
            u.cpu_us_per_request, u.cores_busy, u.rss_mb, u.peak_rss_mb
        ),
    }
}

/// `concurrency` workers in a closed loop for `duration`; `job(i)` gives the i-th request's
/// success. Returns the latencies of the answered requests and the errors.
pub async fn closed_loop_for<F, Fut>(concurrency: usize, duration: Duration, job: F) -> Latency
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send,
{
    let job = Arc::new(job);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (job, next) = (job.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let (mut lat, mut errors) = (Vec::new(), 0usize);
            while started.elapsed() < duration {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let t = Instant::now();
                if job(i).await {
                    lat.push(t.elapsed().as_micros() as u64);
                } else {
                    errors += 1;
                }
            }
            (lat, errors)
        }));
    }
    let (mut lat, mut errors) = (Vec::new(), 0);
    for t in tasks {
        if let Ok((l, e)) = t.await {
            lat.extend(l);
            errors += e;
        }
    }
    Latency::from_micros(lat, errors, started.elapsed())
}

/// An open loop: requests start at `rate` per second for `duration` whether or not earlier
/// ones have been answered (so a slow answer cannot hide the queue behind it).
pub async fn open_loop<F, Fut>(rate: f64, duration: Duration, mut job: F) -> Latency
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = bool> + Send + 'static,
{
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate.max(1.0)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    let mut tasks = Vec::new();
    let mut i = 0usize;
    while started.elapsed() < duration {
        ticker.tick().await;
        let request = job(i);
        i += 1;
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            request.await.then(|| t.elapsed().as_micros() as u64)
        }));
    }
    let (mut lat, mut errors) = (Vec::new(), 0);
    for t in tasks {
        match t.await {
            Ok(Some(l)) => lat.push(l),
            _ => errors += 1,
        }
    }
    Latency::from_micros(lat, errors, started.elapsed())
}

/// The baseline for the HTTPS stack: `GET /health` (a handler that touches no store and
/// parses no body) on the same client (same mTLS keep-alive connections, same middleware), in
/// a closed loop with the same concurrency.
pub async fn empty_handler(
    client: &CentralClient,
    concurrency: usize,
    duration: Duration,
) -> Latency {
    let c = client.clone();
    closed_loop_for(concurrency, duration, move |_| {
        let c = c.clone();
        async move { c.health().await.is_ok() }
    })
    .await
}

/// ring's RSA-2048 PKCS#1 v1.5 SHA-256 verification rate on one core, for a key made here
/// (the same algorithm and size as a card's 利用者証明用 key).
pub fn rsa_verify_rate(duration: Duration) -> Result<f64> {
    use rsa::traits::PublicKeyParts;
    use sha2::Digest;
    let private = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048)?;
    let message = b"kakunin bench";
    // DigestInfo of SHA-256 (RFC 8017 §9.2), then the hash: what a card signs.
    let mut digest_info = vec![
        0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01,
        0x05, 0x00, 0x04, 0x20,
    ];
    digest_info.extend_from_slice(&sha2::Sha256::digest(message));
    let signature = private.sign(rsa::Pkcs1v15Sign::new_unprefixed(), &digest_info)?;
    let public = ring::signature::RsaPublicKeyComponents {
        n: private.n().to_bytes_be(),
        e: private.e().to_bytes_be(),
    };
    let started = Instant::now();
    let mut n = 0u64;
    while started.elapsed() < duration {
        for _ in 0..100 {
            public
                .verify(
                    &ring::signature::RSA_PKCS1_2048_8192_SHA256,
                    message,
                    &signature,
                )
                .map_err(|_| anyhow!("the bench signature does not verify"))?;
        }
        n += 100;
    }
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_from_the_sorted_latencies() {
        let lat: Vec<u64> = (1..=1000).rev().map(|ms| ms * 1000).collect();
        let l = Latency::from_micros(lat, 3, Duration::from_secs(2));
        assert_eq!(l.requests, 1000);
        assert_eq!(l.errors, 3);
        assert_eq!(l.per_second, 500.0);
        assert_eq!(l.p50_ms, 501.0);
        assert_eq!(l.p95_ms, 950.0);
        assert_eq!(l.p99_ms, 990.0);
        assert_eq!(l.p999_ms, 999.0);
        assert_eq!(l.max_ms, 1000.0);
        let empty = Latency::from_micros(vec![], 0, Duration::from_secs(1));
        assert_eq!((empty.requests, empty.p99_ms, empty.max_ms), (0, 0.0, 0.0));
    }

    #[test]
    fn the_central_usage_is_read_from_proc() {
        let me = Server::new(Some(std::process::id()));
        let mark = me.mark();
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        assert!(x != 1);
        let u = me.since(mark, 10).expect("this process's /proc entry");
        assert!(u.cpu_seconds >= 0.0 && u.rss_mb > 0.0 && u.peak_rss_mb >= u.rss_mb);
        assert!(Server::new(None)
            .since(Server::new(None).mark(), 1)
            .is_none());
    }

    #[test]
    fn ring_verifies_a_key_made_by_the_rsa_crate() {
        assert!(rsa_verify_rate(Duration::from_millis(50)).unwrap() > 0.0);
    }
}
