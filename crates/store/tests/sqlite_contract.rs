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

fn index_names(path: &std::path::Path, table: &str) -> Vec<String> {
    let c = rusqlite::Connection::open(path).unwrap();
    let mut st = c
        .prepare(&format!("SELECT name FROM pragma_index_list('{table}')"))
        .unwrap();
    st.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[tokio::test]
async fn an_interrupted_bulk_load_is_finished_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kakunin.sqlite3");
    {
        let s = SqliteStore::open(&path).unwrap();
        assert!(s.begin_bulk_load().await.unwrap());
        s.import_roster(contract::roster(vec![contract::qualification(
            "1",
            "2",
            Some("00"),
            "19800101",
        )]))
        .await
        .unwrap();
        // The process dies here: no finish_bulk_load.
    }
    assert!(!index_names(&path, "qualifications").contains(&"qualifications_by_key".to_string()));
    let s = SqliteStore::open(&path).unwrap();
    assert!(index_names(&path, "qualifications").contains(&"qualifications_by_key".to_string()));
    assert!(index_names(&path, "qualification_versions")
        .contains(&"qualification_versions_by_birthdate".to_string()));
    let found = s
        .find_qualifications(&contract::query("1", "2", Some("00"), "19800101"))
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert!(!s.begin_bulk_load().await.unwrap());
}

/// A store made before migration 0013 keeps its people, their links and the card key's
/// uniqueness when the migration rebuilds `qualifications`.
#[tokio::test]
async fn migration_0013_keeps_qualifications_and_their_references() {
    use sha2::Digest;
    const OLD: [(i64, &str, &str); 12] = [
        (
            1,
            "0001_init",
            include_str!("../src/sqlite/migrations/0001_init.sql"),
        ),
        (
            2,
            "0002_cards",
            include_str!("../src/sqlite/migrations/0002_cards.sql"),
        ),
        (
            3,
            "0003_consents",
            include_str!("../src/sqlite/migrations/0003_consents.sql"),
        ),
        (
            4,
            "0004_medical",
            include_str!("../src/sqlite/migrations/0004_medical.sql"),
        ),
        (
            5,
            "0005_reception",
            include_str!("../src/sqlite/migrations/0005_reception.sql"),
        ),
        (
            6,
            "0006_people",
            include_str!("../src/sqlite/migrations/0006_people.sql"),
        ),
        (
            7,
            "0007_stats",
            include_str!("../src/sqlite/migrations/0007_stats.sql"),
        ),
        (
            8,
            "0008_certificates",
            include_str!("../src/sqlite/migrations/0008_certificates.sql"),
        ),
        (
            9,
            "0009_presence",
            include_str!("../src/sqlite/migrations/0009_presence.sql"),
        ),
        (
            10,
            "0010_audit",
            include_str!("../src/sqlite/migrations/0010_audit.sql"),
        ),
        (
            11,
            "0011_idempotency",
            include_str!("../src/sqlite/migrations/0011_idempotency.sql"),
        ),
        (
            12,
            "0012_subjects_by_time",
            include_str!("../src/sqlite/migrations/0012_subjects_by_time.sql"),
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kakunin.sqlite3");
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(
            "PRAGMA foreign_keys = ON; CREATE TABLE schema_migrations (
                version INTEGER PRIMARY KEY, name TEXT NOT NULL, sha256 TEXT NOT NULL, applied_at_ms INTEGER NOT NULL)",
        )
        .unwrap();
        for (version, name, sql) in OLD {
            c.execute_batch(sql).unwrap();
            let digest: String = sha2::Sha256::digest(sql.as_bytes())
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            c.execute(
                "INSERT INTO schema_migrations VALUES (?1, ?2, ?3, 0)",
                rusqlite::params![version, name, digest],
            )
            .unwrap();
        }
        c.execute_batch(
            "INSERT INTO imports VALUES (1, 0, 'insurer:06139992', '00', 1, 1, 0, 0);
             INSERT INTO qualifications VALUES (7, '06139992', '1', '2', '00', 3, 1);
             INSERT INTO qualification_versions (id, qualification_id, version_no, import_id,
                 recorded_at_ms, content_sha256, number_raw, card_classification, relationship,
                 name, name_kana, sex, birthdate, qualification_date, insurer_name)
             VALUES (3, 7, 1, 1, 0, x'00', '2', '01', '1', '試験　花子', 'ｼｹﾝ ﾊﾅｺ', '2',
                 '19800101', '20200401', '架空健康保険組合');
             INSERT INTO person_links (qualification_id, pseudonym, linked_at_ms, import_id)
             VALUES (7, 'p', 0, 1);",
        )
        .unwrap();
    }
    let s = SqliteStore::open(&path).unwrap();
    let c = s.counts().await.unwrap();
    assert_eq!((c.qualifications, c.versions), (1, 1));
    assert_eq!(s.qualification_history(7).await.unwrap().len(), 1);
    assert!(index_names(&path, "qualifications").contains(&"qualifications_by_key".to_string()));
    let raw = rusqlite::Connection::open(&path).unwrap();
    let dangling: i64 = raw
        .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(dangling, 0);
    let target: String = raw
        .query_row(
            "SELECT \"table\" FROM pragma_foreign_key_list('person_links') WHERE \"from\" = 'qualification_id'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(target, "qualifications");
    let dup = raw.execute(
        "INSERT INTO qualifications VALUES (8, '06139992', '1', '2', '00', 3, 1)",
        [],
    );
    assert!(dup.is_err(), "the card key is still unique");
}
