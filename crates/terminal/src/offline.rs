//! Reception that survives outages: the circuit breaker that decides the central is
//! unreachable, and the durable queue of visits recorded meanwhile (要後日確認).
//!
//! Invariants: a visit is on disk (SQLite, `synchronous=FULL`) before the kiosk, the console or
//! a result file says it was recorded, so it survives `kill -9`; each visit is reconciled once
//! into a final state (`confirmed`, `discrepancy` or `failed`) and that state is durable before
//! anyone is told; a visit holds what reconciliation needs (the card's certificate and its
//! proof over the visit's offline challenge, or the insurance numbers) and what staff noted
//! (the 4 attributes and the declared co-pay), never a PIN.

use kakunin_api::{CardProof, EligibilityCheckRequest, EligibilityCheckResponse};
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The local database file in the terminal's data directory.
pub const DB_FILE: &str = "terminal.sqlite3";

/// How a visit proved who the patient is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum VisitProof {
    /// The My Number card: its certificate (base64 DER) and its proof over the visit's offline
    /// challenge (the PIN signature, or the terminal's 目視 attestation).
    Card {
        certificate: String,
        proof: CardProof,
    },
    /// Insurance numbers (保険証・資格確認書), as a check request.
    Numbers { request: EligibilityCheckRequest },
}

/// What reception staff noted about the patient during the outage (the patient's 申立て).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatientNote {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_kana: Option<String>,
    /// `1` 男, `2` 女, `3` 未設定.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sex: Option<String>,
    /// `yyyyMMdd`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birthdate: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// 一部負担金割合 the patient declared, 3-digit percent (`030` = 3割).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub declared_copay: Option<String>,
}

/// A request file answered offline, so that its later result can be written for the レセコン.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileOrigin {
    /// The request file's name.
    pub request_name: String,
    /// `ArbitraryFileIdentifier` of the request, echoed in the later result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arbitrary_file_identifier: Option<String>,
    /// `UTF-8` or `Shift_JIS`: the later result is written as the request was.
    pub encoding: String,
}

/// Where a visit stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VisitStatus {
    /// 要後日確認: waiting for the central.
    Pending,
    /// Checked afterwards: 有効, and the declared co-pay (if any) matches.
    Confirmed,
    /// Checked afterwards, but not as declared (not covered, another co-pay): staff must act.
    Discrepancy,
    /// The central refused the later check (e.g. past the 7 days for a card): staff must act.
    Failed,
}

impl VisitStatus {
    pub fn code(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Confirmed => "confirmed",
            Self::Discrepancy => "discrepancy",
            Self::Failed => "failed",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Self::Pending => "要後日確認",
            Self::Confirmed => "確認済み",
            Self::Discrepancy => "相違あり",
            Self::Failed => "確認できず",
        }
    }
    fn parse(s: &str) -> Option<Self> {
        [
            Self::Pending,
            Self::Confirmed,
            Self::Discrepancy,
            Self::Failed,
        ]
        .into_iter()
        .find(|v| v.code() == s)
    }
}

/// A visit recorded while the central could not be reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OfflineVisit {
    /// Random, 32 hex digits; the card's offline challenge names it.
    pub id: String,
    /// 受付日時 `yyyyMMddHHmmss` (JST).
    pub visited_at: String,
    /// `kiosk`, `console` or `files`.
    pub source: String,
    /// `pin`, `visual` or `numbers`.
    pub method: String,
    pub proof: VisitProof,
    pub note: PatientNote,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<FileOrigin>,
    pub status: VisitStatus,
    pub status_label: &'static str,
    /// The later answer (as of the visit's date).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answer: Option<EligibilityCheckResponse>,
    /// Why a visit is a discrepancy or failed (Japanese, for staff).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// RFC 3339 (JST) of the reconciliation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reconciled_at: Option<String>,
    /// When staff marked a discrepancy or failure as dealt with (RFC 3339, JST), and how.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolution: Option<String>,
}

impl OfflineVisit {
    /// Staff must act on it: a discrepancy or a failure not yet marked as dealt with.
    pub fn needs_action(&self) -> bool {
        matches!(self.status, VisitStatus::Discrepancy | VisitStatus::Failed)
            && self.resolved_at.is_none()
    }
}

