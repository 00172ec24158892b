//! SQL of the SQLite backend for the audit chains (migration 0010).

use crate::audit::{
    access_hash, admin_hash, link, AccessFields, AdminEvent, AuditChain, AuditCheckpoint,
    AuditHead, AuditRow, NewAdminEvent,
};
use crate::StoreError;
use kakunin_domain::Timestamp;
use rusqlite::{params, Connection};
use std::collections::HashMap;

/// The chain's newest entry id and hash (`0`, `""` when empty).
pub(super) fn head(conn: &Connection, chain: AuditChain) -> Result<(i64, String), StoreError> {
    Ok(conn.query_row(
        "SELECT entry_id, chain_hash FROM audit_heads WHERE chain = ?1",
        [chain.code()],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?)
}

pub(super) fn set_head(
    conn: &Connection,
    chain: AuditChain,
    entry_id: i64,
    chain_hash: &str,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE audit_heads SET entry_id = ?2, chain_hash = ?3 WHERE chain = ?1",
        params![chain.code(), entry_id, chain_hash],
    )?;
    Ok(())
}

pub(super) fn append_admin_event(
    conn: &mut Connection,
    e: &NewAdminEvent,
) -> Result<i64, StoreError> {
    let tx = conn.transaction()?;
    let (_, prev) = head(&tx, AuditChain::Admin)?;
    let id: i64 = tx.query_row(
        "SELECT coalesce(max(id), 0) + 1 FROM admin_events",
        [],
        |r| r.get(0),
    )?;
    let chain_hash = link(Some(&prev), &admin_hash(id, e));
    tx.execute(
        "INSERT INTO admin_events (id, at_ms, actor, action, target, detail, chain_hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            id,
            e.at.unix_millis(),
            e.actor,
            e.action,
            e.target,
            e.detail,
            chain_hash
        ],
    )?;
    set_head(&tx, AuditChain::Admin, id, &chain_hash)?;
    tx.commit()?;
    Ok(id)
}

