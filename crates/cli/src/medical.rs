//! `kakunin import receipts|masters|checkups` and `kakunin medical`: medical information in
//! and out of the central.

use crate::Conn;
use anyhow::{bail, Context, Result};
use base64::Engine;
use clap::Args;
use kakunin_api::{
    CheckupPackageUpload, FileProblem, MedicalInformationRequest, MedicalInformationResponse,
    ReceiptImportReport,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Args)]
pub(crate) struct ReceiptsArgs {
    #[command(flatten)]
    conn: Conn,
    /// Print the result as JSON: `receipts`, `matched`, `unmatched`, `unknown_records` (totals)
    /// and `files` (each file's report).
    #[arg(long)]
    json: bool,
    /// UKE files (RECEIPTC.UKE for 医科, the 調剤 file); each is imported in one transaction.
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

#[derive(Args)]
pub(crate) struct MastersArgs {
    #[command(flatten)]
    conn: Conn,
    /// `drug` (y_ALL*.csv), `procedure` (s_ALL*.csv) or `device` (t_ALL*.csv); by default from
    /// the file name's first letter.
    #[arg(long)]
    kind: Option<String>,
    #[arg(long)]
    json: bool,
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

#[derive(Args)]
pub(crate) struct CheckupsArgs {
    #[command(flatten)]
    conn: Conn,
    #[arg(long)]
    json: bool,
    /// The package folder (index.xml, summary.xml, DATA/*.xml).
    dir: PathBuf,
}

#[derive(Args)]
pub(crate) struct MedicalArgs {
    #[command(flatten)]
    conn: Conn,
    /// `medications`, `treatments`, `surgeries` or `checkups`.
    category: String,
    #[arg(long)]
    insurer: String,
    #[arg(long)]
    symbol: Option<String>,
    #[arg(long)]
    number: String,
    #[arg(long)]
    branch: Option<String>,
    /// 生年月日 `yyyyMMdd`.
    #[arg(long)]
    birthdate: String,
    /// 開始日 `yyyyMMdd` (default: 5 years before the end).
    #[arg(long)]
    from: Option<String>,
    /// 終了日 `yyyyMMdd` (default: today).
    #[arg(long)]
    to: Option<String>,
    #[arg(long)]
    json: bool,
}

fn print_problems(title: &str, problems: &[FileProblem]) {
    for p in problems.iter().take(50) {
        let place = match (&p.record, &p.field) {
            (Some(r), Some(f)) => format!(" {r} {f}項目目"),
            (Some(r), None) => format!(" {r}"),
            _ => String::new(),
        };
        eprintln!(
            "  {title} {}行目{place}: {} ({})",
            p.line, p.message, p.code
        );
    }
    if problems.len() > 50 {
        eprintln!("  … ほか {} 件", problems.len() - 50);
    }
}

fn exit(accepted: bool) -> ExitCode {
    if accepted {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

pub(crate) async fn import_receipts(args: ReceiptsArgs) -> Result<ExitCode> {
    let client = args.conn.client()?;
    let mut reports: Vec<(String, ReceiptImportReport)> = Vec::new();
    for file in &args.files {
        let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
        let report = client.import_receipts(bytes).await?;
        if !args.json {
            let state = match (report.accepted, report.duplicate) {
                (true, true) => "取込済み（同じファイル）",
                (true, false) => "取込完了",
                (false, _) => "取込不可（何も登録していません）",
            };
            println!(
                "{}: {state} レセプト {} 件（照合済み {} 件、未照合 {} 件）、不明レコード {} 件",
                file.display(),
                report.receipts,
                report.matched,
                report.unmatched,
                report.unknown_records
            );
            print_problems("エラー", &report.errors);
            print_problems("注意", &report.warnings);
        }
        reports.push((file.display().to_string(), report));
    }
    let accepted = reports.iter().all(|(_, r)| r.accepted);
    if args.json {
        let sum =
            |f: fn(&ReceiptImportReport) -> u64| reports.iter().map(|(_, r)| f(r)).sum::<u64>();
        let out = serde_json::json!({
            "accepted": accepted,
            "receipts": sum(|r| r.receipts),
            "matched": sum(|r| r.matched),
            "unmatched": sum(|r| r.unmatched),
            "unknown_records": sum(|r| r.unknown_records),
            "files": reports
                .iter()
                .map(|(f, r)| serde_json::json!({ "file": f, "report": r }))
                .collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    }
    Ok(exit(accepted))
}

/// The master kind of an official file name (`y_…`, `s_…`, `t_…`).
fn kind_of(file: &Path) -> Option<&'static str> {
    let name = file.file_name()?.to_str()?.to_ascii_lowercase();
    match name.chars().next()? {
        'y' => Some("drug"),
        's' => Some("procedure"),
        't' => Some("device"),
        _ => None,
    }
}

pub(crate) async fn import_masters(args: MastersArgs) -> Result<ExitCode> {
    let client = args.conn.client()?;
    let mut accepted = true;
    let mut reports = Vec::new();
    for file in &args.files {
        let kind = match args.kind.as_deref() {
            Some(k) => k,
            None => match kind_of(file) {
                Some(k) => k,
                None => bail!(
                    "{}: cannot tell the master kind from the file name; give --kind drug|procedure|device",
                    file.display()
                ),
            },
        };
        let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
        let report = client.import_masters(kind, bytes).await?;
        accepted &= report.accepted;
        if !args.json {
            println!(
                "{}: {} {} 件（追加 {}、更新 {}）{}",
                file.display(),
                report.kind,
                report.entries,
                report.inserted,
                report.updated,
                if report.accepted { "" } else { " 取込不可" }
            );
            print_problems("エラー", &report.errors);
        }
        reports.push(report);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
    }
    Ok(exit(accepted))
}

/// Every file under `dir`, by its path relative to `dir` with `/` separators.
fn read_tree(dir: &Path) -> Result<BTreeMap<String, Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).with_context(|| format!("reading {}", d.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path
                    .strip_prefix(dir)
                    .unwrap_or(&path)
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join("/");
                out.insert(rel, std::fs::read(&path)?);
            }
        }
    }
    Ok(out)
}

pub(crate) async fn import_checkups(args: CheckupsArgs) -> Result<ExitCode> {
    let files = read_tree(&args.dir)?;
    let upload = CheckupPackageUpload {
        files: files
            .into_iter()
            .map(|(p, b)| (p, base64::engine::general_purpose::STANDARD.encode(b)))
            .collect(),
    };
    let report = args.conn.client()?.import_checkups(&upload).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "{}: {} 健診 {} 件（照合済み {} 件、未照合 {} 件）",
            args.dir.display(),
            if report.accepted {
                "取込完了"
            } else {
                "取込不可（何も登録していません）"
            },
            report.documents,
            report.matched,
            report.unmatched
        );
        print_problems("エラー", &report.errors);
        print_problems("注意", &report.warnings);
    }
    Ok(exit(report.accepted))
}

