//! The tamper-evident audit chains on both backends: entries appended concurrently (and, on
//! PostgreSQL, from two store nodes) verify; each way of tampering is caught and the first bad
//! entry named: an altered field, a deleted entry, two entries' contents swapped, an entry put
//! in without the chain, an altered administrative event, entries deleted from the end after a
//! checkpoint, a chain rewritten from an altered entry on (consistent hashes, no key), a forged
//! checkpoint, and a verifier holding another key. Tampering bypasses the append-only triggers
//! directly in the database, as an intruder with database access would.

use kakunin_central::audit::{self, AuditKey};
use kakunin_central::{open_store, StoreConfig};
use kakunin_store::contract::{access, qualification, query, roster};
use kakunin_store::{AuditChain, Store};
use std::sync::Arc;

#[derive(Clone, Copy, Debug)]
enum Backend {
    Sqlite,
    Postgres,
}

struct World {
    dir: tempfile::TempDir,
    store: Arc<dyn Store>,
    key: AuditKey,
    database: Option<String>,
}

impl World {
    async fn new(backend: Backend) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let database = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(kakunin_testkit::pg::shared_database("audit")?),
        };
        let config = StoreConfig {
            database: database.clone(),
            ..Default::default()
        };
        let store = open_store(dir.path(), &config).await.unwrap();
        let key = AuditKey::load_or_create(dir.path()).unwrap();
        Some(Self {
            dir,
            store,
            key,
            database,
        })
    }

    /// 12 access entries (some touching a qualification) and 3 administrative events, with a
    /// checkpoint after the first 8 entries and one at the end.
    async fn fill(&self) -> i64 {
        self.store
            .import_roster(roster(vec![qualification(
                "1",
                "7",
                Some("00"),
                "19800101",
            )]))
            .await
            .unwrap();
        let q = self
            .store
            .find_qualifications(&query("1", "7", None, "19800101"))
            .await
            .unwrap()[0]
            .id;
        for i in 0..8 {
            let subjects = if i % 3 == 0 { vec![q] } else { vec![] };
            self.store
                .append_access(access(subjects, 1_000 + i))
                .await
                .unwrap();
        }
        for (action, target) in [
            ("roster_import", "06139992"),
            ("emergency_declared", "1"),
            ("certificate_revoked", "0a1b"),
        ] {
            audit::record(
                &*self.store,
                "admin:ops",
                action,
                target,
                serde_json::json!({"n": 1}),
            )
            .await
            .unwrap();
        }
        assert_eq!(self.key.checkpoint(&*self.store).await.unwrap(), 2);
        for i in 8..12 {
            self.store
                .append_access(access(vec![q], 1_000 + i))
                .await
                .unwrap();
        }
        assert_eq!(
            self.key.checkpoint(&*self.store).await.unwrap(),
            1,
            "only the access chain moved"
        );
        q
    }

    async fn verify(&self) -> audit::AuditReport {
        audit::verify(&*self.store, self.key.public())
            .await
            .unwrap()
    }

    /// The ids of the access log, in order.
    async fn access_ids(&self) -> Vec<i64> {
        self.store
            .audit_rows(AuditChain::Access, 0, 1000)
            .await
            .unwrap()
            .iter()
            .map(|r| r.id)
            .collect()
    }

    /// Runs SQL directly in the database with the append-only triggers out of the way.
    async fn tamper(&self, statements: &[String]) {
        match &self.database {
            None => {
                let c =
                    rusqlite::Connection::open(self.dir.path().join(kakunin_central::SQLITE_FILE))
                        .unwrap();
                for t in [
                    "access_log_no_update",
                    "access_log_no_delete",
                    "admin_events_no_update",
                    "audit_checkpoints_no_update",
                ] {
                    c.execute_batch(&format!("DROP TRIGGER IF EXISTS {t}"))
                        .unwrap();
                }
                for s in statements {
                    c.execute_batch(s).unwrap();
                }
            }
            Some(url) => {
                let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
                    .await
                    .unwrap();
                tokio::spawn(conn);
                client
                    .batch_execute("SET session_replication_role = replica")
                    .await
                    .unwrap();
                for s in statements {
                    client.batch_execute(s).await.unwrap();
                }
            }
        }
    }
}

fn first_bad(r: &audit::AuditReport, chain: AuditChain) -> Option<i64> {
    r.chains
        .iter()
        .find(|c| c.chain == chain)
        .and_then(|c| c.first_bad.as_ref().map(|(id, _)| *id))
}

