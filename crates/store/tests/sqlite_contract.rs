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
    let raw = rusqlite::Connection::open(&path).unwrap();
    for sql in [
        "DELETE FROM access_log",
        "UPDATE access_log SET institution_code = '0110113719'",
        "UPDATE qualification_versions SET name = 'x'",
    ] {
        let err = raw.execute(sql, []).unwrap_err().to_string();
        assert!(err.contains("append-only"), "{sql}: {err}");
    }
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
