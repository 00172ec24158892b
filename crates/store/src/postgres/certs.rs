//! SQL of the PostgreSQL backend for the client-certificate registry (migration 0008).

use super::{pg_err, Conn};
use crate::certs::{certificate_from, CERT_COLS};
use crate::{CertificateRevocation, ClientCertificate, RevokeOutcome, StoreError};

macro_rules! q {
    ($e:expr) => {
        $e.await.map_err(|e| pg_err(&e))?
    };
}

pub(super) async fn record(c: &Conn, cert: &ClientCertificate) -> Result<bool, StoreError> {
    let r = cert.revocation.as_ref();
    let (at, reason, by) = (
        r.map(|r| r.at.unix_millis()),
        r.map(|r| r.reason.as_str()),
        r.map(|r| r.by.as_str()),
    );
    Ok(q!(c.execute(
        &format!(
            "INSERT INTO client_certificates ({CERT_COLS})
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (serial) DO NOTHING"
        ),
        &[
            &cert.serial,
            &cert.kind,
            &cert.subject,
            &cert.not_before.unix_millis(),
            &cert.not_after.unix_millis(),
            &cert.recorded_at.unix_millis(),
            &cert.issued_by,
            &at,
            &reason,
            &by,
        ]
    )) == 1)
}

pub(super) async fn revoke(
    c: &Conn,
    serial: &str,
    r: &CertificateRevocation,
) -> Result<RevokeOutcome, StoreError> {
    // One statement: the update if not revoked yet, and whether the serial is known at all.
    let row = q!(c.query_one(
        "WITH done AS (
             UPDATE client_certificates
             SET revoked_at_ms = $2, revocation_reason = $3, revoked_by = $4
             WHERE serial = $1 AND revoked_at_ms IS NULL
             RETURNING serial)
         SELECT (SELECT count(*) FROM done),
                (SELECT count(*) FROM client_certificates WHERE serial = $1)",
        &[&serial, &r.at.unix_millis(), &r.reason, &r.by]
    ));
    let (updated, known): (i64, i64) = (row.get(0), row.get(1));
    Ok(match (updated, known) {
        (1, _) => RevokeOutcome::Revoked,
        (_, 0) => RevokeOutcome::Unknown,
        _ => RevokeOutcome::AlreadyRevoked,
    })
}

pub(super) async fn list(c: &Conn, limit: u32) -> Result<Vec<ClientCertificate>, StoreError> {
    let rows = q!(c.query(
        &format!(
            "SELECT {CERT_COLS} FROM client_certificates
             ORDER BY recorded_at_ms DESC, serial LIMIT $1"
        ),
        &[&i64::from(limit)]
    ));
    rows.iter().map(certificate_from).collect()
}

pub(super) async fn revoked_serials(c: &Conn) -> Result<Vec<String>, StoreError> {
    let rows = q!(c.query(
        "SELECT serial FROM client_certificates WHERE revoked_at_ms IS NOT NULL ORDER BY serial",
        &[]
    ));
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

pub(super) async fn note_presence(
    c: &Conn,
    seen: &[(kakunin_domain::InstitutionCode, kakunin_domain::Timestamp)],
) -> Result<(), StoreError> {
    // One statement for the batch.
    let codes: Vec<&str> = seen.iter().map(|(c, _)| c.as_str()).collect();
    let times: Vec<i64> = seen.iter().map(|(_, t)| t.unix_millis()).collect();
    q!(c.execute(
        "INSERT INTO institution_presence (institution, last_seen_ms)
         SELECT i, max(t) FROM unnest($1::text[], $2::bigint[]) AS s(i, t) GROUP BY i
         ON CONFLICT (institution) DO UPDATE
         SET last_seen_ms = GREATEST(institution_presence.last_seen_ms, EXCLUDED.last_seen_ms)",
        &[&codes, &times]
    ));
    Ok(())
}

pub(super) async fn presence_counts(
    c: &Conn,
    recent: kakunin_domain::Timestamp,
    since: kakunin_domain::Timestamp,
) -> Result<(u64, u64), StoreError> {
    let row = q!(c.query_one(
        "SELECT count(*) FILTER (WHERE last_seen_ms >= $1), count(*) FILTER (WHERE last_seen_ms < $1)
         FROM institution_presence WHERE last_seen_ms >= $2",
        &[&recent.unix_millis(), &since.unix_millis()]
    ));
    let (active, silent): (i64, i64) = (row.get(0), row.get(1));
    Ok((active as u64, silent as u64))
}