macro_rules! on_both_backends {
    ($($name:ident),*) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(super::Backend::Sqlite).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name(super::Backend::Postgres).await;
            }
        }
    )*};
}

on_both_backends!(
    untouched_chains_verify,
    concurrent_appends_stay_one_chain,
    altered_deleted_swapped_and_unchained_entries_are_named,
    deleted_tails_rewrites_and_forged_checkpoints_are_caught
);

async fn untouched_chains_verify(backend: Backend) {
    let Some(w) = World::new(backend).await else {
        return;
    };
    let empty = w.verify().await;
    assert!(empty.ok(), "{}", audit::describe(&empty));
    w.fill().await;
    let r = w.verify().await;
    assert!(r.ok(), "{}", audit::describe(&r));
    let access = &r.chains[0];
    assert_eq!(
        (access.chain, access.entries, access.unchained),
        (AuditChain::Access, 12, 0)
    );
    assert_eq!(r.chains[1].entries, 3);
    assert_eq!(r.checkpoints, 3);
    // The newest per chain: the access chain's second checkpoint, the admin chain's only one.
    let all = w.store.audit_checkpoints().await.unwrap();
    let newest = w.store.newest_audit_checkpoints().await.unwrap();
    let last = |chain: AuditChain| all.iter().rev().find(|c| c.chain == chain).cloned();
    assert_eq!(newest.len(), 2);
    for chain in [AuditChain::Access, AuditChain::Admin] {
        assert_eq!(
            newest.iter().find(|c| c.chain == chain).cloned(),
            last(chain)
        );
    }
    assert!(audit::describe(&r).contains("audit chains verified"));
    assert_eq!(
        w.key.checkpoint(&*w.store).await.unwrap(),
        0,
        "nothing moved, nothing to sign"
    );
}

