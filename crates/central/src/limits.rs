//! Abuse limits: per-institution rates of eligibility checks and of medical-information views
//! (token buckets, per node), answered with 429 and `Retry-After` when exceeded, so that one
//! institution's burst (a misbehaving レセコン, a stolen certificate scraping records) cannot take
//! the capacity every other clinic needs at 9 a.m.
//!
//! Invariants: a refused request does no work and writes nothing; buckets are keyed by the
//! certificate's institution code, never by anything from the request; limits are per node
//! (behind a load balancer spreading evenly, an institution gets about nodes × the rate).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What a request spends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    /// Eligibility checks (by numbers, by card, 照会番号 registration, 災害時 checks).
    Check,
    /// Medical-information views (medications, treatments, surgeries, checkups; 災害時 too).
    View,
}

impl Class {
    /// The metric label, and the words of the refusal's detail.
    pub fn label(self) -> (&'static str, &'static str) {
        match self {
            Self::Check => ("check", "eligibility checks"),
            Self::View => ("view", "medical-information views"),
        }
    }
}

/// A sustained rate and the burst allowed above it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub per_second: f64,
    pub burst: f64,
}

/// The limits of a node; `None` turns a class's limit off.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    pub checks: Option<Rate>,
    pub views: Option<Rate>,
}

impl Default for Limits {
    /// 30 checks/s with bursts of 300 (a hospital's morning rush through one terminal pool is
    /// far below; 一括照会 is separate), 10 views/s with bursts of 100.
    fn default() -> Self {
        Self {
            checks: Some(Rate {
                per_second: 30.0,
                burst: 300.0,
            }),
            views: Some(Rate {
                per_second: 10.0,
                burst: 100.0,
            }),
        }
    }
}

impl Limits {
    /// No limit (benchmarks, tests that measure throughput).
    pub fn off() -> Self {
        Self {
            checks: None,
            views: None,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The buckets of one node.
#[derive(Debug)]
pub struct Limiter {
    limits: Limits,
    buckets: Mutex<HashMap<(String, Class), Bucket>>,
}

/// Buckets idle this long are full again and forgotten.
const IDLE: Duration = Duration::from_secs(600);

impl Limiter {
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            buckets: Mutex::default(),
        }
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Spends one token of `who`'s `class` at `now`; when none is left, how long until one is.
    pub fn take(&self, who: &str, class: Class, now: Instant) -> Result<(), Duration> {
        let rate = match class {
            Class::Check => self.limits.checks,
            Class::View => self.limits.views,
        };
        let Some(rate) = rate else {
            return Ok(());
        };
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() > 100_000 {
            buckets.retain(|_, b| now.saturating_duration_since(b.at) < IDLE);
        }
        let b = buckets.entry((who.to_string(), class)).or_insert(Bucket {
            tokens: rate.burst,
            at: now,
        });
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + elapsed * rate.per_second).min(rate.burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - b.tokens) / rate.per_second.max(f64::MIN_POSITIVE);
            Err(Duration::from_secs_f64(wait.min(3600.0)))
        }
    }
}

/// The class of a route template, if it is limited.
pub fn class_of(route: &str) -> Option<Class> {
    match route {
        "/v1/eligibility/check"
        | "/v1/card-checks"
        | "/v1/card-checks/offline"
        | "/v1/reference-numbers"
        | "/v1/emergency/check" => Some(Class::Check),
        "/v1/medical/{category}" | "/v1/emergency/medical/{category}" => Some(Class::View),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_refill_at_the_rate_and_are_per_institution_and_class() {
        let l = Limiter::new(Limits {
            checks: Some(Rate {
                per_second: 2.0,
                burst: 3.0,
            }),
            views: None,
        });
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(l.take("A", Class::Check, t0), Ok(()));
        }
        let wait = l.take("A", Class::Check, t0).unwrap_err();
        assert!((wait.as_secs_f64() - 0.5).abs() < 1e-6, "{wait:?}");
        // Another institution, and views (unlimited), are unaffected.
        assert_eq!(l.take("B", Class::Check, t0), Ok(()));
        for _ in 0..1000 {
            assert_eq!(l.take("A", Class::View, t0), Ok(()));
        }
        // Half a second later, one token; never more than the burst after a long pause.
        assert_eq!(
            l.take("A", Class::Check, t0 + Duration::from_millis(500)),
            Ok(())
        );
        assert!(l
            .take("A", Class::Check, t0 + Duration::from_millis(500))
            .is_err());
        let later = t0 + Duration::from_secs(60);
        for _ in 0..3 {
            assert_eq!(l.take("A", Class::Check, later), Ok(()));
        }
        assert!(l.take("A", Class::Check, later).is_err());
    }

    #[test]
    fn limited_routes() {
        assert_eq!(class_of("/v1/eligibility/check"), Some(Class::Check));
        assert_eq!(class_of("/v1/medical/{category}"), Some(Class::View));
        assert_eq!(class_of("/v1/rosters"), None);
        assert_eq!(class_of("/health"), None);
    }
}
