//! `kakunin backup` and `kakunin restore`: generations of a data directory (a central's or a
//! clinic terminal's), taken online, kept read-only, copied to an offline or write-once medium,
//! verified before anything is restored (docs/operations.md).
//!
//! A generation is `BACKUPDIR/YYYYMMDDTHHMMSSZ-<random>/`: the data directory's files under
//! `data/` (each SQLite database as a consistent `VACUUM INTO` snapshot, the other files
//! copied), `postgres.dump` (`pg_dump --format=custom`) when the store is PostgreSQL, and
//! `manifest.json` with the size and SHA-256 of every file. It is written under a hidden
//! temporary name and renamed when complete, so a half-written generation is never taken for a
//! backup.
//!
//! Left out: `.before-restore-*` (what earlier restores moved aside), restore staging, SQLite
//! `-wal`/`-shm`/`-journal` files (the snapshot holds their committed content) and レセコン
//! exchange folders (a directory with `req/`, `res/` and `work/`): restoring old requests
//! would answer them twice and old results could be read as new ones.

use anyhow::{bail, Context, Result};
use clap::Args;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs;
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

/// The manifest inside a generation.
pub const MANIFEST: &str = "manifest.json";
const FORMAT: &str = "kakunin-backup";
const FORMAT_VERSION: u32 = 1;
/// The data directory's files inside a generation.
const DATA: &str = "data";
/// The PostgreSQL dump inside a generation.
const PG_DUMP: &str = "postgres.dump";
/// A generation being written (renamed when complete).
const INCOMPLETE: &str = ".incomplete-";
/// What a restore moved aside, inside the data directory.
const BEFORE_RESTORE: &str = ".before-restore-";
/// A restore's copies before they are renamed into place, inside the data directory.
const STAGING: &str = ".restore-staging-";
const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";
/// MHLW 医療情報システムの安全管理に関するガイドライン 第6.0版: at least 3 generations.
const MIN_KEEP: u32 = 3;

#[derive(Args)]
pub struct BackupArgs {
    /// The data directory of a central or a clinic terminal (`kakunin terminal --data`).
    #[arg(long, env = "KAKUNIN_DATA")]
    data: PathBuf,
    /// Where generations are kept: outside the data directory, ideally on another disk.
    #[arg(long, value_name = "BACKUPDIR")]
    to: PathBuf,
    /// The central's PostgreSQL primary (postgres://…), dumped with pg_dump; default: the SQLite
    /// databases in the data directory.
    #[arg(long, env = "KAKUNIN_DATABASE_URL")]
    database: Option<String>,
    /// Complete generations to keep in BACKUPDIR (at least 3); older ones are deleted.
    #[arg(long, default_value_t = 7, value_parser = parse_keep)]
    keep: u32,
    /// Also copy the new generation to DIR2 (an offline or write-once medium, mounted), then
    /// verify the copy. Nothing is ever deleted there.
    #[arg(long, value_name = "DIR2")]
    offline_copy: Option<PathBuf>,
    /// Accept that a database of the newest generation is no longer in the data directory
    /// (moved to PostgreSQL, the authority run on its own). Without it such a backup stops, as
    /// it does when ransomware has renamed or encrypted the databases.
    #[arg(long)]
    databases_changed: bool,
}

fn parse_keep(s: &str) -> Result<u32, String> {
    let n: u32 = s
        .parse()
        .map_err(|_| format!("世代数は整数で指定してください: {s:?}"))?;
    if n < MIN_KEEP {
        return Err(format!(
            "{MIN_KEEP} 世代以上を残してください（医療情報システムの安全管理に関するガイドライン 第6.0版）: {n}"
        ));
    }
    Ok(n)
}

#[derive(Args)]
pub struct RestoreArgs {
    /// A generation directory (BACKUPDIR/YYYYMMDDTHHMMSSZ-…), e.g. on the offline medium.
    #[arg(long, value_name = "GENERATION_DIR")]
    from: PathBuf,
    /// The data directory to restore into (created if missing). Without it, --verify only
    /// verifies the generation.
    #[arg(long, required_unless_present = "verify")]
    data: Option<PathBuf>,
    /// The PostgreSQL database to restore the dump into (postgres://…; it must exist).
    #[arg(long)]
    database: Option<String>,
    /// Check the whole generation before touching anything: every file present with its size
    /// and SHA-256, no extra file, `PRAGMA integrity_check` of each SQLite database, the dump's
    /// table of contents.
    #[arg(long)]
    verify: bool,
    /// Restore even though the data directory's SQLite write-ahead log (or the PostgreSQL
    /// database's connections) say it was used after the backup was taken.
    #[arg(long)]
    force: bool,
}