/// Appends from many tasks (and on PostgreSQL from a second store node on the same database)
/// interleave into one chain.
async fn concurrent_appends_stay_one_chain(backend: Backend) {
    let Some(w) = World::new(backend).await else {
        return;
    };
    let mut stores = vec![w.store.clone()];
    if let Some(url) = &w.database {
        let other = open_store(
            w.dir.path(),
            &StoreConfig {
                database: Some(url.clone()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        stores.push(other);
    }
    let mut tasks = Vec::new();
    for t in 0..8 {
        let store = stores[t % stores.len()].clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..40 {
                store.append_access(access(vec![], i)).await.unwrap();
                if i % 10 == 0 {
                    audit::record(
                        &*store,
                        "system",
                        "test",
                        &t.to_string(),
                        serde_json::json!({}),
                    )
                    .await
                    .unwrap();
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    w.key.checkpoint(&*w.store).await.unwrap();
    let r = w.verify().await;
    assert!(r.ok(), "{}", audit::describe(&r));
    assert_eq!((r.chains[0].entries, r.chains[1].entries), (320, 32));
}

async fn altered_deleted_swapped_and_unchained_entries_are_named(backend: Backend) {
    // An altered field: that entry is named.
    let Some(w) = World::new(backend).await else {
        return;
    };
    w.fill().await;
    let ids = w.access_ids().await;
    w.tamper(&[format!(
        "UPDATE access_log SET result = 'validity:3' WHERE id = {}",
        ids[4]
    )])
    .await;
    let r = w.verify().await;
    assert_eq!(
        first_bad(&r, AuditChain::Access),
        Some(ids[4]),
        "{}",
        audit::describe(&r)
    );
    assert!(audit::describe(&r).contains(&format!("FIRST BAD ENTRY: access id {}", ids[4])));
    assert!(!r.ok());

    // Whose data: a subject removed from an entry.
    let Some(w) = World::new(backend).await else {
        return;
    };
    w.fill().await;
    let ids = w.access_ids().await;
    w.tamper(&[format!(
        "DELETE FROM access_log_subjects WHERE access_id = {}",
        ids[9]
    )])
    .await;
    assert_eq!(
        first_bad(&w.verify().await, AuditChain::Access),
        Some(ids[9])
    );

    // A deleted entry: the one after it is named.
    let Some(w) = World::new(backend).await else {
        return;
    };
    w.fill().await;
    let ids = w.access_ids().await;
    w.tamper(&[format!("DELETE FROM access_log WHERE id = {}", ids[5])])
        .await;
    assert_eq!(
        first_bad(&w.verify().await, AuditChain::Access),
        Some(ids[6])
    );

    // Two entries' contents swapped (reordered): the first of them.
    let Some(w) = World::new(backend).await else {
        return;
    };
    w.fill().await;
    let ids = w.access_ids().await;
    w.tamper(&[
        format!("UPDATE access_log SET at_ms = 1002 WHERE id = {}", ids[1]),
        format!("UPDATE access_log SET at_ms = 1001 WHERE id = {}", ids[2]),
    ])
    .await;
    assert_eq!(
        first_bad(&w.verify().await, AuditChain::Access),
        Some(ids[1])
    );

    // An entry put in without the chain.
    let Some(w) = World::new(backend).await else {
        return;
    };
    w.fill().await;
    let ids = w.access_ids().await;
    let forged = ids[11] + 100;
    w.tamper(&[format!(
        "INSERT INTO access_log (id, at_ms, institution_code, purpose, result, processing_code)
         VALUES ({forged}, 5000, '0110113719', 'eligibility_numbers', 'validity:1', 'OK')"
    )])
    .await;
    let r = w.verify().await;
    assert_eq!(first_bad(&r, AuditChain::Access), Some(forged));
    assert!(audit::describe(&r).contains("outside the chain"));

    // An administrative event altered.
    let Some(w) = World::new(backend).await else {
        return;
    };
    w.fill().await;
    w.tamper(&["UPDATE admin_events SET actor = 'admin:someone' WHERE id = 2".into()])
        .await;
    let r = w.verify().await;
    assert_eq!(first_bad(&r, AuditChain::Admin), Some(2));
    assert_eq!(first_bad(&r, AuditChain::Access), None);
}

async fn deleted_tails_rewrites_and_forged_checkpoints_are_caught(backend: Backend) {
    // The last entries deleted after the checkpoint that covered them.
    let Some(w) = World::new(backend).await else {
        return;
    };
    w.fill().await;
    let ids = w.access_ids().await;
    w.tamper(&[
        format!(
            "DELETE FROM access_log_subjects WHERE access_id >= {}",
            ids[10]
        ),
        format!("DELETE FROM access_log WHERE id >= {}", ids[10]),
    ])
    .await;
    let r = w.verify().await;
    assert_eq!(
        first_bad(&r, AuditChain::Access),
        None,
        "what is left links"
    );
    assert!(!r.ok());
    assert!(
        r.checkpoint_problems
            .iter()
            .any(|p| p.contains("deleted from its end")),
        "{}",
        audit::describe(&r)
    );

    // An entry altered and every later chain hash recomputed (consistent, but not signed).
    let Some(w) = World::new(backend).await else {
        return;
    };
    w.fill().await;
    let rows = w
        .store
        .audit_rows(AuditChain::Access, 0, 100)
        .await
        .unwrap();
    let target = rows[3].id;
    w.tamper(&[format!(
        "UPDATE access_log SET processing_code = 'XX' WHERE id = {target}"
    )])
    .await;
    // The intruder's recomputation, with the public algorithm.
    let altered = w
        .store
        .audit_rows(AuditChain::Access, 0, 100)
        .await
        .unwrap();
    let mut prev: Option<String> = None;
    let mut updates = Vec::new();
    for row in &altered {
        let h = kakunin_store::audit::link(prev.as_deref(), &row.entry_hash);
        if row.id >= target {
            updates.push(format!(
                "UPDATE access_log SET chain_hash = '{h}' WHERE id = {}",
                row.id
            ));
        }
        prev = Some(h);
    }
    w.tamper(&updates).await;
    let r = w.verify().await;
    assert_eq!(
        first_bad(&r, AuditChain::Access),
        None,
        "the chain itself is consistent"
    );
    assert!(
        r.checkpoint_problems
            .iter()
            .any(|p| p.contains("rewritten")),
        "{}",
        audit::describe(&r)
    );

    // A checkpoint forged to match (the signature cannot be).
    let forged_hash = prev.unwrap();
    w.tamper(&[format!(
        "UPDATE audit_checkpoints SET chain_hash = '{forged_hash}' WHERE chain = 'access' AND entry_id = {}",
        altered.last().unwrap().id
    )])
    .await;
    let r = w.verify().await;
    assert!(
        r.checkpoint_problems
            .iter()
            .any(|p| p.contains("not signed by this audit key")),
        "{}",
        audit::describe(&r)
    );

    // A verifier with another key trusts no checkpoint.
    let Some(w) = World::new(backend).await else {
        return;
    };
    w.fill().await;
    let other = tempfile::tempdir().unwrap();
    let stranger = AuditKey::load_or_create(other.path()).unwrap();
    let r = audit::verify(&*w.store, stranger.public()).await.unwrap();
    assert_eq!(r.checkpoint_problems.len(), 3, "{}", audit::describe(&r));
}
