//! `registry.sqlite3`: residents, cards and their status history (WAL, `synchronous=FULL`,
//! versioned append-only migrations with checksums, like the store crate's).
//!
//! Several processes may open the same registry: every status change bumps `status_seq` in the
//! same transaction, which is how each process notices that its cached CRL is stale.

use crate::ca::{serial_bytes, CrlEntry};
use crate::{
    hex, AuthorityError, CardRecord, CardStatus, MatchOutcome, MatchQuery, Resident,
    RevocationReason,
};
use kakunin_domain::{Date, Sex, Timestamp};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

pub(crate) const REGISTRY_FILE: &str = "registry.sqlite3";

const MIGRATIONS: &[(i64, &str, &str)] =
    &[(1, "0001_init", include_str!("migrations/0001_init.sql"))];

const READERS: usize = 4;

pub(crate) struct Registry {
    writer: Mutex<Connection>,
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
}

/// A card to record.
pub(crate) struct NewCard {
    pub serial: String,
    pub individual_number: String,
    pub not_before: Timestamp,
    pub not_after: Timestamp,
    pub cert_sha256: Vec<u8>,
    pub issued_at: Timestamp,
}

/// What [`Registry::crl_snapshot`] read in one transaction.
pub(crate) struct CrlSnapshot {
    pub status_seq: i64,
    pub crl_number: u64,
    pub entries: Vec<CrlEntry>,
}

fn lock<T>(m: &Mutex<T>) -> Result<std::sync::MutexGuard<'_, T>, AuthorityError> {
    m.lock()
        .map_err(|_| AuthorityError::Storage("a registry connection was poisoned".into()))
}

fn configure(conn: &Connection) -> Result<(), AuthorityError> {
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref())
}

fn migrate(conn: &mut Connection) -> Result<(), AuthorityError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version INTEGER PRIMARY KEY, name TEXT NOT NULL, sha256 TEXT NOT NULL, applied_at_ms INTEGER NOT NULL)",
    )?;
    let known = MIGRATIONS.iter().map(|m| m.0).max().unwrap_or(0);
    for &(version, name, sql) in MIGRATIONS {
        let digest = sha256_hex(sql.as_bytes());
        // IMMEDIATE: two processes opening a fresh registry apply each migration once.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let found: i64 = tx.query_row(
            "SELECT coalesce(max(version), 0) FROM schema_migrations",
            [],
            |r| r.get(0),
        )?;
        if found > known {
            return Err(AuthorityError::Storage(format!(
                "the registry schema is at version {found}, newer than this kakunin ({known}); upgrade kakunin"
            )));
        }
        let applied: Option<String> = tx
            .query_row(
                "SELECT sha256 FROM schema_migrations WHERE version = ?1",
                [version],
                |r| r.get(0),
            )
            .optional()?;
        match applied {
            Some(d) if d == digest => {}
            Some(_) => {
                return Err(AuthorityError::Storage(format!(
                    "migration {name} was changed after it was applied (migrations are append-only)"
                )))
            }
            None => {
                tx.execute_batch(sql)?;
                tx.execute(
                    "INSERT INTO schema_migrations (version, name, sha256, applied_at_ms) VALUES (?1, ?2, ?3, ?4)",
                    params![version, name, digest, crate::now().unix_millis()],
                )?;
            }
        }
        tx.commit()?;
    }
    Ok(())
}

fn status_of(code: &str) -> Result<CardStatus, AuthorityError> {
    CardStatus::parse(code)
        .ok_or_else(|| AuthorityError::Storage(format!("unknown card status {code:?} in registry")))
}

fn reason_of(code: Option<i64>) -> Result<Option<RevocationReason>, AuthorityError> {
    code.map(|c| {
        u8::try_from(c)
            .ok()
            .and_then(RevocationReason::from_crl_code)
            .ok_or_else(|| AuthorityError::Storage(format!("unknown revocation reason {c}")))
    })
    .transpose()
}

fn bump_status_seq(conn: &Connection) -> Result<(), AuthorityError> {
    conn.execute(
        "UPDATE registry_state SET status_seq = status_seq + 1 WHERE id = 1",
        [],
    )?;
    Ok(())
}

