//! `kakunin bench medical`: UKE ingestion (reader alone, then reader + store in one
//! transaction) on a generated file, and drug-information retrieval latency for the person
//! with the most history, beside an eligibility check of the same person in the same run.

use anyhow::{bail, Context, Result};
use clap::Args;
use kakunin_api::MedicalInformationRequest;
use kakunin_central::{medical, seed, service};
use kakunin_domain::{
    AccessLogEntry, AccessPurpose, AccessResult, Consent, ConsentCategory, InstitutionCode,
    Validity,
};
use kakunin_formats::uke;
use kakunin_store::{LinkDecision, RosterImport};
use std::time::Instant;

#[derive(Args)]
pub struct MedicalBenchArgs {
    /// Receipts in the generated UKE file.
    #[arg(long, default_value_t = 100_000)]
    receipts: u64,
    /// People in the population for the retrieval run.
    #[arg(long, default_value_t = 2_000)]
    people: u64,
    /// People given 5 years of history (the one with the most is queried).
    #[arg(long, default_value_t = 300)]
    history: u32,
    /// Retrieval requests (each paired with an eligibility check).
    #[arg(long, default_value_t = 1_000)]
    requests: usize,
    /// A PostgreSQL database (postgres://…) instead of SQLite in a temporary directory.
    #[arg(long, env = "KAKUNIN_DATABASE_URL")]
    database: Option<String>,
    /// Print the figures as one JSON object.
    #[arg(long)]
    json: bool,
}

