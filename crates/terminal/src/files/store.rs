//! What the file interface keeps across restarts, in `files.sqlite3` in the terminal's data
//! directory: the `face/` file counter, the レセコン's own identifiers of each 一括照会 upload
//! (so the download can echo them), and the terminal's 照会番号 bulk registrations with their
//! per-item results. Uploads and registrations are purged after [`RETENTION_DAYS`].

use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

/// The database file in the terminal's data directory.
pub const DB_FILE: &str = "files.sqlite3";
/// How long bulk uploads and registration results are kept.
pub const RETENTION_DAYS: i64 = 7;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS counters (
    name  TEXT    PRIMARY KEY,
    value INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS bulk_uploads (
    reception_number TEXT    PRIMARY KEY,
    created_ms       INTEGER NOT NULL,
    items_json       TEXT    NOT NULL
);
CREATE TABLE IF NOT EXISTS registrations (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    reception_number TEXT    UNIQUE,
    created_ms       INTEGER NOT NULL,
    file_identifier  TEXT,
    items_json       TEXT    NOT NULL,
    results_json     TEXT    NOT NULL DEFAULT '[]',
    done             INTEGER NOT NULL DEFAULT 0,
    finished_ms      INTEGER
);
CREATE INDEX IF NOT EXISTS registrations_pending ON registrations (done, id);
";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("file interface database: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("file interface database holds malformed data: {0}")]
    Corrupt(#[from] serde_json::Error),
}

/// One item of a 一括照会 upload as the レセコン wrote it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadItem {
    /// `InsurerNumber` as written (padding kept).
    pub insurer_number: String,
    /// `ArbitraryIdentifier`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identifier: Option<String>,
}

/// One `ReferenceNumberRegistrationInfo` of a bulk registration, as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistrationItem {
    pub reference_number: String,
    /// As written (padding kept).
    pub insurer_number: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbol: Option<String>,
    pub number: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birthdate: Option<String>,
}

/// The outcome of one registration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemResult {
    /// `1` registered, `2` refused.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    pub message: String,
}

/// A bulk 照会番号 registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registrations {
    pub id: i64,
    pub reception_number: String,
    pub created_ms: i64,
    pub file_identifier: Option<String>,
    pub items: Vec<RegistrationItem>,
    /// The results so far, in item order.
    pub results: Vec<ItemResult>,
    pub done: bool,
}

/// The file interface's database.
pub struct FileStore {
    db: Mutex<Connection>,
}

impl std::fmt::Debug for FileStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FileStore { .. }")
    }
}

