//! SQL of the PostgreSQL backend for the audit chains (migration 0010).

use super::{pg_err, Conn};
use crate::audit::{
    access_hash, admin_hash, link, AccessFields, AdminEvent, AuditChain, AuditCheckpoint,
    AuditHead, AuditRow, NewAdminEvent,
};
use crate::StoreError;
use kakunin_domain::Timestamp;

macro_rules! q {
    ($e:expr) => {
        $e.await.map_err(|e| pg_err(&e))?
    };
}

pub(super) async fn append_admin_event(
    conn: &mut Conn,
    e: &NewAdminEvent,
) -> Result<i64, StoreError> {
    let tx = q!(conn.transaction());
    // The head row's lock orders appends across nodes.
    let head = q!(tx.query_one(
        "SELECT entry_id, chain_hash FROM audit_heads WHERE chain = 'admin' FOR UPDATE",
        &[]
    ));
    let (last, prev): (i64, String) = (head.get(0), head.get(1));
    let id = last + 1;
    let chain_hash = link(Some(&prev), &admin_hash(id, e));
    q!(tx.execute(
        "INSERT INTO admin_events (id, at_ms, actor, action, target, detail, chain_hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            &id,
            &e.at.unix_millis(),
            &e.actor,
            &e.action,
            &e.target,
            &e.detail,
            &chain_hash
        ]
    ));
    q!(tx.execute(
        "UPDATE audit_heads SET entry_id = $1, chain_hash = $2 WHERE chain = 'admin'",
        &[&id, &chain_hash]
    ));
    q!(tx.commit());
    Ok(id)
}

fn event_from(r: &tokio_postgres::Row) -> NewAdminEvent {
    NewAdminEvent {
        at: Timestamp::from_unix_millis(r.get(1)),
        actor: r.get(2),
        action: r.get(3),
        target: r.get(4),
        detail: r.get(5),
    }
}

pub(super) async fn admin_events(c: &Conn, limit: u32) -> Result<Vec<AdminEvent>, StoreError> {
    let rows = q!(c.query(
        "SELECT id, at_ms, actor, action, target, detail FROM admin_events ORDER BY id DESC LIMIT $1",
        &[&i64::from(limit)]
    ));
    Ok(rows
        .iter()
        .map(|r| AdminEvent {
            id: r.get(0),
            event: event_from(r),
        })
        .collect())
}

pub(super) async fn rows(
    c: &Conn,
    chain: AuditChain,
    after_id: i64,
    limit: u32,
) -> Result<Vec<AuditRow>, StoreError> {
    let limit = i64::from(limit);
    match chain {
        AuditChain::Admin => {
            let rows = q!(c.query(
                "SELECT id, at_ms, actor, action, target, detail, chain_hash FROM admin_events
                 WHERE id > $1 ORDER BY id LIMIT $2",
                &[&after_id, &limit]
            ));
            Ok(rows
                .iter()
                .map(|r| {
                    let id: i64 = r.get(0);
                    AuditRow {
                        id,
                        entry_hash: admin_hash(id, &event_from(r)),
                        chain_hash: r.get(6),
                    }
                })
                .collect())
        }
        AuditChain::Access => {
            let rows = q!(c.query(
                "SELECT a.id, a.at_ms, a.institution_code, a.purpose, a.result, a.processing_code,
                        a.category, a.period_from, a.period_to, a.basis, a.chain_hash,
                        ARRAY(SELECT s.qualification_id FROM access_log_subjects s
                              WHERE s.access_id = a.id AND s.access_at_ms = a.at_ms)
                 FROM access_log a WHERE a.id > $1 ORDER BY a.id LIMIT $2",
                &[&after_id, &limit]
            ));
            Ok(rows
                .iter()
                .map(|r| {
                    let id: i64 = r.get(0);
                    let subjects: Vec<i64> = r.get(11);
                    AuditRow {
                        id,
                        entry_hash: access_hash(&AccessFields {
                            id,
                            at_ms: r.get(1),
                            institution: r.get(2),
                            purpose: r.get(3),
                            result: r.get(4),
                            processing_code: r.get(5),
                            category: r.get(6),
                            period_from: r.get(7),
                            period_to: r.get(8),
                            basis: r.get(9),
                            subjects: &subjects,
                        }),
                        chain_hash: r.get(10),
                    }
                })
                .collect())
        }
    }
}

pub(super) async fn heads(c: &Conn) -> Result<Vec<AuditHead>, StoreError> {
    let rows = q!(c.query(
        "SELECT chain, entry_id, chain_hash FROM audit_heads WHERE entry_id > 0 ORDER BY chain",
        &[]
    ));
    rows.iter()
        .map(|r| {
            let chain: String = r.get(0);
            Ok(AuditHead {
                chain: AuditChain::parse(&chain)
                    .ok_or_else(|| StoreError::Corrupt(format!("audit chain {chain:?}")))?,
                entry_id: r.get(1),
                chain_hash: r.get(2),
            })
        })
        .collect()
}