/// `manifest.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub format: String,
    pub format_version: u32,
    /// When the backup started (UTC, RFC 3339): nothing written after it is in the generation.
    pub created: String,
    pub created_unix_ms: i64,
    pub duration_ms: u64,
    pub kakunin_version: String,
    pub source: Source,
    pub files: Vec<FileEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Source {
    /// `central`, `terminal` or `directory`.
    pub kind: String,
    /// `sqlite` or `postgres`.
    pub database: String,
    /// The data directory backed up (informational: a restore may go elsewhere).
    pub data_dir: String,
    /// Without credentials: host, port and database name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postgres: Option<String>,
    /// Paths of the data directory left out (exchange folders, earlier restores' files).
    #[serde(default)]
    pub excluded: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FileEntry {
    /// Relative to the generation, `/`-separated: `data/…` or `postgres.dump`.
    pub path: String,
    pub size: u64,
    pub sha256: String,
    /// The source file's permission bits (octal), given back on restore.
    pub mode: String,
    /// `sqlite`, `postgres-dump` or `file`.
    pub kind: String,
}

const KIND_SQLITE: &str = "sqlite";
const KIND_PG_DUMP: &str = "postgres-dump";
const KIND_FILE: &str = "file";

// ---------------------------------------------------------------------------------------------
// kakunin backup

pub async fn backup(args: BackupArgs) -> Result<()> {
    tokio::task::spawn_blocking(move || run_backup(&args))
        .await
        .context("the backup task")?
}

fn run_backup(args: &BackupArgs) -> Result<()> {
    let started = Instant::now();
    let now = SystemTime::now();
    let data = &args.data;
    if !data.is_dir() {
        bail!(
            "データディレクトリがありません: {} (--data)",
            data.display()
        );
    }
    let postgres = database_kind(data, args.database.as_deref())?;
    let data_abs = data
        .canonicalize()
        .with_context(|| format!("reading {}", data.display()))?;
    let to_abs = resolved(&args.to)?;
    if to_abs.starts_with(&data_abs) {
        bail!(
            "バックアップ先をデータディレクトリの中に置くことはできません（一緒に暗号化されます）: {}",
            args.to.display()
        );
    }
    // A medium that is not mounted does not stop the backup: the run makes its generation,
    // then fails (exit status 1) for the missing copy.
    let offline = match &args.offline_copy {
        Some(dir) if !dir.is_dir() => Some(Err(dir.clone())),
        Some(dir) => {
            let abs = dir.canonicalize()?;
            if abs.starts_with(&to_abs) || to_abs.starts_with(&abs) || abs.starts_with(&data_abs) {
                bail!(
                    "オフライン用の保存先は、バックアップ先ともデータディレクトリとも別の場所にしてください: {}",
                    dir.display()
                );
            }
            Some(Ok(dir.clone()))
        }
        None => None,
    };
    if !args.databases_changed {
        refuse_if_databases_gone(&args.to, data, &data_abs)?;
    }
    create_private_dirs(&args.to)
        .with_context(|| format!("バックアップ先を作れません: {}", args.to.display()))?;
    // Generations are read-only for everyone (0444/0555); who may read them at all is up to
    // the directories that hold them.
    for dir in std::iter::once(&args.to).chain(offline.as_ref().and_then(|o| o.as_ref().ok())) {
        if mode_of(dir) & 0o077 != 0 {
            eprintln!(
                "  注意: {} は他のユーザーも読めます。バックアップには秘密鍵と個人情報が入るので、chmod 700 にしてください",
                dir.display()
            );
        }
    }

    let created_unix_ms = unix_ms(now);
    let name = format!("{}-{}", utc_compact(created_unix_ms), random_hex(4)?);
    let tmp = args.to.join(format!("{INCOMPLETE}{name}"));
    let generation = args.to.join(&name);
    create_private_dirs(&tmp)?;
    let written = write_generation(
        &tmp,
        data,
        &data_abs,
        postgres.as_deref(),
        created_unix_ms,
        started,
    )
    .and_then(|manifest| {
        seal(&tmp)?;
        fs::rename(&tmp, &generation)
            .with_context(|| format!("renaming {} to {}", tmp.display(), generation.display()))?;
        sync_dir(&args.to)?;
        Ok(manifest)
    });
    let manifest = match written {
        Ok(m) => m,
        Err(e) => {
            let _ = remove_tree(&tmp);
            return Err(e.context("バックアップを作れませんでした（途中までのものは削除しました）"));
        }
    };
    let bytes: u64 = manifest.files.iter().map(|f| f.size).sum();
    let sqlite = manifest
        .files
        .iter()
        .filter(|f| f.kind == KIND_SQLITE)
        .count();
    println!("バックアップを作成しました: {}", generation.display());
    println!(
        "  ファイル {} 個（SQLite {} 個{}）、{}、{:.1} 秒",
        manifest.files.len(),
        sqlite,
        if postgres.is_some() {
            "、PostgreSQL の pg_dump 1 個"
        } else {
            ""
        },
        human_bytes(bytes),
        started.elapsed().as_secs_f64()
    );
    for e in &manifest.source.excluded {
        println!("  対象外: {e}");
    }
    for stale in incomplete_generations(&args.to) {
        eprintln!(
            "  注意: 中断したバックアップの残り（世代ではありません）があります。確認して削除してください: {}",
            stale.display()
        );
    }
    let deleted = retain(&args.to, args.keep, &name);
    if !deleted.is_empty() {
        println!(
            "  保持: 新しい {} 世代を残し、古い {} 世代を削除しました（{}）",
            args.keep,
            deleted.len(),
            deleted.join(", ")
        );
    }
    if let Some(Err(dir)) = offline {
        bail!(
            "世代 {} は作成しましたが、オフライン用の保存先が見つかりません。媒体をつないで（マウントして）からやり直してください: {}",
            generation.display(),
            dir.display()
        );
    }
    if let Some(Ok(dir)) = offline {
        let copy = dir.join(&name);
        copy_generation(&generation, &dir, &name, &manifest).with_context(|| {
            format!(
                "世代 {} は作成しましたが、オフライン用の保存先へのコピーに失敗しました: {}",
                generation.display(),
                dir.display()
            )
        })?;
        println!(
            "  オフラインコピー: {}（検証済み。媒体を取り外して保管してください）",
            copy.display()
        );
    }
    Ok(())
}

/// Stops a backup, before it writes or deletes anything, when a database the newest generation
/// of this data directory holds is gone or no longer an SQLite file: renamed or encrypted by
/// ransomware, say. Backing that up would push good generations out.
fn refuse_if_databases_gone(to: &Path, data: &Path, data_abs: &Path) -> Result<()> {
    let Some(newest) = generations(to).pop() else {
        return Ok(());
    };
    let Ok(manifest) = read_manifest(&to.join(&newest)) else {
        return Ok(());
    };
    if Path::new(&manifest.source.data_dir) != data_abs {
        return Ok(());
    }
    let gone: Vec<String> = manifest
        .files
        .iter()
        .filter(|f| f.kind == KIND_SQLITE)
        .filter_map(|f| f.path.strip_prefix(&format!("{DATA}/")))
        .filter(|rel| {
            let path = data.join(rel);
            !(path.is_file() && is_sqlite(&path))
        })
        .map(str::to_string)
        .collect();
    if !gone.is_empty() {
        bail!(
            "前回のバックアップ（{newest}）にあったデータベースが、ないか SQLite ではなくなっています: {}。暗号化や改ざんのおそれがあります。古い世代を消さないよう、何もせずに止めました。調べたうえで、意図した変更なら --databases-changed を付けてください",
            gone.join(", ")
        );
    }
    Ok(())
}

/// The absolute path `path` names, through symbolic links, whether or not it exists yet.
fn resolved(path: &Path) -> Result<PathBuf> {
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()?.join(path)
    };
    let mut existing = abs.as_path();
    let mut rest = Vec::new();
    loop {
        if let Ok(real) = existing.canonicalize() {
            let mut out = real;
            for c in rest.iter().rev() {
                out.push(c);
            }
            return Ok(out);
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                existing = parent;
            }
            _ => return Ok(abs),
        }
    }
}

/// `Some(url)` when the store is PostgreSQL; an SQLite `--database` must be inside the data
/// directory (it is then backed up with it).
fn database_kind(data: &Path, database: Option<&str>) -> Result<Option<String>> {
    match database {
        None => Ok(None),
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            Ok(Some(url.to_string()))
        }
        Some(other) => {
            let path = PathBuf::from(other.strip_prefix("sqlite://").unwrap_or(other));
            let inside = match (path.canonicalize(), data.canonicalize()) {
                (Ok(p), Ok(d)) => p.starts_with(d),
                _ => false,
            };
            if !inside {
                bail!(
                    "--database には postgres://… を指定してください。データディレクトリの外の SQLite ファイルは対象にできません: {other}"
                );
            }
            Ok(None)
        }
    }
}