impl FileStore {
    /// Opens (or creates) the database in `dir`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        Self::with(Connection::open(dir.join(DB_FILE))?)
    }

    /// A database in memory (a terminal run without a data directory, tests).
    pub fn in_memory() -> Result<Self, StoreError> {
        Self::with(Connection::open_in_memory()?)
    }

    fn with(conn: Connection) -> Result<Self, StoreError> {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;
        Ok(Self {
            db: Mutex::new(conn),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The next value of a counter (1, 2, …), durable before it is returned so a number is
    /// never given twice, across restarts too.
    pub fn next(&self, counter: &str) -> Result<u64, StoreError> {
        let conn = self.conn();
        let value: i64 = conn.query_row(
            "INSERT INTO counters (name, value) VALUES (?1, 1)
             ON CONFLICT (name) DO UPDATE SET value = value + 1
             RETURNING value",
            params![counter],
            |r| r.get(0),
        )?;
        Ok(value as u64)
    }

    /// Keeps the items of a 一括照会 upload under the central's 受付番号.
    pub fn keep_upload(
        &self,
        reception_number: &str,
        items: &[UploadItem],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO bulk_uploads (reception_number, created_ms, items_json) VALUES (?1, ?2, ?3)
             ON CONFLICT (reception_number) DO UPDATE SET items_json = excluded.items_json",
            params![reception_number, now_ms, serde_json::to_string(items)?],
        )?;
        Ok(())
    }

    /// The items of an upload, when kept.
    pub fn upload(&self, reception_number: &str) -> Result<Option<Vec<UploadItem>>, StoreError> {
        let json: Option<String> = self
            .conn()
            .query_row(
                "SELECT items_json FROM bulk_uploads WHERE reception_number = ?1",
                params![reception_number],
                |r| r.get(0),
            )
            .optional()?;
        Ok(json.map(|j| serde_json::from_str(&j)).transpose()?)
    }

    /// Stores a bulk registration and gives it a 受付番号: `yyyyMMdd` (JST) and a 6-digit
    /// sequence, digits only.
    pub fn add_registrations(
        &self,
        date: &str,
        file_identifier: Option<&str>,
        items: &[RegistrationItem],
        now_ms: i64,
    ) -> Result<String, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "INSERT INTO registrations (created_ms, file_identifier, items_json) VALUES (?1, ?2, ?3)",
            params![now_ms, file_identifier, serde_json::to_string(items)?],
        )?;
        let id = tx.last_insert_rowid();
        let number = format!("{date}{id:06}");
        tx.execute(
            "UPDATE registrations SET reception_number = ?2 WHERE id = ?1",
            params![id, number],
        )?;
        tx.commit()?;
        Ok(number)
    }

    pub fn registrations(
        &self,
        reception_number: &str,
    ) -> Result<Option<Registrations>, StoreError> {
        self.query(
            &format!("{SELECT} WHERE reception_number = ?1"),
            params![reception_number],
        )
        .map(|mut v| v.pop())
    }

    /// Registrations not finished yet, oldest first.
    pub fn pending_registrations(&self) -> Result<Vec<Registrations>, StoreError> {
        self.query(&format!("{SELECT} WHERE done = 0 ORDER BY id"), params![])
    }

    fn query(&self, sql: &str, p: impl rusqlite::Params) -> Result<Vec<Registrations>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(sql)?;
        let rows = stmt
            .query_map(p, |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, bool>(6)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter()
            .map(
                |(id, number, created_ms, file_identifier, items, results, done)| {
                    Ok(Registrations {
                        id,
                        reception_number: number.unwrap_or_default(),
                        created_ms,
                        file_identifier,
                        items: serde_json::from_str(&items)?,
                        results: serde_json::from_str(&results)?,
                        done,
                    })
                },
            )
            .collect()
    }

    /// Records the results so far of a registration (durable on return); `done` when every
    /// item has one.
    pub fn record_results(
        &self,
        id: i64,
        results: &[ItemResult],
        done: bool,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE registrations SET results_json = ?2, done = ?3,
                 finished_ms = CASE WHEN ?3 THEN ?4 ELSE NULL END
             WHERE id = ?1",
            params![id, serde_json::to_string(results)?, done, now_ms],
        )?;
        Ok(())
    }

    /// Deletes uploads and registrations older than [`RETENTION_DAYS`]; returns how many.
    pub fn purge(&self, now_ms: i64) -> Result<usize, StoreError> {
        let before = now_ms - RETENTION_DAYS * 86_400_000;
        let conn = self.conn();
        let n = conn.execute(
            "DELETE FROM bulk_uploads WHERE created_ms < ?1",
            params![before],
        )? + conn.execute(
            "DELETE FROM registrations WHERE created_ms < ?1",
            params![before],
        )?;
        Ok(n)
    }
}

const SELECT: &str = "SELECT id, reception_number, created_ms, file_identifier, items_json, results_json, done FROM registrations";

#[cfg(test)]
mod tests {
    use super::*;

    fn item(reference: &str) -> RegistrationItem {
        RegistrationItem {
            reference_number: reference.into(),
            insurer_number: "  138230".into(),
            symbol: None,
            number: "12".into(),
            branch: Some("00".into()),
            birthdate: None,
        }
    }

    #[test]
    fn counters_and_registrations_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let day = 86_400_000;
        let number = {
            let s = FileStore::open(dir.path()).unwrap();
            assert_eq!(s.next("face").unwrap(), 1);
            assert_eq!(s.next("face").unwrap(), 2);
            assert_eq!(s.next("other").unwrap(), 1);
            s.keep_upload(
                "42",
                &[UploadItem {
                    insurer_number: "  138230".into(),
                    identifier: Some("患者1".into()),
                }],
                0,
            )
            .unwrap();
            s.add_registrations("20261203", Some("F"), &[item("A"), item("B")], 0)
                .unwrap()
        };
        assert_eq!(number, "20261203000001");
        let s = FileStore::open(dir.path()).unwrap();
        assert_eq!(
            s.next("face").unwrap(),
            3,
            "the counter goes on after a restart"
        );
        assert_eq!(
            s.upload("42").unwrap().unwrap()[0].identifier.as_deref(),
            Some("患者1")
        );
        assert_eq!(s.upload("43").unwrap(), None);
        let pending = s.pending_registrations().unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].items.len(), 2);
        let one = ItemResult {
            status: "1".into(),
            code: None,
            message: "照会番号を登録しました。".into(),
        };
        s.record_results(pending[0].id, std::slice::from_ref(&one), false, 1)
            .unwrap();
        assert_eq!(
            s.pending_registrations().unwrap()[0].results,
            std::slice::from_ref(&one)
        );
        s.record_results(pending[0].id, &[one.clone(), one], true, 2)
            .unwrap();
        assert!(s.pending_registrations().unwrap().is_empty());
        let done = s.registrations(&number).unwrap().unwrap();
        assert!(done.done);
        assert_eq!(done.file_identifier.as_deref(), Some("F"));
        assert_eq!(s.purge(7 * day).unwrap(), 0, "kept for 7 days");
        assert_eq!(s.purge(7 * day + 1).unwrap(), 2);
        assert_eq!(s.registrations(&number).unwrap(), None);
    }
}