pub(super) async fn record_checkpoint(c: &Conn, cp: &AuditCheckpoint) -> Result<(), StoreError> {
    q!(c.execute(
        "INSERT INTO audit_checkpoints (at_ms, chain, entry_id, chain_hash, key_id, signature)
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &cp.at.unix_millis(),
            &cp.chain.code(),
            &cp.entry_id,
            &cp.chain_hash,
            &cp.key_id,
            &cp.signature
        ]
    ));
    Ok(())
}

pub(super) async fn checkpoints(c: &Conn) -> Result<Vec<AuditCheckpoint>, StoreError> {
    checkpoints_where(c, "").await
}

/// The newest checkpoint of each chain.
pub(super) async fn newest_checkpoints(c: &Conn) -> Result<Vec<AuditCheckpoint>, StoreError> {
    checkpoints_where(c, crate::audit::NEWEST_CHECKPOINTS).await
}

async fn checkpoints_where(c: &Conn, filter: &str) -> Result<Vec<AuditCheckpoint>, StoreError> {
    let rows = q!(c.query(
        &format!(
            "SELECT at_ms, chain, entry_id, chain_hash, key_id, signature FROM audit_checkpoints
             {filter} ORDER BY id"
        ),
        &[]
    ));
    rows.iter()
        .map(|r| {
            let chain: String = r.get(1);
            Ok(AuditCheckpoint {
                at: Timestamp::from_unix_millis(r.get(0)),
                chain: AuditChain::parse(&chain)
                    .ok_or_else(|| StoreError::Corrupt(format!("audit chain {chain:?}")))?,
                entry_id: r.get(2),
                chain_hash: r.get(3),
                key_id: r.get(4),
                signature: r.get(5),
            })
        })
        .collect()
}

pub(super) async fn idempotency_begin(
    conn: &mut Conn,
    caller: &str,
    key: &str,
    fingerprint: &str,
    now_ms: i64,
    stale_ms: i64,
) -> Result<crate::IdempotencyBegin, StoreError> {
    use crate::IdempotencyBegin as B;
    let tx = q!(conn.transaction());
    let claimed = q!(tx.execute(
        "INSERT INTO idempotency_keys (caller, key, fingerprint, started_at_ms)
         VALUES ($1, $2, $3, $4) ON CONFLICT (caller, key) DO NOTHING",
        &[&caller, &key, &fingerprint, &now_ms]
    ));
    let outcome = if claimed == 1 {
        B::Fresh
    } else {
        let r = q!(tx.query_one(
            "SELECT fingerprint, started_at_ms, status, content_type, body FROM idempotency_keys
             WHERE caller = $1 AND key = $2 FOR UPDATE",
            &[&caller, &key]
        ));
        let (f, started, status): (String, i64, Option<i32>) = (r.get(0), r.get(1), r.get(2));
        if f != fingerprint {
            B::Mismatch
        } else if let Some(status) = status {
            B::Replay {
                status: status as u16,
                content_type: r.get::<_, Option<String>>(3).unwrap_or_default(),
                body: r.get::<_, Option<Vec<u8>>>(4).unwrap_or_default(),
            }
        } else if now_ms - started > stale_ms {
            q!(tx.execute(
                "UPDATE idempotency_keys SET started_at_ms = $3 WHERE caller = $1 AND key = $2",
                &[&caller, &key, &now_ms]
            ));
            B::Fresh
        } else {
            B::InProgress
        }
    };
    q!(tx.commit());
    Ok(outcome)
}

pub(super) async fn idempotency_finish(
    c: &Conn,
    caller: &str,
    key: &str,
    answer: Option<&crate::IdempotentAnswer>,
) -> Result<(), StoreError> {
    match answer {
        Some(a) => q!(c.execute(
            "UPDATE idempotency_keys SET status = $3, content_type = $4, body = $5
             WHERE caller = $1 AND key = $2 AND status IS NULL",
            &[
                &caller,
                &key,
                &i32::from(a.status),
                &a.content_type,
                &a.body
            ]
        )),
        None => q!(c.execute(
            "DELETE FROM idempotency_keys WHERE caller = $1 AND key = $2 AND status IS NULL",
            &[&caller, &key]
        )),
    };
    Ok(())
}

pub(super) async fn purge_idempotency(c: &Conn, before_ms: i64) -> Result<u64, StoreError> {
    Ok(q!(c.execute(
        "DELETE FROM idempotency_keys WHERE started_at_ms < $1",
        &[&before_ms]
    )))
}