/// A new visit to record.
#[derive(Debug, Clone)]
pub struct NewVisit {
    pub id: String,
    pub visited_at: String,
    pub source: &'static str,
    pub method: &'static str,
    pub proof: VisitProof,
    pub note: PatientNote,
    pub file: Option<FileOrigin>,
}

#[derive(Debug, thiserror::Error)]
pub enum OfflineError {
    #[error("terminal database: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("terminal database holds a malformed visit: {0}")]
    Corrupt(String),
    /// The visit was checked already: what staff note now would not be compared.
    #[error("the visit was reconciled already")]
    Settled,
}

/// The durable queue of offline visits.
pub struct Queue {
    db: Mutex<Connection>,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Queue { .. }")
    }
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS offline_visits (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT    NOT NULL UNIQUE,
    created_at_ms INTEGER NOT NULL DEFAULT 0,
    visited_at   TEXT    NOT NULL,
    source       TEXT    NOT NULL,
    method       TEXT    NOT NULL,
    proof_json   TEXT    NOT NULL,
    note_json    TEXT    NOT NULL,
    file_json    TEXT,
    status       TEXT    NOT NULL,
    answer_json  TEXT,
    problem      TEXT,
    reconciled_at TEXT
);
CREATE INDEX IF NOT EXISTS offline_visits_by_status ON offline_visits (status, seq);
";

/// Columns added after the first release of the table: (name, definition).
const ADDED_COLUMNS: &[(&str, &str)] = &[
    ("created_at_ms", "INTEGER NOT NULL DEFAULT 0"),
    ("noted_at_ms", "INTEGER"),
    ("resolved_at", "TEXT"),
    ("resolution", "TEXT"),
];