fn percentile_ms(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

pub async fn run(args: MedicalBenchArgs) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let store = crate::bench_common::open_empty_store(dir.path(), args.database.as_deref()).await?;

    // Ingestion.
    let started = Instant::now();
    let n = args.receipts;
    let bytes = tokio::task::spawn_blocking(move || kakunin_seed::bench_receipts(n, 1)).await?;
    let generate_s = started.elapsed().as_secs_f64();
    let mb = bytes.len() as f64 / 1e6;
    let started = Instant::now();
    let (receipts, lines) = {
        let bytes = bytes.clone();
        tokio::task::spawn_blocking(move || -> Result<(usize, usize)> {
            let file = uke::parse(&bytes).map_err(|e| anyhow::anyhow!("{e}"))?;
            let lines = file
                .receipts
                .iter()
                .map(|r| {
                    let d = uke::derive::derive(file.kind, r);
                    d.drugs.len() + d.treatments.len()
                })
                .sum();
            Ok((file.receipts.len(), lines))
        })
        .await??
    };
    let reader_s = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let report = medical::import_receipts(&*store, "bench", &bytes, service::now()).await?;
    let import_s = started.elapsed().as_secs_f64();
    if !report.accepted || report.receipts != receipts as u64 {
        bail!("the generated file was not imported: {:?}", report.errors);
    }
    drop(bytes);

    // Retrieval: a population, history for some, the person with the most of it.
    let as_of = service::now().jst_date();
    seed::seed_store(
        store.clone(),
        kakunin_seed::SeedConfig {
            people: args.people,
            rng_seed: 1,
            as_of,
        },
    )
    .await?;
    let history = seed::seed_medical(store.clone(), &[], args.history, as_of, 1).await?;
    let from = medical::retention_start(as_of);
    let mut best = None;
    let mut best_lines = 0;
    for q in store.sample_queries(args.history).await? {
        for found in store.find_qualifications(&q).await? {
            let lines: usize = store
                .receipts_for(vec![found.id], from, as_of)
                .await?
                .iter()
                .map(|r| r.drugs.len())
                .sum();
            if lines > best_lines {
                best_lines = lines;
                best = Some(found);
            }
        }
    }
    let person = best.context("no seeded person has drug history")?;
    let q = person.qualification.clone();
    store
        .import_roster(RosterImport {
            actor: "bench".into(),
            received_at: service::now(),
            source_sha256: "00".repeat(32),
            qualifications: vec![q.clone()],
            links: vec![Some(LinkDecision::Linked {
                pseudonym: "bench-person".into(),
            })],
        })
        .await?;
    let institution = InstitutionCode::parse(seed::SEED_INSTITUTION)?;
    let now = service::now();
    store
        .append_access(AccessLogEntry {
            at: now,
            institution: institution.clone(),
            purpose: AccessPurpose::EligibilityByCard,
            qualification_ids: vec![person.id],
            result: AccessResult::Answered(Validity::Valid),
            processing_code: "OK".into(),
            information: None,
        })
        .await?;
    store
        .record_consents(vec![Consent::given(
            "bench-person",
            &institution,
            ConsentCategory::Medications,
            now,
        )])
        .await?;
    let info_request = MedicalInformationRequest {
        insurer_number: q.card.insurer.as_str().into(),
        symbol: q.card.symbol.as_ref().map(|s| s.raw().to_string()),
        number: q.card.number.raw().into(),
        branch: q.card.branch.as_ref().map(|b| b.as_str().to_string()),
        birthdate: q.birthdate.compact(),
        start_date: None,
        end_date: None,
    };
    let check_request = kakunin_api::EligibilityCheckRequest {
        insurer_number: info_request.insurer_number.clone(),
        symbol: info_request.symbol.clone(),
        number: info_request.number.clone(),
        branch: info_request.branch.clone(),
        birthdate: info_request.birthdate.clone(),
        qualification_confirmation_date: None,
        limit_application_certificate_related_cons_flg: None,
    };
    let (mut info_ms, mut check_ms) = (Vec::new(), Vec::new());
    let mut shown = 0;
    for _ in 0..args.requests {
        let t = Instant::now();
        let answer = medical::information(
            &*store,
            &institution,
            ConsentCategory::Medications,
            &info_request,
            service::now(),
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        info_ms.push(t.elapsed().as_secs_f64() * 1e3);
        shown = answer.medications.len();
        let t = Instant::now();
        service::check(&*store, &institution, &check_request, service::now())
            .await
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        check_ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    info_ms.sort_by(f64::total_cmp);
    check_ms.sort_by(f64::total_cmp);
    let months: std::collections::BTreeSet<String> = store
        .receipts_for(vec![person.id], from, as_of)
        .await?
        .iter()
        .map(|r| r.month.compact())
        .collect();
    let figures = serde_json::json!({
        "backend": store.status().await?.backend,
        "ingestion": {
            "receipts": receipts,
            "lines": lines,
            "megabytes": mb,
            "generate_seconds": generate_s,
            "reader_seconds": reader_s,
            "reader_receipts_per_second": receipts as f64 / reader_s,
            "reader_megabytes_per_second": mb / reader_s,
            "import_seconds": import_s,
            "import_receipts_per_second": receipts as f64 / import_s,
            "import_megabytes_per_second": mb / import_s,
        },
        "retrieval": {
            "history_people": history.patients,
            "history_receipts": history.receipts,
            "person_drug_lines": shown,
            "person_months_with_receipts": months.len(),
            "requests": args.requests,
            "medications_p50_ms": percentile_ms(&info_ms, 0.5),
            "medications_p99_ms": percentile_ms(&info_ms, 0.99),
            "check_p50_ms": percentile_ms(&check_ms, 0.5),
            "check_p99_ms": percentile_ms(&check_ms, 0.99),
            "p50_ratio_to_check": percentile_ms(&info_ms, 0.5) / percentile_ms(&check_ms, 0.5),
        },
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&figures)?);
    } else {
        let i = &figures["ingestion"];
        let r = &figures["retrieval"];
        println!(
            "UKE ingestion ({}): {} receipts, {:.1} MB, {} lines",
            figures["backend"], receipts, mb, lines
        );
        println!(
            "  reader:         {:>8.0} receipts/s  {:>6.1} MB/s  ({:.2} s)",
            i["reader_receipts_per_second"].as_f64().unwrap_or(0.0),
            i["reader_megabytes_per_second"].as_f64().unwrap_or(0.0),
            reader_s
        );
        println!(
            "  reader + store: {:>8.0} receipts/s  {:>6.1} MB/s  ({:.2} s, one transaction)",
            i["import_receipts_per_second"].as_f64().unwrap_or(0.0),
            i["import_megabytes_per_second"].as_f64().unwrap_or(0.0),
            import_s
        );
        println!(
            "Drug information for a person with {} drug lines in {} months ({} requests):",
            shown,
            months.len(),
            args.requests
        );
        println!(
            "  medications p50 {:.2} ms  p99 {:.2} ms;  eligibility check p50 {:.2} ms  p99 {:.2} ms;  ratio {:.1}",
            r["medications_p50_ms"].as_f64().unwrap_or(0.0),
            r["medications_p99_ms"].as_f64().unwrap_or(0.0),
            r["check_p50_ms"].as_f64().unwrap_or(0.0),
            r["check_p99_ms"].as_f64().unwrap_or(0.0),
            r["p50_ratio_to_check"].as_f64().unwrap_or(0.0)
        );
    }
    Ok(())
}