pub(crate) async fn show(args: MedicalArgs) -> Result<()> {
    let req = MedicalInformationRequest {
        insurer_number: args.insurer,
        symbol: args.symbol,
        number: args.number,
        branch: args.branch,
        birthdate: args.birthdate,
        start_date: args.from,
        end_date: args.to,
    };
    let answer = args
        .conn
        .client()?
        .medical_information(&args.category, &req)
        .await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&answer)?);
    } else {
        print_information(&answer);
    }
    Ok(())
}

fn print_information(a: &MedicalInformationResponse) {
    println!(
        "{} {}〜{}  {}（{}） 生年月日 {}",
        a.category_label,
        a.start_date,
        a.end_date,
        a.patient.name,
        a.patient.name_kana,
        a.patient.birthdate
    );
    for m in &a.medications {
        println!(
            "  {} {} {} {}{} × {} [{}]",
            m.dispensed_on.as_deref().unwrap_or(&m.month),
            m.institution_name.as_deref().unwrap_or(&m.institution_code),
            m.drug_name,
            m.quantity.as_deref().unwrap_or(""),
            m.unit.as_deref().unwrap_or(""),
            m.days_or_times.map_or_else(String::new, |d| d.to_string()),
            m.drug_code
        );
    }
    for t in &a.treatments {
        println!(
            "  {} {} {} {} [{}]",
            t.dates.first().map_or(t.month.as_str(), String::as_str),
            t.institution_name.as_deref().unwrap_or(&t.institution_code),
            t.kind_label,
            t.name,
            t.code
        );
    }
    for c in &a.checkups {
        println!(
            "  {} {}",
            c.date,
            c.institution_name.as_deref().unwrap_or("")
        );
        for i in &c.items {
            println!(
                "    {} {} {}",
                i.name,
                i.value.as_deref().unwrap_or("—"),
                i.unit.as_deref().unwrap_or("")
            );
        }
    }
    if a.medications.is_empty() && a.treatments.is_empty() && a.checkups.is_empty() {
        println!("  この期間の情報はありません。");
    }
}