/// A random visit id: 32 hex digits.
pub fn new_visit_id() -> String {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 16];
    // The system RNG does not fail on supported platforms; a zero id would still be unique
    // enough with the time in the challenge, but never silently: log it.
    if ring::rand::SystemRandom::new().fill(&mut bytes).is_err() {
        tracing::error!("system random number generator failed");
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

fn corrupt(e: impl std::fmt::Display) -> OfflineError {
    OfflineError::Corrupt(e.to_string())
}

impl Queue {
    /// Opens (or creates) the queue in `dir`.
    pub fn open(dir: &Path) -> Result<Self, OfflineError> {
        let conn = Connection::open(dir.join(DB_FILE))?;
        Self::with(conn)
    }

    /// A queue in memory (tests, and a terminal run without a data directory).
    pub fn in_memory() -> Result<Self, OfflineError> {
        Self::with(Connection::open_in_memory()?)
    }

    fn with(conn: Connection) -> Result<Self, OfflineError> {
        // WAL with synchronous=FULL: a committed visit survives power loss and kill -9.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;
        let existing: Vec<String> = conn
            .prepare("SELECT name FROM pragma_table_info('offline_visits')")?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        for (name, definition) in ADDED_COLUMNS {
            if !existing.iter().any(|c| c == name) {
                conn.execute_batch(&format!(
                    "ALTER TABLE offline_visits ADD COLUMN {name} {definition}"
                ))?;
            }
        }
        Ok(Self {
            db: Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a visit; durable on return.
    pub fn record(&self, v: NewVisit) -> Result<OfflineVisit, OfflineError> {
        self.conn().execute(
            "INSERT INTO offline_visits (id, visited_at, source, method, proof_json, note_json, file_json, status, created_at_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending', ?8)",
            params![
                v.id,
                v.visited_at,
                v.source,
                v.method,
                json(&v.proof),
                json(&v.note),
                v.file.as_ref().map(json),
                now_ms(),
            ],
        )?;
        self.get(&v.id)?
            .ok_or_else(|| corrupt("a visit just written is missing"))
    }

    /// Staff's note on a pending visit (the 4 attributes, the declared co-pay). `None` for an
    /// unknown visit; [`OfflineError::Settled`] once it was checked (the note would not be
    /// compared any more).
    pub fn annotate(
        &self,
        id: &str,
        note: &PatientNote,
    ) -> Result<Option<OfflineVisit>, OfflineError> {
        let n = self.conn().execute(
            "UPDATE offline_visits SET note_json = ?2, noted_at_ms = ?3
             WHERE id = ?1 AND status = 'pending'",
            params![id, json(note), now_ms()],
        )?;
        if n == 0 {
            return match self.get(id)? {
                None => Ok(None),
                Some(_) => Err(OfflineError::Settled),
            };
        }
        self.get(id)
    }

    /// Marks a discrepancy or failure as dealt with (e.g. the difference collected, another
    /// proof seen). `None` for an unknown visit; `Some(false)` when it needs no action.
    pub fn resolve(
        &self,
        id: &str,
        resolution: &str,
        at: &str,
    ) -> Result<Option<bool>, OfflineError> {
        let n = self.conn().execute(
            "UPDATE offline_visits SET resolved_at = ?2, resolution = ?3
             WHERE id = ?1 AND status IN ('discrepancy', 'failed') AND resolved_at IS NULL",
            params![id, at, resolution],
        )?;
        if n == 1 {
            return Ok(Some(true));
        }
        Ok(self.get(id)?.map(|_| false))
    }

    /// Pending visits ready to be checked, oldest first: a console visit waits for staff's
    /// note (or `grace_ms` after the visit), so a declared co-pay is never skipped.
    pub fn ready(&self, grace_ms: i64) -> Result<Vec<OfflineVisit>, OfflineError> {
        let cutoff = now_ms() - grace_ms;
        self.query_with(
            &format!(
                "{SELECT} WHERE status = 'pending'
                   AND (source <> 'console' OR noted_at_ms IS NOT NULL OR created_at_ms <= ?1)
                 ORDER BY seq"
            ),
            params![cutoff],
        )
    }

    /// Sets a pending visit's final state. `false` when it was not pending (reconciled before).
    pub fn settle(
        &self,
        id: &str,
        status: VisitStatus,
        answer: Option<&EligibilityCheckResponse>,
        problem: Option<&str>,
        at: &str,
    ) -> Result<bool, OfflineError> {
        let n = self.conn().execute(
            "UPDATE offline_visits SET status = ?2, answer_json = ?3, problem = ?4, reconciled_at = ?5
             WHERE id = ?1 AND status = 'pending'",
            params![id, status.code(), answer.map(json), problem, at],
        )?;
        Ok(n == 1)
    }

    pub fn get(&self, id: &str) -> Result<Option<OfflineVisit>, OfflineError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!("{SELECT} WHERE id = ?1"))?;
        stmt.query_row(params![id], row)
            .optional()?
            .map(parse)
            .transpose()
    }

    /// Pending visits, oldest first.
    pub fn pending(&self) -> Result<Vec<OfflineVisit>, OfflineError> {
        self.query(&format!("{SELECT} WHERE status = 'pending' ORDER BY seq"))
    }

    /// Every visit, newest first (at most `limit`).
    pub fn all(&self, limit: u32) -> Result<Vec<OfflineVisit>, OfflineError> {
        self.query(&format!("{SELECT} ORDER BY seq DESC LIMIT {limit}"))
    }

    fn query(&self, sql: &str) -> Result<Vec<OfflineVisit>, OfflineError> {
        self.query_with(sql, [])
    }

    fn query_with(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
    ) -> Result<Vec<OfflineVisit>, OfflineError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(sql)?;
        let rows = stmt
            .query_map(params, row)?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().map(parse).collect()
    }

    /// Visits per status.
    pub fn counts(&self) -> Result<Counts, OfflineError> {
        let conn = self.conn();
        let mut c = Counts {
            needs_action: conn.query_row(
                "SELECT COUNT(*) FROM offline_visits
                 WHERE status IN ('discrepancy', 'failed') AND resolved_at IS NULL",
                [],
                |r| r.get(0),
            )?,
            ..Counts::default()
        };
        let mut stmt =
            conn.prepare_cached("SELECT status, COUNT(*) FROM offline_visits GROUP BY status")?;
        for r in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, u64>(1)?)))? {
            let (status, n) = r?;
            match VisitStatus::parse(&status) {
                Some(VisitStatus::Pending) => c.pending = n,
                Some(VisitStatus::Confirmed) => c.confirmed = n,
                Some(VisitStatus::Discrepancy) => c.discrepancy = n,
                Some(VisitStatus::Failed) => c.failed = n,
                None => return Err(corrupt(format!("unknown status {status:?}"))),
            }
        }
        Ok(c)
    }
}

