//! The store contract on PostgreSQL (a throwaway cluster from the machine's packages), the
//! schema-parity proof against the SQLite tree, and PostgreSQL-only behaviour: partitions,
//! schema versions, bad URLs and credentials.

use kakunin_store::{contract, PgOptions, PostgresStore, SqliteStore, Store, StoreError};
use kakunin_testkit::pg::{binaries_or_skip, PgServer};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

/// One cluster per test binary; each test gets its own database.
fn cluster() -> Option<&'static PgServer> {
    static CLUSTER: OnceLock<Option<PgServer>> = OnceLock::new();
    CLUSTER
        .get_or_init(|| binaries_or_skip().map(|b| PgServer::start_primary(&b)))
        .as_ref()
}

fn new_database() -> Option<String> {
    static N: AtomicUsize = AtomicUsize::new(0);
    let pg = cluster()?;
    Some(pg.create_database(&format!("t{}", N.fetch_add(1, Ordering::Relaxed))))
}

async fn fresh() -> Option<((), Arc<dyn Store>)> {
    let url = new_database()?;
    let store = PostgresStore::connect(PgOptions::new(url))
        .await
        .expect("connect");
    Some(((), Arc::new(store)))
}

kakunin_store::store_contract_tests!(fresh());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_log_is_partitioned_by_month_and_append_only() {
    let Some(url) = new_database() else { return };
    let pg = cluster().unwrap();
    let db = url.rsplit('/').next().unwrap().to_string();
    let store = PostgresStore::connect(PgOptions::new(url)).await.unwrap();
    // 2026-01-15 and 2026-03-15 (JST) land in their months' partitions.
    let jan = 1_768_435_200_000;
    let mar = 1_773_532_800_000;
    store.ensure_access_partitions(jan, 3).await.unwrap();
    store
        .append_access(contract::access(vec![], jan))
        .await
        .unwrap();
    store
        .append_access(contract::access(vec![], mar))
        .await
        .unwrap();
    assert_eq!(pg.psql(&db, "SELECT count(*) FROM access_log_202601"), "1");
    assert_eq!(pg.psql(&db, "SELECT count(*) FROM access_log_202603"), "1");
    assert!(
        std::panic::catch_unwind(|| pg.psql(&db, "DELETE FROM access_log")).is_err(),
        "deletes are refused"
    );
    // Retention drops whole months, nothing else.
    let dropped = store.drop_access_partitions_before(mar).await.unwrap();
    assert!(dropped >= 1);
    assert_eq!(store.counts().await.unwrap().access_log, 1);
    assert_eq!(
        pg.psql(
            &db,
            "SELECT count(*) FROM pg_class WHERE relname = 'access_log_202601'"
        ),
        "0"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn newer_schema_wrong_url_and_credentials_are_clear_errors() {
    let Some(url) = new_database() else { return };
    let pg = cluster().unwrap();
    let db = url.rsplit('/').next().unwrap().to_string();
    drop(
        PostgresStore::connect(PgOptions::new(url.clone()))
            .await
            .unwrap(),
    );
    pg.psql(
        &db,
        "INSERT INTO schema_migrations VALUES (999, '0999_future', 'x', 0)",
    );
    let err = PostgresStore::connect(PgOptions::new(url.clone()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::SchemaTooNew { found: 999, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("newer than this kakunin"));

    let err = PostgresStore::connect(PgOptions::new(format!(
        "postgres://kakunin@127.0.0.1:{}/no_such_db",
        pg.port
    )))
    .await
    .unwrap_err();
    assert!(err.to_string().contains("no_such_db"), "{err}");
    let err = PostgresStore::connect(PgOptions::new("postgres://kakunin@127.0.0.1:1/x"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Connect(_)), "{err}");
    let err = PostgresStore::connect(PgOptions::new("not a url"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("invalid PostgreSQL URL"), "{err}");
    // Wrong credentials: the server's reason, not a hang or a panic.
    pg.create_guarded_role("right", "guarded_db");
    let ok = PostgresStore::connect(PgOptions::new(format!(
        "postgres://guarded:right@127.0.0.1:{}/guarded_db",
        pg.port
    )))
    .await;
    assert!(ok.is_ok(), "{:?}", ok.err());
    let err = PostgresStore::connect(PgOptions::new(format!(
        "postgres://guarded:wrong@127.0.0.1:{}/guarded_db",
        pg.port
    )))
    .await
    .unwrap_err();
    assert!(
        err.to_string().contains("password authentication failed"),
        "{err}"
    );
    assert!(
        !err.to_string().contains("wrong"),
        "the password never appears in errors: {err}"
    );
}

/// A description of a schema that both engines can produce: per table, its columns (name, type
/// family, not null), unique keys and foreign keys.
#[derive(Debug, PartialEq, Eq, Default)]
struct Table {
    columns: BTreeSet<(String, &'static str, bool)>,
    unique: BTreeSet<Vec<String>>,
    foreign: BTreeSet<(Vec<String>, String, Vec<String>)>,
    partition_key: Option<String>,
}

fn family(t: &str) -> &'static str {
    let t = t.to_ascii_lowercase();
    if t.contains("int") {
        "integer"
    } else if t.contains("text") || t.contains("char") {
        "text"
    } else if t.contains("blob") || t.contains("bytea") {
        "bytes"
    } else {
        "other"
    }
}

fn sqlite_schema() -> BTreeMap<String, Table> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sqlite3");
    drop(SqliteStore::open(&path).unwrap());
    let c = rusqlite::Connection::open(&path).unwrap();
    let tables: Vec<String> = c
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut out = BTreeMap::new();
    for t in tables {
        let mut table = Table::default();
        let mut pk: Vec<(i64, String)> = Vec::new();
        let mut st = c.prepare(&format!("PRAGMA table_info({t})")).unwrap();
        let cols: Vec<(String, String, bool, i64)> = st
            .query_map([], |r| Ok((r.get(1)?, r.get(2)?, r.get(3)?, r.get(5)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        for (name, ty, notnull, pkpos) in cols {
            if pkpos > 0 {
                pk.push((pkpos, name.clone()));
            }
            table
                .columns
                .insert((name, family(&ty), notnull || pkpos > 0));
        }
        pk.sort();
        if !pk.is_empty() {
            table
                .unique
                .insert(pk.into_iter().map(|(_, n)| n).collect());
        }
        let mut st = c.prepare(&format!("PRAGMA index_list({t})")).unwrap();
        let idx: Vec<(String, bool, String, bool)> = st
            .query_map([], |r| Ok((r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        // Unique constraints and whole-table unique indexes alike (the card key is an index).
        for (name, unique, origin, partial) in idx {
            if unique && origin != "pk" && !partial {
                let mut st = c.prepare(&format!("PRAGMA index_info({name})")).unwrap();
                let cols: Vec<String> = st
                    .query_map([], |r| r.get(2))
                    .unwrap()
                    .collect::<Result<_, _>>()
                    .unwrap();
                table.unique.insert(cols);
            }
        }
        let mut st = c.prepare(&format!("PRAGMA foreign_key_list({t})")).unwrap();
        let fks: Vec<(i64, String, String, String)> = st
            .query_map([], |r| Ok((r.get(0)?, r.get(2)?, r.get(3)?, r.get(4)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let mut grouped: BTreeMap<i64, (Vec<String>, String, Vec<String>)> = BTreeMap::new();
        for (id, target, from, to) in fks {
            let e = grouped
                .entry(id)
                .or_insert((Vec::new(), target, Vec::new()));
            e.0.push(from);
            e.2.push(to);
        }
        table.foreign = grouped.into_values().collect();
        out.insert(t, table);
    }
    out
}

fn pg_schema(pg: &PgServer, db: &str) -> BTreeMap<String, Table> {
    let rows = |sql: &str| -> Vec<Vec<String>> {
        pg.psql(db, sql)
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| l.split('|').map(str::to_string).collect())
            .collect()
    };
    let mut out = BTreeMap::new();
    for t in rows(
        "SELECT c.relname, coalesce(pg_get_partkeydef(c.oid), '') FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY 1",
    ) {
        let (name, partkey) = (&t[0], &t[1]);
        let mut table = Table {
            partition_key: partkey.split(['(', ')']).nth(1).map(str::to_string),
            ..Default::default()
        };
        for c in rows(&format!(
            "SELECT attname, format_type(atttypid, atttypmod), attnotnull FROM pg_attribute
             WHERE attrelid = '{name}'::regclass AND attnum > 0 AND NOT attisdropped"
        )) {
            table.columns.insert((c[0].clone(), family(&c[1]), c[2] == "t"));
        }
        for k in rows(&format!(
            "SELECT contype,
                    array_to_string(ARRAY(SELECT a.attname FROM unnest(conkey) WITH ORDINALITY k(n, i)
                          JOIN pg_attribute a ON a.attrelid = conrelid AND a.attnum = k.n ORDER BY k.i), ','),
                    coalesce(confrelid::regclass::text, ''),
                    array_to_string(ARRAY(SELECT a.attname FROM unnest(confkey) WITH ORDINALITY k(n, i)
                          JOIN pg_attribute a ON a.attrelid = confrelid AND a.attnum = k.n ORDER BY k.i), ',')
             FROM pg_constraint WHERE conrelid = '{name}'::regclass AND contype IN ('p', 'u', 'f') AND conparentid = 0"
        )) {
            let cols: Vec<String> = k[1].split(',').map(str::to_string).collect();
            match k[0].as_str() {
                "f" => {
                    table.foreign.insert((cols, k[2].clone(), k[3].split(',').map(str::to_string).collect()));
                }
                _ => {
                    table.unique.insert(cols);
                }
            }
        }
        for k in rows(&format!(
            "SELECT array_to_string(ARRAY(SELECT a.attname FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(n, o)
                    JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n ORDER BY k.o), ',')
             FROM pg_index i WHERE i.indrelid = '{name}'::regclass AND i.indisunique AND i.indpred IS NULL
             AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)"
        )) {
            table.unique.insert(k[0].split(',').map(str::to_string).collect());
        }
        out.insert(name.clone(), table);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_migration_trees_describe_the_same_schema() {
    let Some(url) = new_database() else { return };
    let pg = cluster().unwrap();
    let db = url.rsplit('/').next().unwrap().to_string();
    let store = PostgresStore::connect(PgOptions::new(url)).await.unwrap();
    // A bulk load drops indexes and foreign keys and puts them back: compare after one.
    assert!(store.begin_bulk_load().await.unwrap());
    store.finish_bulk_load().await.unwrap();
    drop(store);
    let lite = sqlite_schema();
    let post = pg_schema(pg, &db);
    assert_eq!(
        lite.keys().collect::<Vec<_>>(),
        post.keys().collect::<Vec<_>>(),
        "same tables"
    );
    for (name, l) in &lite {
        let p = &post[name];
        assert_eq!(
            l.columns, p.columns,
            "{name}: same columns, type families and nullability"
        );
        assert_eq!(l.foreign, p.foreign, "{name}: same foreign keys");
        // A partitioned table's unique keys must include the partition column: SQLite's key K
        // is PostgreSQL's K or K + partition key, and nothing else differs.
        let extend = |k: &Vec<String>| {
            let mut k = k.clone();
            if let Some(pk) = &p.partition_key {
                if !k.contains(pk) {
                    k.push(pk.clone());
                }
            }
            k.sort();
            k
        };
        let norm = |set: &BTreeSet<Vec<String>>| set.iter().map(extend).collect::<BTreeSet<_>>();
        assert_eq!(norm(&l.unique), norm(&p.unique), "{name}: same unique keys");
        if p.partition_key.is_some() {
            assert!(
                ["access_log", "access_log_subjects"].contains(&name.as_str()),
                "{name} is partitioned"
            );
        }
    }
}
