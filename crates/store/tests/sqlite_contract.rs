//! The store contract on SQLite, plus what only SQLite can show (reopen, append-only triggers).

use kakunin_store::{contract, SqliteStore, Store};
use std::sync::Arc;

async fn fresh() -> Option<(tempfile::TempDir, Arc<dyn Store>)> {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("kakunin.sqlite3")).unwrap();
    Some((dir, Arc::new(store)))
}

kakunin_store::store_contract_tests!(fresh());

#[tokio::test]
async fn acknowledged_writes_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kakunin.sqlite3");
    {
        let s = SqliteStore::open(&path).unwrap();
        s.import_roster(contract::roster(vec![contract::qualification(
            "1",
            "2",
            Some("00"),
            "19800101",
        )]))
        .await
        .unwrap();
        s.append_access(contract::access(vec![], 5)).await.unwrap();
    }
    let s = SqliteStore::open(&path).unwrap();
    let c = s.counts().await.unwrap();
    assert_eq!((c.qualifications, c.access_log), (1, 1));
}

#[tokio::test]
async fn access_log_and_history_are_append_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kakunin.sqlite3");
    let s = SqliteStore::open(&path).unwrap();
    s.import_roster(contract::roster(vec![contract::qualification(
        "1",
        "2",
        Some("00"),
        "19800101",
    )]))
    .await
    .unwrap();
    s.append_access(contract::access(vec![], 5)).await.unwrap();
    let at = kakunin_domain::Timestamp::from_unix_millis(5);
    s.set_sharing_opt_out("p", true, at).await.unwrap();
    s.declare_emergency(kakunin_store::NewEmergencyDeclaration {
        areas: vec!["13".into()],
        starts_at: at,
        ends_at: at,
        reason: "test".into(),
        declared_by: "admin:test".into(),
        declared_at: at,
    })
    .await
    .unwrap();
    let raw = rusqlite::Connection::open(&path).unwrap();
    for sql in [
        "DELETE FROM access_log",
        "UPDATE access_log SET institution_code = '0110113719'",
        "UPDATE qualification_versions SET name = 'x'",
        "UPDATE sharing_choices SET opted_out = 0",
        "DELETE FROM sharing_choices",
        "UPDATE emergency_areas SET area = '01'",
        "DELETE FROM emergency_areas",
    ] {
        let err = raw.execute(sql, []).unwrap_err().to_string();
        assert!(err.contains("append-only"), "{sql}: {err}");
    }
    let err = raw
        .execute("DELETE FROM emergency_declarations", [])
        .unwrap_err()
        .to_string();
    assert!(err.contains("never deleted"), "{err}");
}

#[tokio::test]
async fn an_edited_migration_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kakunin.sqlite3");
    drop(SqliteStore::open(&path).unwrap());
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.execute("UPDATE schema_migrations SET sha256 = 'edited'", [])
        .unwrap();
    drop(raw);
    let err = SqliteStore::open(&path).unwrap_err().to_string();
    assert!(err.contains("append-only"), "{err}");
}