/// Visits per status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub pending: u64,
    pub confirmed: u64,
    pub discrepancy: u64,
    pub failed: u64,
    /// Discrepancies and failures not yet marked as dealt with.
    pub needs_action: u64,
}

const SELECT: &str = "SELECT id, visited_at, source, method, proof_json, note_json, file_json, status, answer_json, problem, reconciled_at, resolved_at, resolution FROM offline_visits";

type Row = (
    String,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
        r.get(9)?,
        r.get(10)?,
        r.get(11)?,
        r.get(12)?,
    ))
}

fn parse(
    (
        id,
        visited_at,
        source,
        method,
        proof,
        note,
        file,
        status,
        answer,
        problem,
        reconciled_at,
        resolved_at,
        resolution,
    ): Row,
) -> Result<OfflineVisit, OfflineError> {
    let status = VisitStatus::parse(&status).ok_or_else(|| corrupt(&status))?;
    Ok(OfflineVisit {
        id,
        visited_at,
        source,
        method,
        proof: serde_json::from_str(&proof).map_err(corrupt)?,
        note: serde_json::from_str(&note).map_err(corrupt)?,
        file: file
            .map(|f| serde_json::from_str(&f))
            .transpose()
            .map_err(corrupt)?,
        status,
        status_label: status.label(),
        answer: answer
            .map(|a| serde_json::from_str(&a))
            .transpose()
            .map_err(corrupt)?,
        problem,
        reconciled_at,
        resolved_at,
        resolution,
    })
}

/// Whether the central is to be called. One failure to answer within the bound (or a 5xx)
/// opens it: the visits that follow are recorded at once instead of each waiting out the
/// bound; a background probe closes it again.
#[derive(Debug, Default)]
pub struct Breaker {
    open_since: Mutex<Option<Instant>>,
}

impl Breaker {
    pub fn is_open(&self) -> bool {
        self.open_since
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }

    /// How long it has been open.
    pub fn open_for(&self) -> Option<Duration> {
        self.open_since
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .map(|t| t.elapsed())
    }

    /// The central failed to answer. Returns true when this opened the breaker.
    pub fn trip(&self) -> bool {
        let mut s = self.open_since.lock().unwrap_or_else(|p| p.into_inner());
        let opened = s.is_none();
        if opened {
            *s = Some(Instant::now());
        }
        opened
    }

    /// The central answered. Returns true when this closed the breaker.
    pub fn close(&self) -> bool {
        self.open_since
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .is_some()
    }
}

/// Whether a central error means "unreachable" (go offline) rather than an answer (a refusal
/// is an answer).
pub fn is_outage(e: &kakunin_api::client::ClientError) -> bool {
    use kakunin_api::client::ClientError;
    match e {
        ClientError::Transport(_) => true,
        ClientError::Api(_, status) | ClientError::Unexpected(status, _) => *status >= 500,
        ClientError::Read { .. } | ClientError::Pem(_) => false,
    }
}

/// How a reconciled visit compares with what was declared: `None` when it is confirmed, else
/// the problem for staff.
pub fn compare(answer: &EligibilityCheckResponse, note: &PatientNote) -> Option<String> {
    if answer.validity != "1" {
        return Some(format!(
            "受付日の資格: {}（{}）",
            answer.validity_label, answer.processing_result.message
        ));
    }
    let declared = note.declared_copay.as_deref()?;
    let actual = answer.results.first().map(|r| r.copay_ratio.as_str())?;
    (declared != actual).then(|| {
        format!(
            "負担割合が異なります（申告 {}、資格情報 {}）",
            ratio_label(declared),
            ratio_label(actual)
        )
    })
}