fn record_event(
    conn: &Connection,
    serial: &str,
    status: CardStatus,
    reason: Option<RevocationReason>,
    at: Timestamp,
) -> Result<(), AuthorityError> {
    conn.prepare_cached(
        "INSERT INTO card_events (serial, status, revocation_reason, at_ms) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![
        serial,
        status.code(),
        reason.map(|r| r.crl_code()),
        at.unix_millis()
    ])?;
    Ok(())
}

impl Registry {
    /// Opens the registry file at `path`, creating it when `create`, and applies migrations.
    pub(crate) fn open(path: &Path, create: bool) -> Result<Self, AuthorityError> {
        let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI;
        if create {
            flags |= OpenFlags::SQLITE_OPEN_CREATE;
        }
        let mut writer = Connection::open_with_flags(path, flags)?;
        configure(&writer)?;
        let mode: String =
            writer.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(AuthorityError::Storage(format!(
                "could not enable WAL (journal_mode={mode})"
            )));
        }
        writer.pragma_update(None, "synchronous", "FULL")?;
        migrate(&mut writer)?;
        let readers = (0..READERS)
            .map(|_| {
                let r = Connection::open_with_flags(
                    path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY
                        | OpenFlags::SQLITE_OPEN_NO_MUTEX
                        | OpenFlags::SQLITE_OPEN_URI,
                )?;
                configure(&r)?;
                Ok(Mutex::new(r))
            })
            .collect::<Result<Vec<_>, AuthorityError>>()?;
        Ok(Self {
            writer: Mutex::new(writer),
            readers,
            next_reader: AtomicUsize::new(0),
        })
    }

    /// Runs `f` on a read-only connection (the first free one, else the round-robin one).
    fn read<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, AuthorityError>,
    ) -> Result<T, AuthorityError> {
        let start = self.next_reader.fetch_add(1, Ordering::Relaxed);
        let n = self.readers.len();
        let mut conn = match (0..n).find_map(|i| self.readers[(start + i) % n].try_lock().ok()) {
            Some(c) => c,
            None => lock(&self.readers[start % n])?,
        };
        f(&mut conn)
    }

    /// Runs `f` in an IMMEDIATE transaction on the write connection and commits.
    fn write<T>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, AuthorityError>,
    ) -> Result<T, AuthorityError> {
        let mut conn = lock(&self.writer)?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }

    /// Upserts residents in one transaction; returns how many were inserted or changed.
    pub(crate) fn upsert_residents(
        &self,
        residents: &[Resident],
        at: Timestamp,
    ) -> Result<u64, AuthorityError> {
        self.write(|tx| {
            let mut st = tx.prepare_cached(
                "INSERT INTO residents (individual_number, name, name_kana, birthdate, sex, address, updated_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (individual_number) DO UPDATE SET
                    name = excluded.name, name_kana = excluded.name_kana, birthdate = excluded.birthdate,
                    sex = excluded.sex, address = excluded.address, updated_at_ms = excluded.updated_at_ms
                 WHERE (name, name_kana, birthdate, sex, address)
                    <> (excluded.name, excluded.name_kana, excluded.birthdate, excluded.sex, excluded.address)",
            )?;
            let mut written = 0u64;
            for r in residents {
                written += st.execute(params![
                    r.individual_number.expose(),
                    r.name,
                    r.name_kana,
                    r.birthdate.compact(),
                    r.sex.code(),
                    r.address,
                    at.unix_millis()
                ])? as u64;
            }
            Ok(written)
        })
    }

    pub(crate) fn resident_count(&self) -> Result<u64, AuthorityError> {
        self.read(|c| {
            Ok(c.query_row("SELECT count(*) FROM residents", [], |r| r.get::<_, i64>(0))? as u64)
        })
    }

    pub(crate) fn resident_exists(&self, number: &str) -> Result<bool, AuthorityError> {
        self.read(|c| {
            Ok(
                c.prepare_cached("SELECT 1 FROM residents WHERE individual_number = ?1")?
                    .exists([number])?,
            )
        })
    }

    /// Records a new active card; with `revoke_previous`, revokes (superseded) the person's
    /// other unrevoked cards in the same transaction.
    pub(crate) fn insert_card(
        &self,
        card: &NewCard,
        revoke_previous: bool,
    ) -> Result<(), AuthorityError> {
        self.write(|tx| {
            let exists = tx
                .prepare_cached("SELECT 1 FROM residents WHERE individual_number = ?1")?
                .exists([&card.individual_number])?;
            if !exists {
                return Err(AuthorityError::UnknownResident);
            }
            if revoke_previous {
                let previous: Vec<String> = tx
                    .prepare_cached(
                        "SELECT serial FROM cards WHERE individual_number = ?1 AND status <> 'revoked'",
                    )?
                    .query_map([&card.individual_number], |r| r.get(0))?
                    .collect::<Result<_, _>>()?;
                for serial in &previous {
                    set_status_in(
                        tx,
                        serial,
                        CardStatus::Revoked,
                        Some(RevocationReason::Superseded),
                        card.issued_at,
                    )?;
                }
            }
            tx.execute(
                "INSERT INTO cards (serial, individual_number, status, revocation_reason, not_before_ms,
                    not_after_ms, cert_sha256, issued_at_ms, changed_at_ms)
                 VALUES (?1, ?2, 'active', NULL, ?3, ?4, ?5, ?6, ?6)",
                params![
                    card.serial,
                    card.individual_number,
                    card.not_before.unix_millis(),
                    card.not_after.unix_millis(),
                    card.cert_sha256,
                    card.issued_at.unix_millis()
                ],
            )?;
            record_event(tx, &card.serial, CardStatus::Active, None, card.issued_at)
        })
    }

    pub(crate) fn card(&self, serial: &str) -> Result<Option<CardRecord>, AuthorityError> {
        self.read(|c| {
            let row = c
                .prepare_cached(
                    "SELECT serial, status, revocation_reason, not_before_ms, not_after_ms, issued_at_ms, changed_at_ms
                     FROM cards WHERE serial = ?1",
                )?
                .query_row([serial], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, Option<i64>>(2)?,
                        r.get::<_, i64>(3)?,
                        r.get::<_, i64>(4)?,
                        r.get::<_, i64>(5)?,
                        r.get::<_, i64>(6)?,
                    ))
                })
                .optional()?;
            row.map(|(serial, status, reason, nb, na, issued, changed)| {
                Ok(CardRecord {
                    serial,
                    status: status_of(&status)?,
                    revocation_reason: reason_of(reason)?,
                    not_before: Timestamp::from_unix_millis(nb),
                    not_after: Timestamp::from_unix_millis(na),
                    issued_at: Timestamp::from_unix_millis(issued),
                    changed_at: Timestamp::from_unix_millis(changed),
                })
            })
            .transpose()
        })
    }

    /// Moves a card to `target`. Same status again is a no-op; leaving `revoked` is refused.
    pub(crate) fn set_status(
        &self,
        serial: &str,
        target: CardStatus,
        reason: Option<RevocationReason>,
        at: Timestamp,
    ) -> Result<(), AuthorityError> {
        self.write(|tx| set_status_in(tx, serial, target, reason, at))
    }

    pub(crate) fn status_seq(&self) -> Result<i64, AuthorityError> {
        self.read(|c| {
            Ok(c.query_row(
                "SELECT status_seq FROM registry_state WHERE id = 1",
                [],
                |r| r.get(0),
            )?)
        })
    }

    /// Takes the next CRL number and reads what the CRL must list, in one transaction.
    pub(crate) fn crl_snapshot(&self) -> Result<CrlSnapshot, AuthorityError> {
        self.write(|tx| {
            tx.execute(
                "UPDATE registry_state SET crl_number = crl_number + 1 WHERE id = 1",
                [],
            )?;
            let (status_seq, crl_number): (i64, i64) = tx.query_row(
                "SELECT status_seq, crl_number FROM registry_state WHERE id = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            let mut st = tx.prepare_cached(
                "SELECT serial, status, revocation_reason, changed_at_ms FROM cards
                 WHERE status <> 'active' ORDER BY serial",
            )?;
            let rows = st.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<i64>>(2)?,
                    r.get::<_, i64>(3)?,
                ))
            })?;
            let mut entries = Vec::new();
            for row in rows {
                let (serial, status, reason, changed_at_ms) = row?;
                let reason = match (status_of(&status)?, reason_of(reason)?) {
                    (CardStatus::Suspended, _) => rcgen::RevocationReason::CertificateHold,
                    (_, Some(r)) => crl_reason(r),
                    (_, None) => rcgen::RevocationReason::Unspecified,
                };
                entries.push(CrlEntry {
                    serial: serial_bytes(&serial).ok_or_else(|| {
                        AuthorityError::Storage(format!("malformed serial {serial:?} in registry"))
                    })?,
                    at_secs: changed_at_ms.div_euclid(1000),
                    reason,
                });
            }
            Ok(CrlSnapshot {
                status_seq,
                crl_number: crl_number as u64,
                entries,
            })
        })
    }

    /// The 個人番号, serial and end of validity of the card with this certificate hash.
    pub(crate) fn owner_of(
        &self,
        cert_sha256: &[u8],
    ) -> Result<Option<(String, String, Timestamp)>, AuthorityError> {
        self.read(|c| {
            Ok(c.prepare_cached(
                "SELECT individual_number, serial, not_after_ms FROM cards WHERE cert_sha256 = ?1",
            )?
            .query_row([cert_sha256], |r| {
                Ok((r.get(0)?, r.get(1)?, Timestamp::from_unix_millis(r.get(2)?)))
            })
            .optional()?)
        })
    }

    /// Looks every query's resident up in one read transaction and lets `decide` answer it.
    pub(crate) fn match_batch(
        &self,
        queries: &[MatchQuery],
        decide: impl Fn(&MatchQuery, Option<&Resident>) -> MatchOutcome,
    ) -> Result<Vec<MatchOutcome>, AuthorityError> {
        self.read(|c| {
            let tx = c.transaction()?;
            let mut out = Vec::with_capacity(queries.len());
            {
                let mut st = tx.prepare_cached(
                    "SELECT name, name_kana, birthdate, sex, address FROM residents WHERE individual_number = ?1",
                )?;
                for q in queries {
                    let row = st
                        .query_row([q.individual_number.expose()], |r| {
                            Ok((
                                r.get::<_, String>(0)?,
                                r.get::<_, String>(1)?,
                                r.get::<_, String>(2)?,
                                r.get::<_, String>(3)?,
                                r.get::<_, String>(4)?,
                            ))
                        })
                        .optional()?;
                    let resident = row
                        .map(|(name, name_kana, birthdate, sex, address)| {
                            Ok::<_, AuthorityError>(Resident {
                                individual_number: q.individual_number.clone(),
                                name,
                                name_kana,
                                birthdate: Date::parse(&birthdate).map_err(|e| {
                                    AuthorityError::Storage(format!("bad birthdate in registry: {e}"))
                                })?,
                                sex: Sex::parse(&sex).ok_or_else(|| {
                                    AuthorityError::Storage("bad sex code in registry".into())
                                })?,
                                address,
                            })
                        })
                        .transpose()?;
                    out.push(decide(q, resident.as_ref()));
                }
            }
            tx.commit()?;
            Ok(out)
        })
    }
}