fn write_generation(
    tmp: &Path,
    data: &Path,
    data_abs: &Path,
    postgres: Option<&str>,
    created_unix_ms: i64,
    started: Instant,
) -> Result<Manifest> {
    let walk = walk(data)?;
    if let Some(bad) = walk.files.iter().find(|f| {
        f.path.extension().is_some_and(|e| e == "sqlite3")
            && !f.sqlite
            && fs::metadata(&f.path).is_ok_and(|m| m.len() > 0)
    }) {
        bail!(
            "{} は SQLite データベースではありません。暗号化や破損のおそれがあります。調べてください",
            bad.path.display()
        );
    }
    let mut files = Vec::new();
    for item in &walk.files {
        let rel = format!("{DATA}/{}", slash_path(&item.rel));
        let dst = tmp.join(&rel);
        if let Some(parent) = dst.parent() {
            fs::create_dir_all(parent)?;
        }
        let mode = mode_of(&item.path);
        let kind = if item.sqlite {
            vacuum_into(&item.path, &dst)?;
            KIND_SQLITE
        } else {
            match fs::copy(&item.path, &dst) {
                Ok(_) => {}
                // A temporary file that went away while we walked.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    return Err(e).with_context(|| format!("copying {}", item.path.display()))
                }
            }
            KIND_FILE
        };
        fs::File::open(&dst)?.sync_all()?;
        let (size, sha256) = hash_file(&dst)?;
        files.push(FileEntry {
            path: rel,
            size,
            sha256,
            mode: format!("{mode:04o}"),
            kind: kind.into(),
        });
    }
    let mut postgres_label = None;
    if let Some(url) = postgres {
        let dst = tmp.join(PG_DUMP);
        pg_dump(url, &dst)?;
        fs::File::open(&dst)?.sync_all()?;
        let (size, sha256) = hash_file(&dst)?;
        files.push(FileEntry {
            path: PG_DUMP.into(),
            size,
            sha256,
            mode: "0600".into(),
            kind: KIND_PG_DUMP.into(),
        });
        postgres_label = Some(PgConn::parse(url).label);
    }
    let kind = if postgres.is_some()
        || data.join(kakunin_central::SQLITE_FILE).exists()
        || data.join(kakunin_central::pki::CA_CERT).exists()
    {
        "central"
    } else if data.join(kakunin_terminal::offline::DB_FILE).exists() {
        "terminal"
    } else {
        "directory"
    };
    let manifest = Manifest {
        format: FORMAT.into(),
        format_version: FORMAT_VERSION,
        created: utc_rfc3339(created_unix_ms),
        created_unix_ms,
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        kakunin_version: env!("CARGO_PKG_VERSION").into(),
        source: Source {
            kind: kind.into(),
            database: if postgres.is_some() {
                "postgres"
            } else {
                "sqlite"
            }
            .into(),
            data_dir: data_abs.display().to_string(),
            postgres: postgres_label,
            excluded: walk.excluded.iter().map(|p| slash_path(p)).collect(),
        },
        files,
    };
    let path = tmp.join(MANIFEST);
    let mut f = fs::File::create(&path)?;
    f.write_all(&serde_json::to_vec_pretty(&manifest)?)?;
    f.write_all(b"\n")?;
    f.sync_all()?;
    Ok(manifest)
}

/// A consistent snapshot of a live SQLite database (readers and the writer go on meanwhile).
fn vacuum_into(src: &Path, dst: &Path) -> Result<()> {
    use rusqlite::OpenFlags;
    let conn = rusqlite::Connection::open_with_flags(
        src,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(|| format!("opening {}", src.display()))?;
    conn.busy_timeout(Duration::from_secs(30))?;
    let target = dst
        .to_str()
        .with_context(|| format!("not a UTF-8 path: {}", dst.display()))?;
    conn.execute("VACUUM INTO ?1", [target])
        .with_context(|| format!("VACUUM INTO from {}", src.display()))?;
    Ok(())
}

/// Makes a finished generation read-only: files 0444, directories 0555.
fn seal(dir: &Path) -> Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            seal(&path)?;
        } else {
            set_mode(&path, 0o444)?;
        }
    }
    sync_dir(dir)?;
    set_mode(dir, 0o555)
}

/// Generation directory names, `YYYYMMDDTHHMMSSZ-<hex>`.
fn is_generation_name(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() > 17
        && b[..8].iter().all(u8::is_ascii_digit)
        && b[8] == b'T'
        && b[9..15].iter().all(u8::is_ascii_digit)
        && b[15] == b'Z'
        && b[16] == b'-'
        && b[17..].iter().all(|c| c.is_ascii_hexdigit())
}

/// The complete generations in a backup directory, oldest first (by the time in the
/// manifest, which orders generations made within the same second).
pub fn generations(dir: &Path) -> Vec<String> {
    let mut names: Vec<(i64, String)> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|n| is_generation_name(n) && dir.join(n).join(MANIFEST).is_file())
        .map(|n| {
            let created = fs::read(dir.join(&n).join(MANIFEST))
                .ok()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                .and_then(|v| v["created_unix_ms"].as_i64())
                .unwrap_or(0);
            (created, n)
        })
        .collect();
    names.sort();
    names.into_iter().map(|(_, n)| n).collect()
}

fn incomplete_generations(dir: &Path) -> Vec<PathBuf> {
    fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(INCOMPLETE))
        .map(|e| e.path())
        .collect()
}

/// Keeps the newest `keep` complete generations (always `just_made`) and deletes the others;
/// returns the names deleted. A generation that cannot be deleted is reported, not fatal.
fn retain(dir: &Path, keep: u32, just_made: &str) -> Vec<String> {
    let all = generations(dir);
    let others: Vec<&String> = all.iter().filter(|n| n.as_str() != just_made).collect();
    let keep_others = (keep as usize).saturating_sub(1);
    let excess = others.len().saturating_sub(keep_others);
    let mut deleted = Vec::new();
    for name in others.into_iter().take(excess) {
        match remove_tree(&dir.join(name)) {
            Ok(()) => deleted.push(name.clone()),
            Err(e) => eprintln!("  注意: 古い世代 {name} を削除できませんでした: {e:#}"),
        }
    }
    deleted
}

/// Deletes a tree made read-only (directories made writable first).
fn remove_tree(dir: &Path) -> Result<()> {
    fn writable(dir: &Path) -> Result<()> {
        set_mode(dir, 0o700)?;
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                writable(&entry.path())?;
            }
        }
        Ok(())
    }
    if !dir.exists() {
        return Ok(());
    }
    writable(dir)?;
    fs::remove_dir_all(dir).with_context(|| format!("deleting {}", dir.display()))
}