/// `030` → `3割`.
pub fn ratio_label(code: &str) -> String {
    match code.parse::<u32>() {
        Ok(p) if p % 10 == 0 => format!("{}割", p / 10),
        Ok(p) => format!("{p}%"),
        Err(_) => code.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbers(n: &str) -> VisitProof {
        VisitProof::Numbers {
            request: EligibilityCheckRequest {
                insurer_number: "06139992".into(),
                symbol: Some("123".into()),
                number: n.into(),
                branch: Some("00".into()),
                birthdate: "19800101".into(),
                qualification_confirmation_date: None,
                limit_application_certificate_related_cons_flg: None,
            },
        }
    }

    fn visit(id: &str) -> NewVisit {
        NewVisit {
            id: id.into(),
            visited_at: "20261203091500".into(),
            source: "console",
            method: "numbers",
            proof: numbers("4567"),
            note: PatientNote::default(),
            file: None,
        }
    }

    #[test]
    fn visits_survive_reopening_and_settle_once() {
        let dir = tempfile::tempdir().unwrap();
        {
            let q = Queue::open(dir.path()).unwrap();
            q.record(visit("a")).unwrap();
            q.record(visit("b")).unwrap();
            let note = PatientNote {
                name: Some("試験　太郎".into()),
                declared_copay: Some("030".into()),
                ..Default::default()
            };
            assert_eq!(q.annotate("a", &note).unwrap().unwrap().note, note);
            assert_eq!(q.annotate("nobody", &note).unwrap(), None);
            assert!(q.record(visit("a")).is_err(), "ids are unique");
        }
        let q = Queue::open(dir.path()).unwrap();
        let pending: Vec<_> = q.pending().unwrap().into_iter().map(|v| v.id).collect();
        assert_eq!(pending, ["a", "b"], "oldest first, after reopening");
        assert_eq!(
            q.get("a").unwrap().unwrap().note.name.as_deref(),
            Some("試験　太郎")
        );
        assert_eq!(
            q.ready(60_000)
                .unwrap()
                .into_iter()
                .map(|v| v.id)
                .collect::<Vec<_>>(),
            ["a"],
            "a console visit waits for its note or the grace period"
        );
        assert_eq!(q.ready(-1).unwrap().len(), 2, "past the grace period");
        assert!(q
            .settle("a", VisitStatus::Confirmed, None, None, "t")
            .unwrap());
        assert!(
            matches!(
                q.annotate("a", &PatientNote::default()),
                Err(OfflineError::Settled)
            ),
            "a checked visit takes no note"
        );
        assert!(q
            .settle("b", VisitStatus::Discrepancy, None, Some("x"), "t")
            .unwrap());
        assert_eq!(q.counts().unwrap().needs_action, 1);
        assert_eq!(
            q.resolve("a", "-", "t").unwrap(),
            Some(false),
            "nothing to resolve"
        );
        assert_eq!(q.resolve("b", "差額を徴収", "t").unwrap(), Some(true));
        assert_eq!(q.resolve("b", "again", "t").unwrap(), Some(false));
        assert_eq!(q.resolve("nobody", "-", "t").unwrap(), None);
        assert_eq!(q.counts().unwrap().needs_action, 0);
        assert_eq!(
            q.get("b").unwrap().unwrap().resolution.as_deref(),
            Some("差額を徴収")
        );
        assert!(
            !q.settle("a", VisitStatus::Failed, None, Some("x"), "t")
                .unwrap(),
            "settled once"
        );
        assert_eq!(q.get("a").unwrap().unwrap().status, VisitStatus::Confirmed);
        assert_eq!(
            q.counts().unwrap(),
            Counts {
                confirmed: 1,
                discrepancy: 1,
                ..Default::default()
            }
        );
        assert_eq!(q.all(10).unwrap()[0].id, "b", "newest first");
    }

    #[test]
    fn the_breaker_opens_once_and_closes_once() {
        let b = Breaker::default();
        assert!(!b.is_open());
        assert!(b.trip());
        assert!(!b.trip());
        assert!(b.is_open() && b.open_for().is_some());
        assert!(b.close());
        assert!(!b.close());
    }

    #[test]
    fn ids_are_random_hex() {
        let (a, b) = (new_visit_id(), new_visit_id());
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn ratio_labels() {
        for (code, label) in [
            ("030", "3割"),
            ("010", "1割"),
            ("000", "0割"),
            ("025", "25%"),
            ("x", "x"),
        ] {
            assert_eq!(ratio_label(code), label);
        }
    }
}