fn crl_reason(r: RevocationReason) -> rcgen::RevocationReason {
    match r {
        RevocationReason::Unspecified => rcgen::RevocationReason::Unspecified,
        RevocationReason::KeyCompromise => rcgen::RevocationReason::KeyCompromise,
        RevocationReason::Superseded => rcgen::RevocationReason::Superseded,
        RevocationReason::CessationOfOperation => rcgen::RevocationReason::CessationOfOperation,
    }
}

fn set_status_in(
    tx: &Connection,
    serial: &str,
    target: CardStatus,
    reason: Option<RevocationReason>,
    at: Timestamp,
) -> Result<(), AuthorityError> {
    let current: Option<String> = tx
        .prepare_cached("SELECT status FROM cards WHERE serial = ?1")?
        .query_row([serial], |r| r.get(0))
        .optional()?;
    let current = status_of(&current.ok_or(AuthorityError::UnknownCard)?)?;
    match (current, target) {
        // Revoking twice is fine (the first reason stays); leaving `revoked` is not.
        (CardStatus::Revoked, CardStatus::Revoked) => return Ok(()),
        (CardStatus::Revoked, _) => return Err(AuthorityError::CardRevoked),
        (c, t) if c == t => return Ok(()),
        _ => {}
    }
    let reason = match target {
        CardStatus::Revoked => Some(reason.unwrap_or(RevocationReason::Unspecified)),
        _ => None,
    };
    tx.prepare_cached(
        "UPDATE cards SET status = ?2, revocation_reason = ?3, changed_at_ms = ?4 WHERE serial = ?1",
    )?
    .execute(params![
        serial,
        target.code(),
        reason.map(|r| r.crl_code()),
        at.unix_millis()
    ])?;
    record_event(tx, serial, target, reason, at)?;
    bump_status_seq(tx)
}
