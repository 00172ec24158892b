//! SQL of the SQLite backend for the client-certificate registry (migration 0008).

use crate::certs::{certificate_from, CERT_COLS};
use crate::{CertificateRevocation, ClientCertificate, RevokeOutcome, StoreError};
use rusqlite::{params, Connection, OptionalExtension};

pub(super) fn record(conn: &mut Connection, c: &ClientCertificate) -> Result<bool, StoreError> {
    let r = c.revocation.as_ref();
    Ok(conn.execute(
        &format!(
            "INSERT INTO client_certificates ({CERT_COLS})
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT (serial) DO NOTHING"
        ),
        params![
            c.serial,
            c.kind,
            c.subject,
            c.not_before.unix_millis(),
            c.not_after.unix_millis(),
            c.recorded_at.unix_millis(),
            c.issued_by,
            r.map(|r| r.at.unix_millis()),
            r.map(|r| r.reason.as_str()),
            r.map(|r| r.by.as_str()),
        ],
    )? == 1)
}

pub(super) fn revoke(
    conn: &mut Connection,
    serial: &str,
    r: &CertificateRevocation,
) -> Result<RevokeOutcome, StoreError> {
    let tx = conn.transaction()?;
    let known: Option<Option<i64>> = tx
        .query_row(
            "SELECT revoked_at_ms FROM client_certificates WHERE serial = ?1",
            [serial],
            |row| row.get(0),
        )
        .optional()?;
    let outcome = match known {
        None => RevokeOutcome::Unknown,
        Some(Some(_)) => RevokeOutcome::AlreadyRevoked,
        Some(None) => {
            tx.execute(
                "UPDATE client_certificates
                 SET revoked_at_ms = ?2, revocation_reason = ?3, revoked_by = ?4
                 WHERE serial = ?1",
                params![serial, r.at.unix_millis(), r.reason, r.by],
            )?;
            RevokeOutcome::Revoked
        }
    };
    tx.commit()?;
    Ok(outcome)
}

pub(super) fn list(conn: &Connection, limit: u32) -> Result<Vec<ClientCertificate>, StoreError> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {CERT_COLS} FROM client_certificates
         ORDER BY recorded_at_ms DESC, serial LIMIT ?1"
    ))?;
    let mut rows = st.query([i64::from(limit)])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(certificate_from(r)?);
    }
    Ok(out)
}

pub(super) fn revoked_serials(conn: &Connection) -> Result<Vec<String>, StoreError> {
    let mut st = conn.prepare_cached(
        "SELECT serial FROM client_certificates WHERE revoked_at_ms IS NOT NULL ORDER BY serial",
    )?;
    let serials = st
        .query_map([], |r| r.get(0))?
        .collect::<Result<Vec<String>, _>>()?;
    Ok(serials)
}

pub(super) fn note_presence(
    conn: &mut Connection,
    seen: &[(kakunin_domain::InstitutionCode, kakunin_domain::Timestamp)],
) -> Result<(), StoreError> {
    let tx = conn.transaction()?;
    {
        let mut st = tx.prepare_cached(
            "INSERT INTO institution_presence (institution, last_seen_ms) VALUES (?1, ?2)
             ON CONFLICT (institution) DO UPDATE
             SET last_seen_ms = max(last_seen_ms, excluded.last_seen_ms)",
        )?;
        for (code, at) in seen {
            st.execute(params![code.as_str(), at.unix_millis()])?;
        }
    }
    tx.commit()?;
    Ok(())
}

pub(super) fn presence_counts(
    conn: &Connection,
    recent: kakunin_domain::Timestamp,
    since: kakunin_domain::Timestamp,
) -> Result<(u64, u64), StoreError> {
    let (active, silent): (i64, i64) = conn.query_row(
        "SELECT coalesce(sum(last_seen_ms >= ?1), 0), coalesce(sum(last_seen_ms < ?1), 0)
         FROM institution_presence WHERE last_seen_ms >= ?2",
        params![recent.unix_millis(), since.unix_millis()],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok((active as u64, silent as u64))
}