/// Copies a finished generation to `dest/name` (through a temporary name), seals it and
/// verifies the copy against the manifest.
fn copy_generation(generation: &Path, dest: &Path, name: &str, manifest: &Manifest) -> Result<()> {
    fn copy_tree(from: &Path, to: &Path) -> Result<()> {
        fs::create_dir_all(to)?;
        for entry in fs::read_dir(from)? {
            let entry = entry?;
            let target = to.join(entry.file_name());
            if entry.file_type()?.is_dir() {
                copy_tree(&entry.path(), &target)?;
            } else {
                fs::copy(entry.path(), &target)
                    .with_context(|| format!("copying to {}", target.display()))?;
                fs::File::open(&target)?.sync_all()?;
            }
        }
        Ok(())
    }
    let final_path = dest.join(name);
    if final_path.exists() {
        bail!("{} already exists", final_path.display());
    }
    let tmp = dest.join(format!("{INCOMPLETE}{name}"));
    let result = copy_tree(generation, &tmp).and_then(|()| {
        seal(&tmp)?;
        fs::rename(&tmp, &final_path)?;
        sync_dir(dest)
    });
    if let Err(e) = result {
        let _ = remove_tree(&tmp);
        return Err(e);
    }
    let copied = read_manifest(&final_path)?;
    if &copied != manifest {
        bail!("the copied manifest differs from the original");
    }
    let problems = check_files(&final_path, manifest);
    if !problems.is_empty() {
        bail!("the copy does not verify: {}", problems.join("; "));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The data directory

struct Walk {
    files: Vec<WalkFile>,
    excluded: Vec<PathBuf>,
}

struct WalkFile {
    rel: PathBuf,
    path: PathBuf,
    sqlite: bool,
    /// A `-wal`, `-shm` or `-journal` file next to its database.
    sidecar: bool,
    symlink: bool,
}

/// Is this top-level name a restore's own (moved-aside files or staging)?
fn is_restore_artifact(name: &str) -> bool {
    name.starts_with(BEFORE_RESTORE) || name.starts_with(STAGING)
}

/// A レセコン exchange folder (`kakunin terminal --files DIR`): transient requests and results.
fn is_exchange_folder(dir: &Path) -> bool {
    ["req", "res", "work"].iter().all(|d| dir.join(d).is_dir())
}

/// The data directory's files, sorted, with restore artefacts and exchange folders left out.
fn walk(root: &Path) -> Result<Walk> {
    fn go(root: &Path, rel: &Path, out: &mut Walk) -> Result<()> {
        let dir = root.join(rel);
        let mut entries: Vec<_> = fs::read_dir(&dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .collect::<std::io::Result<_>>()?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let name = entry.file_name();
            let rel = rel.join(&name);
            let path = entry.path();
            let file_type = entry.file_type()?;
            if rel.components().count() == 1 && is_restore_artifact(&name.to_string_lossy()) {
                continue;
            }
            if file_type.is_dir() {
                if is_exchange_folder(&path) {
                    out.excluded.push(rel);
                    continue;
                }
                go(root, &rel, out)?;
            } else if file_type.is_file() || file_type.is_symlink() {
                let symlink = file_type.is_symlink();
                let text = name.to_string_lossy();
                let sidecar = ["-wal", "-shm", "-journal"].iter().any(|s| {
                    text.strip_suffix(s)
                        .is_some_and(|base| dir.join(base).is_file())
                });
                let sqlite = !symlink && !sidecar && is_sqlite(&path);
                out.files.push(WalkFile {
                    rel,
                    path,
                    sqlite,
                    sidecar,
                    symlink,
                });
            }
        }
        Ok(())
    }
    let mut out = Walk {
        files: Vec::new(),
        excluded: Vec::new(),
    };
    go(root, Path::new(""), &mut out)?;
    out.files.retain(|f| {
        if f.symlink {
            eprintln!(
                "  注意: シンボリックリンクは対象外です: {}",
                f.path.display()
            );
        }
        !f.symlink && !f.sidecar
    });
    Ok(out)
}

/// Every entry of the live data directory a restore moves aside (sidecars and links too).
fn live_entries(root: &Path) -> Result<Vec<PathBuf>> {
    fn go(root: &Path, rel: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
        for entry in fs::read_dir(root.join(rel))? {
            let entry = entry?;
            let name = entry.file_name();
            let rel = rel.join(&name);
            if rel.components().count() == 1 && is_restore_artifact(&name.to_string_lossy()) {
                continue;
            }
            let file_type = entry.file_type()?;
            if file_type.is_dir() {
                if !is_exchange_folder(&entry.path()) {
                    go(root, &rel, out)?;
                }
            } else {
                out.push(rel);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    go(root, Path::new(""), &mut out)?;
    out.sort();
    Ok(out)
}

fn is_sqlite(path: &Path) -> bool {
    let mut header = [0u8; 16];
    fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut header))
        .is_ok()
        && &header == SQLITE_HEADER
}

// ---------------------------------------------------------------------------------------------
// kakunin restore

pub async fn restore(args: RestoreArgs) -> Result<()> {
    let started = Instant::now();
    let generation = args.from.clone();
    let manifest = tokio::task::spawn_blocking({
        let generation = generation.clone();
        move || read_manifest(&generation)
    })
    .await??;
    let postgres = match (manifest.source.database.as_str(), &args.database) {
        // Only verifying: no database needed.
        _ if args.data.is_none() => None,
        ("postgres", Some(url))
            if url.starts_with("postgres://") || url.starts_with("postgresql://") =>
        {
            Some(url.clone())
        }
        ("postgres", _) => bail!(
            "この世代は PostgreSQL のバックアップです。復元先を --database postgres://… で指定してください"
        ),
        (_, Some(_)) => bail!(
            "この世代は SQLite のバックアップです（--database は指定できません）"
        ),
        _ => None,
    };
    if args.verify {
        let (g, m) = (generation.clone(), manifest.clone());
        let report = tokio::task::spawn_blocking(move || verify_generation(&g, &m)).await??;
        println!(
            "検証OK: {}（{} 作成）ファイル {} 個の大きさと SHA-256、SQLite {} 個の integrity_check{}",
            generation.display(),
            manifest.created,
            manifest.files.len(),
            report.sqlite,
            if report.dump { "、pg_dump の目次" } else { "" }
        );
    }
    let Some(data) = args.data.clone() else {
        println!("検証のみ: 何も復元していません（復元するには --data DIR を指定）");
        return Ok(());
    };
    let force = args.force;
    let (g, m, d, pg) = (
        generation.clone(),
        manifest.clone(),
        data.clone(),
        postgres.clone(),
    );
    let outcome =
        tokio::task::spawn_blocking(move || put_in_place(&g, &m, &d, pg.as_deref(), force))
            .await??;
    println!(
        "復元しました: {} ← {}（{} 時点のバックアップ）",
        data.display(),
        generation.display(),
        manifest.created
    );
    println!(
        "  ファイル {} 個{}",
        outcome.restored,
        if postgres.is_some() {
            "、PostgreSQL のデータベース（pg_restore）"
        } else {
            ""
        }
    );
    if let Some(schema) = &outcome.aside_schema {
        println!(
            "  それまでのデータベースの内容はスキーマ {schema} に移しました（削除していません。調べ終えたら DROP SCHEMA {schema} CASCADE）"
        );
    }
    match &outcome.aside {
        Some(dir) => println!(
            "  それまでのファイル {} 個は {} に移しました（削除していません）",
            outcome.moved,
            dir.display()
        ),
        None if outcome.created => println!("  データディレクトリを新しく作りました"),
        None => println!("  データディレクトリは空でした"),
    }
    println!(
        "  復旧にかかった時間: {:.1} 秒（検証と復元）",
        started.elapsed().as_secs_f64()
    );
    verify_audit_chain(&data, postgres.as_deref())
        .await
        .context(
            "復元したデータの監査ログの検証に失敗しました。中央サーバを起動する前に調べてください",
        )?;
    if manifest.source.kind == "central" {
        println!(
            "  次に: kakunin audit verify --data {}{} で監査ログを確かめ、中央サーバを起動して資格確認が答えることを確かめてください",
            data.display(),
            if postgres.is_some() { " --database …" } else { "" }
        );
    } else {
        println!("  次に: 端末を起動し、資格確認が答えることを確かめてください");
    }
    Ok(())
}

/// The check of the restored data's tamper-evident audit chain (access log and administrative
/// events), run after every restore; an error is reported and the restore's exit code is 1.
pub(crate) async fn verify_audit_chain(data_dir: &Path, database: Option<&str>) -> Result<()> {
    // A terminal's data directory (no store file, no `database`) has no chain to check.
    if database.is_none() && !data_dir.join(kakunin_central::SQLITE_FILE).exists() {
        return Ok(());
    }
    let key = kakunin_central::audit::public_path(data_dir);
    if !key.exists() {
        eprintln!(
            "監査ログの公開鍵 {} がないため、監査チェーンは確認していません（kakunin audit verify --public-key で確認してください）",
            key.display()
        );
        return Ok(());
    }
    let public = kakunin_central::audit::read_public(&key)?;
    let store = kakunin_central::open_store(
        data_dir,
        &kakunin_central::StoreConfig {
            database: database.map(str::to_string),
            ..Default::default()
        },
    )
    .await?;
    let report = kakunin_central::audit::verify(&*store, &public).await?;
    print!("{}", kakunin_central::audit::describe(&report));
    if !report.ok() {
        bail!("復元したデータの監査チェーンに不整合があります（上の FIRST BAD ENTRY / BAD CHECKPOINT を確認してください）");
    }
    Ok(())
}

/// Reads and checks a generation's manifest.
pub fn read_manifest(generation: &Path) -> Result<Manifest> {
    let path = generation.join(MANIFEST);
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(newest) = generations(generation).last() {
                bail!(
                    "{} はバックアップの保存先です。世代を指定してください（最新: {}）",
                    generation.display(),
                    generation.join(newest).display()
                );
            }
            bail!(
                "バックアップの世代ではありません（{MANIFEST} がありません）: {}",
                generation.display()
            );
        }
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let manifest: Manifest = serde_json::from_slice(&bytes).with_context(|| {
        format!(
            "バックアップの {MANIFEST} が読めません（壊れているか改ざんされています）: {}",
            path.display()
        )
    })?;
    if manifest.format != FORMAT || manifest.format_version > FORMAT_VERSION {
        bail!(
            "このバックアップの形式（{} {}）はこの kakunin {} では扱えません",
            manifest.format,
            manifest.format_version,
            env!("CARGO_PKG_VERSION")
        );
    }
    for f in &manifest.files {
        let ok = match f.kind.as_str() {
            KIND_PG_DUMP => f.path == PG_DUMP,
            KIND_SQLITE | KIND_FILE => f
                .path
                .strip_prefix(&format!("{DATA}/"))
                .is_some_and(|rest| safe_relative(rest).is_some()),
            _ => false,
        };
        if !ok {
            bail!(
                "{MANIFEST} に不正なパスがあります（改ざんされています）。何も変更していません: {:?}",
                f.path
            );
        }
    }
    Ok(manifest)
}

/// A relative path of normal components only (no `..`, no root, nothing hidden from a
/// restore's own names at the top).
fn safe_relative(rel: &str) -> Option<PathBuf> {
    let path = PathBuf::from(rel);
    let normal = !rel.is_empty() && path.components().all(|c| matches!(c, Component::Normal(_)));
    let first = path
        .components()
        .next()?
        .as_os_str()
        .to_string_lossy()
        .to_string();
    (normal && !is_restore_artifact(&first)).then_some(path)
}

struct VerifyReport {
    sqlite: usize,
    dump: bool,
}

/// Every file present with its size and SHA-256, no extra file, each SQLite database intact.
fn verify_generation(generation: &Path, manifest: &Manifest) -> Result<VerifyReport> {
    let mut problems = check_files(generation, manifest);
    let listed: std::collections::HashSet<&str> =
        manifest.files.iter().map(|f| f.path.as_str()).collect();
    for extra in files_under(generation)? {
        let rel = slash_path(&extra);
        if rel != MANIFEST && !listed.contains(rel.as_str()) {
            problems.push(format!("{rel}: 目録にないファイルがあります"));
        }
    }
    let mut sqlite = 0;
    let mut dump = false;
    if problems.is_empty() {
        for f in &manifest.files {
            let path = generation.join(&f.path);
            if f.kind == KIND_SQLITE {
                match integrity_check(&path) {
                    Ok(()) => sqlite += 1,
                    Err(e) => problems.push(format!(
                        "{}: SQLite の integrity_check に失敗しました ({e:#})",
                        f.path
                    )),
                }
            } else if f.kind == KIND_PG_DUMP {
                match pg_restore_list(&path) {
                    Ok(()) => dump = true,
                    Err(e) => problems.push(format!("{}: {e:#}", f.path)),
                }
            }
        }
    }
    if !problems.is_empty() {
        bail!(
            "このバックアップは壊れているか改ざんされています。何も変更していません:\n  {}",
            problems.join("\n  ")
        );
    }
    Ok(VerifyReport { sqlite, dump })
}

/// Size and SHA-256 of every file the manifest lists; one problem per file.
fn check_files(generation: &Path, manifest: &Manifest) -> Vec<String> {
    let mut problems = Vec::new();
    for f in &manifest.files {
        let path = generation.join(&f.path);
        match fs::symlink_metadata(&path) {
            Err(_) => problems.push(format!("{}: ファイルがありません", f.path)),
            Ok(m) if !m.is_file() => {
                problems.push(format!("{}: 通常のファイルではありません", f.path))
            }
            Ok(m) if m.len() != f.size => problems.push(format!(
                "{}: 大きさが違います (expected {} bytes, found {})",
                f.path,
                f.size,
                m.len()
            )),
            Ok(_) => match hash_file(&path) {
                Ok((_, sha)) if sha == f.sha256 => {}
                Ok((_, sha)) => problems.push(format!(
                    "{}: SHA-256 が一致しません (expected {}, found {sha})",
                    f.path, f.sha256
                )),
                Err(e) => problems.push(format!("{}: 読めません ({e:#})", f.path)),
            },
        }
    }
    problems
}

/// Paths (relative) of every non-directory entry under `dir`.
fn files_under(dir: &Path) -> Result<Vec<PathBuf>> {
    fn go(root: &Path, rel: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
        for entry in fs::read_dir(root.join(rel))? {
            let entry = entry?;
            let rel = rel.join(entry.file_name());
            if entry.file_type()?.is_dir() {
                go(root, &rel, out)?;
            } else {
                out.push(rel);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    go(dir, Path::new(""), &mut out)?;
    out.sort();
    Ok(out)
}

/// `PRAGMA integrity_check` of a database file, opened read-only and immutable (no journal,
/// no lock, nothing written next to it).
fn integrity_check(path: &Path) -> Result<()> {
    use rusqlite::OpenFlags;
    let uri = format!("file:{}?immutable=1", uri_path(path)?);
    let conn = rusqlite::Connection::open_with_flags(
        &uri,
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    let mut stmt = conn.prepare("PRAGMA integrity_check")?;
    let lines: Vec<String> = stmt
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<_>>()?;
    if lines != ["ok"] {
        bail!("{}", lines.join("; "));
    }
    Ok(())
}

/// A path for an SQLite `file:` URI (`%`, `?` and `#` escaped).
fn uri_path(path: &Path) -> Result<String> {
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()?.join(path)
    };
    let text = abs
        .to_str()
        .with_context(|| format!("not a UTF-8 path: {}", abs.display()))?;
    Ok(text
        .replace('%', "%25")
        .replace('?', "%3f")
        .replace('#', "%23"))
}

struct Outcome {
    /// The PostgreSQL schema the database's previous tables were moved to.
    aside_schema: Option<String>,
    /// The data directory did not exist.
    created: bool,
    restored: usize,
    moved: usize,
    aside: Option<PathBuf>,
}

/// Puts a generation's files in place of the data directory's: staged and checked first,
/// the current files moved aside, the staged ones renamed in; undone if a step fails.
fn put_in_place(
    generation: &Path,
    manifest: &Manifest,
    data: &Path,
    postgres: Option<&str>,
    force: bool,
) -> Result<Outcome> {
    let existed = data.exists();
    if existed {
        if !data.is_dir() {
            bail!("データディレクトリではありません: {}", data.display());
        }
        refuse_if_in_use(data)?;
        if !force {
            refuse_if_newer_wal(data, manifest)?;
        }
    }
    if let Some(url) = postgres {
        if !force {
            refuse_if_connected(url)?;
        }
    }
    fs::create_dir_all(data).with_context(|| format!("creating {}", data.display()))?;
    let stamp = format!(
        "{}-{}",
        utc_compact(unix_ms(SystemTime::now())),
        random_hex(3)?
    );
    let staging = data.join(format!("{STAGING}{stamp}"));
    let undo_create = |e: anyhow::Error| {
        let _ = remove_tree(&staging);
        if !existed {
            let _ = fs::remove_dir(data);
        }
        e
    };
    let staged = stage(generation, manifest, &staging).map_err(undo_create)?;
    let mut aside_schema = None;
    if let Some(url) = postgres {
        let dump = generation.join(PG_DUMP);
        let entry = manifest.files.iter().find(|f| f.kind == KIND_PG_DUMP);
        let verified = entry.is_some_and(|e| {
            hash_file(&dump).is_ok_and(|(size, sha)| size == e.size && sha == e.sha256)
        });
        if !verified {
            return Err(undo_create(anyhow::anyhow!(
                "{PG_DUMP}: SHA-256 が一致しません（壊れているか改ざんされています）。何も変更していません"
            )));
        }
        let schema = format!(
            "kakunin_before_restore_{}",
            stamp.to_lowercase().replace('-', "_")
        );
        if pg_restore(url, &dump, &schema).map_err(undo_create)? {
            aside_schema = Some(schema);
        }
    }

    let aside = data.join(format!("{BEFORE_RESTORE}{stamp}"));
    let mut renames: Vec<(PathBuf, PathBuf)> = Vec::new();
    let result = (|| -> Result<usize> {
        let live = live_entries(data)?;
        for rel in &live {
            let to = aside.join(rel);
            if let Some(parent) = to.parent() {
                create_private_dirs(parent)?;
            }
            let from = data.join(rel);
            fs::rename(&from, &to).with_context(|| format!("moving {} aside", from.display()))?;
            renames.push((from, to));
        }
        for (rel, mode) in &staged {
            let from = staging.join(rel);
            let to = data.join(rel);
            if let Some(parent) = to.parent() {
                create_private_dirs(parent)?;
            }
            fs::rename(&from, &to).with_context(|| format!("putting {} in place", to.display()))?;
            renames.push((from, to.clone()));
            set_mode(&to, mode | 0o600)?;
        }
        Ok(live.len())
    })();
    let moved = match result {
        Ok(n) => n,
        Err(e) => {
            let mut stuck = Vec::new();
            for (from, to) in renames.iter().rev() {
                if fs::rename(to, from).is_err() {
                    stuck.push(to.display().to_string());
                }
            }
            let _ = remove_tree(&staging);
            // Only empty directories: a file that could not be moved back stays where it is.
            remove_empty_dirs(&aside);
            let mut message = "復元を中断し、ファイルを元に戻しました".to_string();
            if aside_schema.is_some() || postgres.is_some() {
                message.push_str("（PostgreSQL のデータベースは復元済みです）");
            }
            if !stuck.is_empty() {
                message = format!(
                    "復元を中断しました。元に戻せなかったファイルがあります: {}",
                    stuck.join(", ")
                );
            }
            return Err(e.context(message));
        }
    };
    sync_tree_dirs(data)?;
    remove_tree(&staging)?;
    let aside = if moved == 0 {
        remove_empty_dirs(&aside);
        None
    } else {
        Some(aside)
    };
    Ok(Outcome {
        aside_schema,
        created: !existed,
        restored: staged.len(),
        moved,
        aside,
    })
}

/// Removes `dir` and the directories under it that hold no file.
fn remove_empty_dirs(dir: &Path) {
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                remove_empty_dirs(&entry.path());
            }
        }
    }
    let _ = fs::remove_dir(dir);
}

/// Copies the generation's data files into `staging` (fsync'd), each checked against the
/// manifest; returns (relative path, mode) of each.
fn stage(generation: &Path, manifest: &Manifest, staging: &Path) -> Result<Vec<(PathBuf, u32)>> {
    create_private_dirs(staging)?;
    let mut staged = Vec::new();
    for f in manifest.files.iter().filter(|f| f.kind != KIND_PG_DUMP) {
        let rel = f
            .path
            .strip_prefix(&format!("{DATA}/"))
            .and_then(safe_relative)
            .with_context(|| format!("{MANIFEST}: bad path {:?}", f.path))?;
        let src = generation.join(&f.path);
        let dst = staging.join(&rel);
        if let Some(parent) = dst.parent() {
            create_private_dirs(parent)?;
        }
        fs::copy(&src, &dst).with_context(|| {
            format!(
                "{}: バックアップのファイルを読めません。何も変更していません",
                f.path
            )
        })?;
        set_mode(&dst, 0o600)?;
        fs::File::open(&dst)?.sync_all()?;
        let (size, sha) = hash_file(&dst)?;
        if size != f.size || sha != f.sha256 {
            bail!(
                "{}: 大きさか SHA-256 が目録と一致しません（壊れているか改ざんされています）。何も変更していません",
                f.path
            );
        }
        let mode = u32::from_str_radix(&f.mode, 8).unwrap_or(0o600) & 0o777;
        staged.push((rel, mode));
    }
    Ok(staged)
}

/// Refuses when another process has a file of the data directory open (a running central or
/// terminal). Linux only (`/proc`); elsewhere, and for other users' processes we cannot read,
/// the write-ahead-log check is what remains.
fn refuse_if_in_use(data: &Path) -> Result<()> {
    let Ok(root) = data.canonicalize() else {
        return Ok(());
    };
    let me = std::process::id().to_string();
    let Ok(procs) = fs::read_dir("/proc") else {
        return Ok(());
    };
    for p in procs.flatten() {
        let pid = p.file_name().to_string_lossy().to_string();
        if pid == me || !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(fds) = fs::read_dir(p.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let Ok(target) = fs::read_link(fd.path()) else {
                continue;
            };
            if target.starts_with(&root) {
                let command = fs::read_to_string(p.path().join("comm")).unwrap_or_default();
                bail!(
                    "データディレクトリのファイルを使っているプロセスがあります（pid {pid} {}: {}）。中央サーバや端末を止めてから復元してください。何も変更していません",
                    command.trim(),
                    target.display()
                );
            }
        }
    }
    Ok(())
}

/// Refuses when a database the generation restores has a write-ahead log written after the
/// backup started: those writes would be set aside.
fn refuse_if_newer_wal(data: &Path, manifest: &Manifest) -> Result<()> {
    for f in manifest.files.iter().filter(|f| f.kind == KIND_SQLITE) {
        let Some(rel) = f.path.strip_prefix(&format!("{DATA}/")) else {
            continue;
        };
        let wal = data.join(format!("{rel}-wal"));
        let Ok(meta) = fs::metadata(&wal) else {
            continue;
        };
        let modified = meta.modified().map(unix_ms).unwrap_or(i64::MAX);
        if meta.len() > 0 && modified > manifest.created_unix_ms {
            bail!(
                "{} にバックアップ（{}）より後の書き込みがあります。中央サーバや端末が止まっていることを確かめ、その書き込みを手放してよければ --force を付けてください（今のファイルは {BEFORE_RESTORE}… に移します）。何も変更していません",
                wal.display(),
                manifest.created
            );
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL through its own tools

/// A connection URL split for libpq's tools: the password goes through `PGPASSWORD`, not the
/// command line.
struct PgConn {
    url: String,
    password: Option<String>,
    /// host:port/database, for messages and the manifest.
    label: String,
}

impl PgConn {
    fn parse(url: &str) -> Self {
        let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        let (userinfo, host) = match authority.rfind('@') {
            Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
            None => (None, authority),
        };
        let (user, password) = match userinfo {
            Some(u) => match u.split_once(':') {
                Some((user, pw)) => (Some(user), Some(percent_decode(pw))),
                None => (Some(u), None),
            },
            None => (None, None),
        };
        let url = match user {
            Some(u) => format!("{scheme}://{u}@{host}{path}"),
            None => format!("{scheme}://{host}{path}"),
        };
        let database = path.trim_start_matches('/').split('?').next().unwrap_or("");
        Self {
            url,
            password,
            label: format!("{host}/{database}"),
        }
    }

    fn command(&self, program: &str) -> Result<Command> {
        let mut c = Command::new(pg_program(program)?);
        c.stdin(Stdio::null())
            .env("PGCONNECT_TIMEOUT", "10")
            .env_remove("PGPASSWORD");
        if let Some(p) = &self.password {
            c.env("PGPASSWORD", p);
        }
        Ok(c)
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Some(b) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A PostgreSQL program: `$KAKUNIN_PG_BIN`, the newest `/usr/lib/postgresql/*/bin`, `$PATH`.
fn pg_program(name: &str) -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("KAKUNIN_PG_BIN") {
        let p = PathBuf::from(dir).join(name);
        if p.is_file() {
            return Ok(p);
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            let p = e.path().join("bin").join(name);
            p.is_file().then_some((v, p))
        })
        .collect();
    versions.sort();
    if let Some((_, p)) = versions.pop() {
        return Ok(p);
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .with_context(|| {
            format!(
                "{name} が見つかりません。PostgreSQL のクライアント（Debian: postgresql-client）を入れるか、KAKUNIN_PG_BIN でその場所を指定してください"
            )
        })
}

fn run_tool(mut c: Command, what: &str) -> Result<String> {
    let out = c
        .output()
        .with_context(|| format!("{what} を起動できません"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        bail!("{what} failed ({}): {}", out.status, last_chars(&err));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn pg_dump(url: &str, dst: &Path) -> Result<()> {
    let conn = PgConn::parse(url);
    let mut c = conn.command("pg_dump")?;
    c.args(["--format=custom", "--no-password", "--file"])
        .arg(dst)
        .arg("--dbname")
        .arg(&conn.url);
    run_tool(c, "pg_dump")
        .with_context(|| format!("PostgreSQL（{}）をダンプできませんでした", conn.label))?;
    Ok(())
}

fn pg_restore_list(dump: &Path) -> Result<()> {
    let mut c = Command::new(pg_program("pg_restore")?);
    c.stdin(Stdio::null()).arg("--list").arg(dump);
    run_tool(c, "pg_restore --list").context("pg_dump の目次が読めません")?;
    Ok(())
}

/// Restores the dump in one transaction, all of it or nothing: the database's `public` schema
/// (where all of kakunin's tables live) is renamed `aside`, never dropped, and the dump
/// (`pg_restore` to SQL) recreates `public`; `aside` is dropped again when it held nothing.
///
/// Not `pg_restore --clean`: over an existing schema it fails on the access log's partitions
/// ("cannot drop inherited constraint"), and it would drop what it replaces.
fn pg_restore(url: &str, dump: &Path, aside: &str) -> Result<bool> {
    let conn = PgConn::parse(url);
    let failed = |what: String| {
        anyhow::anyhow!(
            "PostgreSQL（{}）に復元できませんでした。データベースは変更していません: {what}",
            conn.label
        )
    };
    let mut script = Command::new(pg_program("pg_restore")?)
        .args(["--exit-on-error", "--file=-"])
        .arg(dump)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("pg_restore を起動できません")?;
    let mut psql = conn.command("psql")?;
    psql.args([
        "--no-psqlrc",
        "--quiet",
        "--tuples-only",
        "--no-align",
        "--set",
        "ON_ERROR_STOP=1",
        "--no-password",
        "--dbname",
    ])
    .arg(&conn.url)
    .args(["--file", "-"])
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut psql = psql.spawn().context("psql を起動できません")?;
    let read_all = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = r.read_to_string(&mut text);
            text
        })
    };
    let script_err = read_all(Box::new(script.stderr.take().context("pg_restore stderr")?));
    let psql_out = read_all(Box::new(psql.stdout.take().context("psql stdout")?));
    let psql_err = read_all(Box::new(psql.stderr.take().context("psql stderr")?));
    let mut stdin = psql.stdin.take().context("psql stdin")?;
    let quoted = aside.replace('"', "");
    let prelude = format!(
        "BEGIN;\n\
         DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'public') THEN \
         ALTER SCHEMA public RENAME TO \"{quoted}\"; END IF; END $$;\n\
         CREATE SCHEMA public;\n"
    );
    let mut sent = stdin.write_all(prelude.as_bytes()).is_ok();
    if sent {
        let mut out = script.stdout.take().context("pg_restore stdout")?;
        sent = std::io::copy(&mut out, &mut stdin).is_ok();
    }
    let script_status = script.wait()?;
    let keep_aside = format!(
        "SELECT 'kakunin-aside:' || (EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = '{quoted}') OR EXISTS (SELECT 1 FROM pg_proc p JOIN pg_namespace n \
         ON n.oid = p.pronamespace WHERE n.nspname = '{quoted}'))::text;\n\
         DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n \
         ON n.oid = c.relnamespace WHERE n.nspname = '{quoted}') AND NOT EXISTS (SELECT 1 \
         FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = \
         '{quoted}') THEN DROP SCHEMA IF EXISTS \"{quoted}\"; END IF; END $$;\n"
    );
    let ending = if sent && script_status.success() {
        format!("{keep_aside}COMMIT;\n")
    } else {
        "ROLLBACK;\n".to_string()
    };
    let _ = stdin.write_all(ending.as_bytes());
    drop(stdin);
    let status = psql.wait()?;
    let (script_err, psql_out, psql_err) = (
        script_err.join().unwrap_or_default(),
        psql_out.join().unwrap_or_default(),
        psql_err.join().unwrap_or_default(),
    );
    if !script_status.success() {
        return Err(failed(format!("pg_restore: {}", last_chars(&script_err))));
    }
    if !sent || !status.success() {
        return Err(failed(format!("psql: {}", last_chars(&psql_err))));
    }
    Ok(psql_out.lines().any(|l| l.trim() == "kakunin-aside:true"))
}

fn last_chars(text: &str) -> String {
    let chars: Vec<char> = text.trim().chars().collect();
    chars[chars.len().saturating_sub(2000)..].iter().collect()
}

/// Refuses when other sessions are connected to the database (a running central).
fn refuse_if_connected(url: &str) -> Result<()> {
    let conn = PgConn::parse(url);
    let mut c = conn.command("psql")?;
    c.args(["--no-psqlrc", "--tuples-only", "--no-align", "--no-password", "--dbname"])
        .arg(&conn.url)
        .args([
            "--command",
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()",
        ]);
    let out = run_tool(c, "psql")
        .with_context(|| format!("PostgreSQL（{}）に接続できません", conn.label))?;
    let n: u64 = out.trim().parse().unwrap_or(0);
    if n > 0 {
        bail!(
            "PostgreSQL（{}）に他の接続が {n} 個あります。中央サーバを止めてから復元してください（止めたうえでなら --force）。何も変更していません",
            conn.label
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Small helpers

fn hash_file(path: &Path) -> Result<(u64, String)> {
    let mut f = fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((size, hex(&hasher.finalize())))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn random_hex(n: usize) -> Result<String> {
    use ring::rand::SecureRandom;
    let mut bytes = vec![0u8; n];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| anyhow::anyhow!("no system randomness"))?;
    Ok(hex(&bytes))
}

fn slash_path(p: &Path) -> String {
    p.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

fn unix_ms(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// (date, seconds of the day) in UTC.
fn utc_parts(ms: i64) -> (kakunin_domain::Date, i64) {
    let days = ms.div_euclid(86_400_000);
    let date = kakunin_domain::Date::from_days(days)
        .or_else(|| kakunin_domain::Date::from_days(0))
        .expect("1970-01-01 is a date");
    (date, ms.div_euclid(1000).rem_euclid(86_400))
}

/// `YYYYMMDDTHHMMSSZ`.
fn utc_compact(ms: i64) -> String {
    let (date, s) = utc_parts(ms);
    format!(
        "{}T{:02}{:02}{:02}Z",
        date.compact(),
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// `YYYY-MM-DDTHH:MM:SSZ`.
fn utc_rfc3339(ms: i64) -> String {
    let (date, s) = utc_parts(ms);
    format!(
        "{}T{:02}:{:02}:{:02}Z",
        date.iso(),
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

fn human_bytes(n: u64) -> String {
    if n >= 1 << 30 {
        format!("{:.2} GB", n as f64 / f64::from(1u32 << 30))
    } else if n >= 1 << 20 {
        format!("{:.1} MB", n as f64 / f64::from(1u32 << 20))
    } else {
        format!("{:.1} kB", n as f64 / 1024.0)
    }
}

#[cfg(unix)]
fn mode_of(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).map_or(0o600, |m| m.permissions().mode() & 0o777)
}

#[cfg(not(unix))]
fn mode_of(_: &Path) -> u32 {
    0o600
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .with_context(|| format!("chmod {mode:o} {}", path.display()))
}

#[cfg(not(unix))]
fn set_mode(path: &Path, mode: u32) -> Result<()> {
    let mut p = fs::metadata(path)?.permissions();
    p.set_readonly(mode & 0o200 == 0);
    Ok(fs::set_permissions(path, p)?)
}

/// Creates missing directories as 0700.
fn create_private_dirs(dir: &Path) -> Result<()> {
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)
        .with_context(|| format!("creating {}", dir.display()))
}

fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    fs::File::open(dir)
        .and_then(|f| f.sync_all())
        .with_context(|| format!("fsync {}", dir.display()))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// fsync of every directory of a tree (the renames into it are durable).
fn sync_tree_dirs(dir: &Path) -> Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            sync_tree_dirs(&entry.path())?;
        }
    }
    sync_dir(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_names() {
        assert!(is_generation_name("20261124T093000Z-a1b2c3d4"));
        for bad in [
            ".incomplete-20261124T093000Z-a1b2c3d4",
            "20261124T093000Z",
            "20261124T093000-a1b2",
            "2026112xT093000Z-a1",
            "20261124T093000Z-zz",
        ] {
            assert!(!is_generation_name(bad), "{bad}");
        }
        assert_eq!(utc_compact(0), "19700101T000000Z");
        assert_eq!(utc_rfc3339(1_795_480_200_123), "2026-11-24T00:30:00Z");
        assert_eq!(utc_compact(1_795_480_200_123), "20261124T003000Z");
    }

    #[test]
    fn keep_is_at_least_three() {
        assert_eq!(parse_keep("3"), Ok(3));
        assert!(parse_keep("2").unwrap_err().contains("3 世代以上"));
        assert!(parse_keep("x").is_err());
    }

    #[test]
    fn manifest_paths_stay_inside() {
        for (path, ok) in [
            ("kakunin.sqlite3", true),
            ("authority/keys/root-ca-key.pem", true),
            ("../etc/passwd", false),
            ("/etc/passwd", false),
            ("a/../../b", false),
            ("./a", false),
            ("", false),
            (".before-restore-x/a", false),
        ] {
            assert_eq!(safe_relative(path).is_some(), ok, "{path}");
        }
    }

    #[test]
    fn postgres_passwords_leave_the_url() {
        let c =
            PgConn::parse("postgres://kakunin:s%40cret@db.example:5432/kakunin?sslmode=require");
        assert_eq!(
            c.url,
            "postgres://kakunin@db.example:5432/kakunin?sslmode=require"
        );
        assert_eq!(c.password.as_deref(), Some("s@cret"));
        assert_eq!(c.label, "db.example:5432/kakunin");
        let c = PgConn::parse("postgres://kakunin@127.0.0.1:1/x");
        assert_eq!(c.url, "postgres://kakunin@127.0.0.1:1/x");
        assert_eq!(c.password, None);
    }

    #[test]
    fn retention_keeps_the_newest_and_the_one_just_made() {
        let dir = tempfile::tempdir().unwrap();
        let names = [
            "20260101T000000Z-01",
            "20260102T000000Z-02",
            "20260103T000000Z-03",
            "20260104T000000Z-04",
            "20250101T000000Z-05", // made now, with a clock set back
        ];
        for n in names {
            let g = dir.path().join(n);
            fs::create_dir(&g).unwrap();
            fs::write(g.join(MANIFEST), "{}").unwrap();
            seal(&g).unwrap();
        }
        fs::create_dir(dir.path().join("20260105T000000Z-06")).unwrap(); // no manifest
        let deleted = retain(dir.path(), 3, names[4]);
        assert_eq!(deleted, ["20260101T000000Z-01", "20260102T000000Z-02"]);
        assert_eq!(generations(dir.path()), [names[4], names[2], names[3]]);
    }
}
