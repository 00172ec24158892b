//! Prometheus metrics, served on a listener of their own (`--metrics-listen`, loopback by
//! default) in the text exposition format.
//!
//! Invariant: labels carry only fixed words (route templates, kinds, results, categories):
//! never an identifier, a name or an institution code, so a scrape reveals no personal data.
//! The registry is process-wide (one central per process in production; tests only ever see
//! counts grow).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// A latency histogram (cumulative buckets as Prometheus expects them at exposition).
#[derive(Debug, Default)]
struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    /// Microseconds.
    sum: AtomicU64,
}

impl Histogram {
    fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum.fetch_add(d.as_micros() as u64, Ordering::Relaxed);
    }
}

type Labels = Vec<(&'static str, String)>;

#[derive(Debug, Default)]
struct Registry {
    counters: Mutex<BTreeMap<(&'static str, Labels), Arc<AtomicU64>>>,
    histograms: Mutex<BTreeMap<(&'static str, Labels), Arc<Histogram>>>,
    /// When each institution was last heard from (codes stay in memory, never in labels).
    seen: Mutex<BTreeMap<String, Instant>>,
    /// Sightings not yet written to the store: institution → Unix milliseconds.
    pending: Mutex<BTreeMap<String, i64>>,
    /// Active and silent institutions across every node, as last read from the store.
    fleet: Mutex<Option<(u64, u64)>>,
}

static REGISTRY: LazyLock<Registry> = LazyLock::new(Registry::default);

/// What each metric means, for `# HELP`.
const HELP: &[(&str, &str)] = &[
    ("kakunin_http_requests_total", "HTTP requests by route template, method and status class."),
    ("kakunin_http_request_duration_seconds", "HTTP request latency by route template."),
    ("kakunin_checks_total", "Eligibility checks by kind (numbers, card, offline_card, batch, emergency) and result (validity code, or refused/error)."),
    ("kakunin_check_duration_seconds", "Eligibility check latency by kind."),
    ("kakunin_information_views_total", "Medical information requests by category, basis and result (disclosed or refused)."),
    ("kakunin_imports_total", "Imports by kind (roster, receipts, masters, checkups) and result (accepted or refused)."),
    ("kakunin_import_rows_total", "Rows, receipts or results read by imports, by kind."),
    ("kakunin_access_log_write_seconds", "Time from an access-log append to its durable commit (group commit included)."),
    ("kakunin_rate_limited_total", "Requests refused by the per-institution rate limits, by class (check or view)."),
    ("kakunin_terminals", "Institutions heard from by any node of the central (from the store, every 30 s; this node's own view until the first read): active (last 5 minutes) and silent (last 24 hours but not the last 5 minutes: offline or closed)."),
];

fn counter(name: &'static str, labels: Labels) -> Arc<AtomicU64> {
    REGISTRY
        .counters
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry((name, labels))
        .or_default()
        .clone()
}

fn histogram(name: &'static str, labels: Labels) -> Arc<Histogram> {
    REGISTRY
        .histograms
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry((name, labels))
        .or_default()
        .clone()
}

/// An HTTP request answered (from the trace middleware).
pub fn http(route: &str, method: &str, status: u16, took: Duration) {
    let class = format!("{}xx", status / 100);
    counter(
        "kakunin_http_requests_total",
        vec![
            ("route", route.to_string()),
            ("method", method.to_string()),
            ("status", class),
        ],
    )
    .fetch_add(1, Ordering::Relaxed);
    histogram(
        "kakunin_http_request_duration_seconds",
        vec![("route", route.to_string())],
    )
    .observe(took);
}

/// An eligibility check: `kind` and its result (the validity code `1`–`5`, `refused` or
/// `error`).
pub fn check(kind: &'static str, result: &str, took: Duration) {
    counter(
        "kakunin_checks_total",
        vec![("kind", kind.to_string()), ("result", result.to_string())],
    )
    .fetch_add(1, Ordering::Relaxed);
    histogram(
        "kakunin_check_duration_seconds",
        vec![("kind", kind.to_string())],
    )
    .observe(took);
}

/// A medical information request.
pub fn view(category: &str, basis: &'static str, disclosed: bool) {
    counter(
        "kakunin_information_views_total",
        vec![
            ("category", category.to_string()),
            ("basis", basis.to_string()),
            (
                "result",
                if disclosed { "disclosed" } else { "refused" }.to_string(),
            ),
        ],
    )
    .fetch_add(1, Ordering::Relaxed);
}

/// An import and how many rows it read.
pub fn import(kind: &'static str, accepted: bool, rows: u64) {
    counter(
        "kakunin_imports_total",
        vec![
            ("kind", kind.to_string()),
            (
                "result",
                if accepted { "accepted" } else { "refused" }.to_string(),
            ),
        ],
    )
    .fetch_add(1, Ordering::Relaxed);
    counter(
        "kakunin_import_rows_total",
        vec![("kind", kind.to_string())],
    )
    .fetch_add(rows, Ordering::Relaxed);
}

/// A request refused by a rate limit.
pub fn rate_limited(class: &'static str) {
    counter(
        "kakunin_rate_limited_total",
        vec![("class", class.to_string())],
    )
    .fetch_add(1, Ordering::Relaxed);
}

/// An access-log append took `took` to become durable.
pub fn access_log_write(took: Duration) {
    histogram("kakunin_access_log_write_seconds", vec![]).observe(took);
}

/// An institution (clinic, pharmacy, its terminal) was heard from.
pub fn seen(institution: &str) {
    {
        let mut seen = REGISTRY.seen.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(t) = seen.get_mut(institution) {
            *t = Instant::now();
        } else {
            seen.insert(institution.to_string(), Instant::now());
        }
    }
    let now = crate::service::now().unix_millis();
    let mut pending = REGISTRY.pending.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(t) = pending.get_mut(institution) {
        *t = now;
    } else {
        pending.insert(institution.to_string(), now);
    }
}

/// How often each node writes its sightings and reads the fleet's presence.
pub const PRESENCE_EVERY: Duration = Duration::from_secs(30);
const ACTIVE_MS: i64 = 5 * 60 * 1000;
const SILENT_MS: i64 = 24 * 3600 * 1000;

/// Writes this node's sightings since the last call to the store and reads how many
/// institutions every node together heard from (for `kakunin_terminals`). On failure the
/// sightings are kept for the next call.
pub async fn sync_presence(
    store: &dyn kakunin_store::Store,
) -> Result<(u64, u64), kakunin_store::StoreError> {
    let batch: Vec<(String, i64)> =
        std::mem::take(&mut *REGISTRY.pending.lock().unwrap_or_else(|p| p.into_inner()))
            .into_iter()
            .collect();
    let seen: Vec<_> = batch
        .iter()
        .filter_map(|(code, ms)| {
            kakunin_domain::InstitutionCode::parse(code)
                .ok()
                .map(|c| (c, kakunin_domain::Timestamp::from_unix_millis(*ms)))
        })
        .collect();
    if let Err(e) = store.note_presence(seen).await {
        let mut pending = REGISTRY.pending.lock().unwrap_or_else(|p| p.into_inner());
        for (code, ms) in batch {
            let t = pending.entry(code).or_insert(ms);
            *t = (*t).max(ms);
        }
        return Err(e);
    }
    let now = crate::service::now().unix_millis();
    let counts = store
        .presence_counts(
            kakunin_domain::Timestamp::from_unix_millis(now - ACTIVE_MS),
            kakunin_domain::Timestamp::from_unix_millis(now - SILENT_MS),
        )
        .await?;
    *REGISTRY.fleet.lock().unwrap_or_else(|p| p.into_inner()) = Some(counts);
    Ok(counts)
}

/// The text exposition of every metric.
pub fn render() -> String {
    let mut out = String::new();
    let help = |out: &mut String, name: &str, kind: &str| {
        let text = HELP
            .iter()
            .find(|(n, _)| *n == name)
            .map_or("", |(_, h)| *h);
        let _ = writeln!(out, "# HELP {name} {text}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
    };
    let labels = |l: &Labels, extra: Option<(&str, String)>| -> String {
        let mut parts: Vec<String> = l
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
            .collect();
        if let Some((k, v)) = extra {
            parts.push(format!("{k}=\"{v}\""));
        }
        if parts.is_empty() {
            String::new()
        } else {
            format!("{{{}}}", parts.join(","))
        }
    };
    let counters = REGISTRY
        .counters
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let mut last = "";
    for ((name, l), v) in &counters {
        if *name != last {
            help(&mut out, name, "counter");
            last = name;
        }
        let _ = writeln!(
            out,
            "{name}{} {}",
            labels(l, None),
            v.load(Ordering::Relaxed)
        );
    }
    let histograms = REGISTRY
        .histograms
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    last = "";
    for ((name, l), h) in &histograms {
        if *name != last {
            help(&mut out, name, "histogram");
            last = name;
        }
        let mut cumulative = 0;
        for (i, b) in BUCKETS.iter().enumerate() {
            cumulative += h.buckets[i].load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "{name}_bucket{} {cumulative}",
                labels(l, Some(("le", b.to_string())))
            );
        }
        let count = h.count.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "{name}_bucket{} {count}",
            labels(l, Some(("le", "+Inf".into())))
        );
        let _ = writeln!(
            out,
            "{name}_sum{} {}",
            labels(l, None),
            h.sum.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "{name}_count{} {count}", labels(l, None));
    }
    let (mut active, mut silent) = (0u64, 0u64);
    {
        let mut seen = REGISTRY.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.retain(|_, t| t.elapsed() < Duration::from_secs(24 * 3600));
        for t in seen.values() {
            if t.elapsed() < Duration::from_secs(300) {
                active += 1;
            } else {
                silent += 1;
            }
        }
    }
    // The fleet's counts, read every 30 s, miss this node's sightings since its last write:
    // never report fewer active institutions than this node alone sees.
    if let Some((fleet_active, fleet_silent)) =
        *REGISTRY.fleet.lock().unwrap_or_else(|p| p.into_inner())
    {
        (active, silent) = (active.max(fleet_active), fleet_silent);
    }
    help(&mut out, "kakunin_terminals", "gauge");
    let _ = writeln!(out, "kakunin_terminals{{state=\"active\"}} {active}");
    let _ = writeln!(out, "kakunin_terminals{{state=\"silent\"}} {silent}");
    out
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Serves `GET /metrics` on `listener` until `shutdown`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let router = axum::Router::new().route(
        "/metrics",
        axum::routing::get(|| async {
            (
                [(
                    axum::http::header::CONTENT_TYPE,
                    "text/plain; version=0.0.4; charset=utf-8",
                )],
                render(),
            )
        }),
    );
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_has_help_types_buckets_and_no_codes() {
        check("numbers", "1", Duration::from_micros(800));
        check("numbers", "1", Duration::from_millis(3));
        view("medications", "consent", false);
        seen("1310000019");
        let text = render();
        assert!(text.contains("# TYPE kakunin_checks_total counter"));
        assert!(text.contains("kakunin_checks_total{kind=\"numbers\",result=\"1\"}"));
        assert!(
            text.contains("kakunin_check_duration_seconds_bucket{kind=\"numbers\",le=\"0.001\"}")
        );
        assert!(
            text.contains("kakunin_check_duration_seconds_bucket{kind=\"numbers\",le=\"+Inf\"}")
        );
        assert!(text.contains("kakunin_terminals{state=\"active\"}"));
        assert!(
            !text.contains("1310000019"),
            "no institution code in labels"
        );
    }

    /// Terminals are counted across nodes: this node's sightings go to the store, another
    /// node's (there, an hour ago: silent) come back in the gauge; a failed write keeps them.
    #[tokio::test]
    async fn terminals_are_counted_across_nodes() {
        let dir = tempfile::tempdir().unwrap();
        let store = kakunin_store::SqliteStore::open(dir.path().join("s.sqlite3")).unwrap();
        let here = kakunin_domain::check_digit::complete("131000002").unwrap();
        let there = kakunin_domain::check_digit::complete("131000003").unwrap();
        seen(&here);
        let hour_ago = crate::service::now().unix_millis() - 3_600_000;
        kakunin_store::Store::note_presence(
            &store,
            vec![(
                kakunin_domain::InstitutionCode::parse(&there).unwrap(),
                kakunin_domain::Timestamp::from_unix_millis(hour_ago),
            )],
        )
        .await
        .unwrap();
        let (active, silent) = sync_presence(&store).await.unwrap();
        assert!(active >= 1, "this node's sighting");
        assert_eq!(silent, 1, "the other node's, an hour ago");
        let text = render();
        assert!(text.contains(&format!("kakunin_terminals{{state=\"silent\"}} {silent}")));
        assert!(!text.contains(&there) && !text.contains(&here));
    }
}