pub(super) fn admin_events(conn: &Connection, limit: u32) -> Result<Vec<AdminEvent>, StoreError> {
    let mut st = conn.prepare_cached(
        "SELECT id, at_ms, actor, action, target, detail FROM admin_events ORDER BY id DESC LIMIT ?1",
    )?;
    let rows = st
        .query_map([i64::from(limit)], |r| {
            Ok(AdminEvent {
                id: r.get(0)?,
                event: NewAdminEvent {
                    at: Timestamp::from_unix_millis(r.get(1)?),
                    actor: r.get(2)?,
                    action: r.get(3)?,
                    target: r.get(4)?,
                    detail: r.get(5)?,
                },
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Entries after `after_id`, in id order, at most `limit`, each with the hash of what is
/// stored now.
pub(super) fn rows(
    conn: &Connection,
    chain: AuditChain,
    after_id: i64,
    limit: u32,
) -> Result<Vec<AuditRow>, StoreError> {
    match chain {
        AuditChain::Access => access_rows(conn, after_id, limit),
        AuditChain::Admin => {
            let mut st = conn.prepare_cached(
                "SELECT id, at_ms, actor, action, target, detail, chain_hash FROM admin_events
                 WHERE id > ?1 ORDER BY id LIMIT ?2",
            )?;
            let rows = st
                .query_map(params![after_id, i64::from(limit)], |r| {
                    let id: i64 = r.get(0)?;
                    let e = NewAdminEvent {
                        at: Timestamp::from_unix_millis(r.get(1)?),
                        actor: r.get(2)?,
                        action: r.get(3)?,
                        target: r.get(4)?,
                        detail: r.get(5)?,
                    };
                    Ok(AuditRow {
                        id,
                        entry_hash: admin_hash(id, &e),
                        chain_hash: r.get(6)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        }
    }
}

type AccessColumns = (
    i64,
    i64,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

fn access_rows(conn: &Connection, after_id: i64, limit: u32) -> Result<Vec<AuditRow>, StoreError> {
    let mut st = conn.prepare_cached(
        "SELECT id, at_ms, institution_code, purpose, result, processing_code, category,
                period_from, period_to, basis, chain_hash
         FROM access_log WHERE id > ?1 ORDER BY id LIMIT ?2",
    )?;
    let rows: Vec<AccessColumns> = st
        .query_map(params![after_id, i64::from(limit)], |r| {
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
            ))
        })?
        .collect::<Result<_, _>>()?;
    let (Some(first), Some(last)) = (rows.first(), rows.last()) else {
        return Ok(Vec::new());
    };
    let mut subjects: HashMap<i64, Vec<i64>> = HashMap::new();
    let mut sub = conn.prepare_cached(
        "SELECT access_id, qualification_id FROM access_log_subjects
         WHERE access_id BETWEEN ?1 AND ?2",
    )?;
    let mut found = sub.query(params![first.0, last.0])?;
    while let Some(r) = found.next()? {
        subjects.entry(r.get(0)?).or_default().push(r.get(1)?);
    }
    Ok(rows
        .iter()
        .map(|c| AuditRow {
            id: c.0,
            entry_hash: access_hash(&AccessFields {
                id: c.0,
                at_ms: c.1,
                institution: &c.2,
                purpose: &c.3,
                result: &c.4,
                processing_code: &c.5,
                category: c.6.as_deref(),
                period_from: c.7.as_deref(),
                period_to: c.8.as_deref(),
                basis: c.9.as_deref(),
                subjects: subjects.get(&c.0).map_or(&[], Vec::as_slice),
            }),
            chain_hash: c.10.clone(),
        })
        .collect())
}

pub(super) fn heads(conn: &Connection) -> Result<Vec<AuditHead>, StoreError> {
    let mut st = conn.prepare_cached(
        "SELECT chain, entry_id, chain_hash FROM audit_heads WHERE entry_id > 0 ORDER BY chain",
    )?;
    let rows = st
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter()
        .map(|(c, entry_id, chain_hash)| {
            Ok(AuditHead {
                chain: AuditChain::parse(&c)
                    .ok_or_else(|| StoreError::Corrupt(format!("audit chain {c:?}")))?,
                entry_id,
                chain_hash,
            })
        })
        .collect()
}

pub(super) fn record_checkpoint(
    conn: &mut Connection,
    c: &AuditCheckpoint,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO audit_checkpoints (at_ms, chain, entry_id, chain_hash, key_id, signature)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            c.at.unix_millis(),
            c.chain.code(),
            c.entry_id,
            c.chain_hash,
            c.key_id,
            c.signature
        ],
    )?;
    Ok(())
}

pub(super) fn checkpoints(conn: &Connection) -> Result<Vec<AuditCheckpoint>, StoreError> {
    checkpoints_where(conn, "")
}

/// The newest checkpoint of each chain.
pub(super) fn newest_checkpoints(conn: &Connection) -> Result<Vec<AuditCheckpoint>, StoreError> {
    checkpoints_where(conn, crate::audit::NEWEST_CHECKPOINTS)
}

fn checkpoints_where(conn: &Connection, filter: &str) -> Result<Vec<AuditCheckpoint>, StoreError> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT at_ms, chain, entry_id, chain_hash, key_id, signature FROM audit_checkpoints
         {filter} ORDER BY id"
    ))?;
    let rows = st
        .query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter()
        .map(|(at, chain, entry_id, chain_hash, key_id, signature)| {
            Ok(AuditCheckpoint {
                at: Timestamp::from_unix_millis(at),
                chain: AuditChain::parse(&chain)
                    .ok_or_else(|| StoreError::Corrupt(format!("audit chain {chain:?}")))?,
                entry_id,
                chain_hash,
                key_id,
                signature,
            })
        })
        .collect()
}

pub(super) fn idempotency_begin(
    conn: &mut Connection,
    caller: &str,
    key: &str,
    fingerprint: &str,
    now_ms: i64,
    stale_ms: i64,
) -> Result<crate::IdempotencyBegin, StoreError> {
    use crate::IdempotencyBegin as B;
    use rusqlite::OptionalExtension;
    let tx = conn.transaction()?;
    type Found = (String, i64, Option<i64>, Option<String>, Option<Vec<u8>>);
    let found: Option<Found> = tx
        .query_row(
            "SELECT fingerprint, started_at_ms, status, content_type, body FROM idempotency_keys
             WHERE caller = ?1 AND key = ?2",
            params![caller, key],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .optional()?;
    let outcome = match found {
        None => {
            tx.execute(
                "INSERT INTO idempotency_keys (caller, key, fingerprint, started_at_ms)
                 VALUES (?1, ?2, ?3, ?4)",
                params![caller, key, fingerprint, now_ms],
            )?;
            B::Fresh
        }
        Some((f, _, _, _, _)) if f != fingerprint => B::Mismatch,
        Some((_, _, Some(status), content_type, body)) => B::Replay {
            status: status as u16,
            content_type: content_type.unwrap_or_default(),
            body: body.unwrap_or_default(),
        },
        Some((_, started, None, _, _)) if now_ms - started > stale_ms => {
            tx.execute(
                "UPDATE idempotency_keys SET started_at_ms = ?3 WHERE caller = ?1 AND key = ?2",
                params![caller, key, now_ms],
            )?;
            B::Fresh
        }
        Some(_) => B::InProgress,
    };
    tx.commit()?;
    Ok(outcome)
}

pub(super) fn idempotency_finish(
    conn: &mut Connection,
    caller: &str,
    key: &str,
    answer: Option<&crate::IdempotentAnswer>,
) -> Result<(), StoreError> {
    match answer {
        Some(a) => conn.execute(
            "UPDATE idempotency_keys SET status = ?3, content_type = ?4, body = ?5
             WHERE caller = ?1 AND key = ?2 AND status IS NULL",
            params![caller, key, i64::from(a.status), a.content_type, a.body],
        )?,
        None => conn.execute(
            "DELETE FROM idempotency_keys WHERE caller = ?1 AND key = ?2 AND status IS NULL",
            params![caller, key],
        )?,
    };
    Ok(())
}

pub(super) fn purge_idempotency(conn: &mut Connection, before_ms: i64) -> Result<u64, StoreError> {
    Ok(conn.execute(
        "DELETE FROM idempotency_keys WHERE started_at_ms < ?1",
        [before_ms],
    )? as u64)
}
