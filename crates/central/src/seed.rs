//! Loads the synthetic population through the same roster import path insurers use (in bulk
//! when the store is empty).

use crate::service::{self, Scope};
use anyhow::{anyhow, bail, Result};
use futures_util::StreamExt;
use kakunin_api::RosterImportReport;
use kakunin_seed::{InsurerRoster, SeedConfig, SeedSummary};
use kakunin_store::Store;
use std::sync::Arc;

/// What the seeder wrote.
#[derive(Debug)]
pub struct SeedOutcome {
    pub summary: SeedSummary,
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
}

/// Generates the population on a blocking thread and imports each insurer's roster as it comes,
/// so generation and import overlap.
pub async fn seed_store(store: Arc<dyn Store>, config: SeedConfig) -> Result<SeedOutcome> {
    seed_store_reporting(store, config, |_| {}).await
}

/// How far a seed is, for [`seed_store_reporting`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeedProgress {
    /// Rows imported so far, after each roster file.
    Imported(u64),
    /// Every row is in; the bulk load is building its indexes.
    BuildingIndexes,
}

/// [`seed_store`], telling `progress` how far it is.
pub async fn seed_store_reporting(
    store: Arc<dyn Store>,
    config: SeedConfig,
    mut progress: impl FnMut(SeedProgress),
) -> Result<SeedOutcome> {
    // Into an empty store the rows are only appended and the random-order indexes built at
    // the end; into one that holds people already, the rosters are imported the usual way.
    let bulk = store.begin_bulk_load().await?;
    // Three stages on their own threads, in order: the generator writes roster files, the
    // checker parses them, and this task hands them to the store's writer.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<InsurerRoster>(4);
    let generator = tokio::task::spawn_blocking(move || {
        kakunin_seed::generate(&config, |roster| {
            tx.blocking_send(roster).map_err(|_| "import stopped")
        })
    });
    let (checked_tx, mut checked_rx) = tokio::sync::mpsc::channel(2);
    let checker = tokio::task::spawn_blocking(move || {
        while let Some(roster) = rx.blocking_recv() {
            let checked = service::check_roster(&Scope::Any, &roster.csv, false);
            if checked_tx
                .blocking_send((roster.insurer_number, checked))
                .is_err()
            {
                break;
            }
        }
    });
    // A bulk load looks nothing up, so its roster files can be written side by side when the
    // store has writers for them; other imports go one after the other.
    let writers = if bulk { store.bulk_writers().max(1) } else { 1 };
    let mut writing = futures_util::stream::FuturesUnordered::new();
    let mut more = true;
    let (mut inserted, mut updated, mut unchanged) = (0, 0, 0);
    while more || !writing.is_empty() {
        tokio::select! {
            next = checked_rx.recv(), if more && writing.len() < writers => match next {
                Some((insurer, checked)) => writing.push(import_seed_roster(&*store, insurer, checked)),
                None => more = false,
            },
            Some(report) = writing.next() => {
                let report = report?;
                inserted += report.inserted;
                updated += report.updated;
                unchanged += report.unchanged;
                progress(SeedProgress::Imported(inserted + updated + unchanged));
            }
        }
    }
    checker
        .await
        .map_err(|e| anyhow!("seed roster checker failed: {e}"))?;
    if bulk {
        progress(SeedProgress::BuildingIndexes);
        store.finish_bulk_load().await?;
    }
    let summary = generator
        .await
        .map_err(|e| anyhow!("seed generator failed: {e}"))?
        .map_err(|e| anyhow!(e))?;
    Ok(SeedOutcome {
        summary,
        inserted,
        updated,
        unchanged,
    })
}

/// Imports one generated roster file, or says why the checker refused it.
async fn import_seed_roster(
    store: &dyn Store,
    insurer: kakunin_domain::InsurerNumber,
    checked: Result<service::CheckedRoster, Box<RosterImportReport>>,
) -> Result<RosterImportReport> {
    match checked {
        Ok(checked) => {
            Ok(service::import_checked(store, None, "seed", checked, service::now()).await?)
        }
        Err(refused) => {
            let first: Vec<String> = refused
                .errors
                .iter()
                .take(5)
                .map(|e| format!("line {} {:?} {}: {}", e.line, e.field, e.code, e.message))
                .collect();
            bail!("seed roster of {insurer} was refused: {}", first.join("; "))
        }
    }
}

/// One card the seeder issued.
#[derive(Debug, Clone)]
pub struct SeededCard {
    pub path: std::path::PathBuf,
    pub serial: String,
    /// 氏名 of the holder (for the demo's printout only).
    pub name: String,
    /// The holder's qualification (for seeding their medical history and the demo).
    pub qualification: kakunin_domain::Qualification,
}

/// Makes `count` seeded people card holders: registers them as residents of the authority (a
/// deterministic 個人番号 each), links their qualifications through the real roster path (the
/// authority's 4-attribute match), issues each a card written to `cards_dir/NNNNNN.vcard` with
/// `pin`, and records their 利用登録. Picks people whose qualification is in effect today.
pub async fn seed_cards(
    store: Arc<dyn Store>,
    authority: kakunin_authority::Authority,
    cards_dir: &std::path::Path,
    count: usize,
    pin: &str,
) -> Result<Vec<SeededCard>> {
    use kakunin_authority::{Embedded, IssueRequest, Resident};
    use kakunin_domain::{IndividualNumber, Sex};
    use kakunin_formats::roster::RosterRow;
    if count == 0 {
        return Ok(vec![]);
    }
    if !kakunin_card::is_valid_auth_pin(pin) {
        bail!("the PIN must be 4 digits");
    }
    std::fs::create_dir_all(cards_dir)?;
    let today = service::now().jst_date();
    let mut rows = Vec::with_capacity(count);
    let mut residents = Vec::with_capacity(count);
    for query in store.sample_queries((count * 3) as u32).await? {
        if rows.len() == count {
            break;
        }
        let found = store.find_qualifications(&query).await?;
        let [one] = found.as_slice() else { continue };
        let q = &one.qualification;
        if !q.is_in_effect(today) || q.sex == Sex::Unset || one.person.is_some() {
            continue;
        }
        let i = rows.len() as u64;
        let number = IndividualNumber::from_body(&format!("{:011}", 40_000_000_000 + i))
            .map_err(|e| anyhow!("seed 個人番号: {e}"))?;
        residents.push(Resident {
            individual_number: number.clone(),
            name: q.name.clone(),
            name_kana: q.name_kana.clone(),
            birthdate: q.birthdate,
            sex: q.sex,
            address: q
                .address
                .clone()
                .unwrap_or_else(|| "東京都千代田区霞が関一丁目2番2号".into()),
        });
        rows.push(RosterRow {
            line: 0,
            qualification: q.clone(),
            individual_number: Some(number),
        });
    }
    if rows.len() < count {
        bail!(
            "only {} people are eligible for seeded cards; seed more people",
            rows.len()
        );
    }
    {
        let authority = authority.clone();
        let residents = residents.clone();
        tokio::task::spawn_blocking(move || authority.register_residents(&residents)).await??;
    }
    let embedded = Embedded::new(authority.clone(), crate::AGENCY);
    let outcome = service::import_rows(
        &*store,
        Some(&embedded),
        "seed",
        "seed-cards".into(),
        rows.clone(),
        service::now(),
    )
    .await?;
    if outcome.linked != count as u64 {
        bail!(
            "the authority confirmed {} of {count} seeded links",
            outcome.linked
        );
    }
    // Key generation dominates: spread it over the cores.
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let jobs: Vec<(usize, Resident)> = residents.into_iter().enumerate().collect();
    let chunks: Vec<Vec<(usize, Resident)>> = jobs
        .chunks(count.div_ceil(workers))
        .map(<[_]>::to_vec)
        .collect();
    let mut handles = Vec::new();
    let quals: Vec<kakunin_domain::Qualification> =
        rows.iter().map(|r| r.qualification.clone()).collect();
    for chunk in chunks {
        let quals = quals.clone();
        let authority = authority.clone();
        let dir = cards_dir.to_path_buf();
        let pin = pin.to_string();
        handles.push(tokio::task::spawn_blocking(move || {
            chunk
                .into_iter()
                .map(|(i, r)| {
                    let path = dir.join(format!("{:06}.vcard", i + 1));
                    let issued = authority.issue_card_file(
                        &IssueRequest::new(r.individual_number.clone(), &pin),
                        &path,
                    )?;
                    let name = r.name.clone();
                    Ok::<_, anyhow::Error>((
                        r,
                        SeededCard {
                            path,
                            serial: issued.serial,
                            name,
                            qualification: quals[i].clone(),
                        },
                    ))
                })
                .collect::<Result<Vec<_>>>()
        }));
    }
    let mut cards = Vec::with_capacity(count);
    for h in handles {
        for (resident, card) in h.await?? {
            let pseudonym = authority.pseudonym(crate::AGENCY, &resident.individual_number);
            store
                .register_card(kakunin_store::CardRegistration {
                    pseudonym,
                    registered_at: service::now(),
                    certificate_serial: card.serial.clone(),
                    institution: kakunin_domain::InstitutionCode::parse(SEED_INSTITUTION)
                        .map_err(|e| anyhow!("{e}"))?,
                })
                .await?;
            cards.push(card);
        }
    }
    cards.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(cards)
}

/// The institution code recorded for seeded registrations (a Luhn-valid placeholder).
pub const SEED_INSTITUTION: &str = "0110113719";

/// What the medical seeder loaded.
#[derive(Debug, Clone, Default)]
pub struct MedicalSeedOutcome {
    pub patients: u64,
    pub files: u64,
    pub receipts: u64,
    pub matched: u64,
    pub checkups: u64,
}

/// The generator's view of a qualification.
pub fn patient_of(q: &kakunin_domain::Qualification) -> kakunin_seed::Patient {
    kakunin_seed::Patient {
        insurer_number: q.card.insurer.as_str().to_string(),
        symbol: q.card.symbol.as_ref().map(|s| s.raw().to_string()),
        number: q.card.number.raw().to_string(),
        branch: q.card.branch.as_ref().map(|b| b.as_str().to_string()),
        name: q.name.clone(),
        name_kana: Some(q.name_kana.clone()),
        sex: q.sex,
        birthdate: q.birthdate,
        copay_percent: q.copay_ratio.map_or(30, |r| r.percent()),
    }
}

/// Gives medical history to `people` (every one of them) plus `sample` more people of the
/// store: synthetic masters, then 5 years of UKE receipt files and a 特定健診 package, all
/// through the same readers and imports as real files.
pub async fn seed_medical(
    store: Arc<dyn Store>,
    people: &[kakunin_domain::Qualification],
    sample: u32,
    as_of: kakunin_domain::Date,
    rng_seed: u64,
) -> Result<MedicalSeedOutcome> {
    use crate::medical;
    use kakunin_store::MasterKind;
    let mut patients: Vec<kakunin_seed::Patient> = people.iter().map(patient_of).collect();
    if sample > 0 {
        for query in store.sample_queries(sample).await? {
            for found in store.find_qualifications(&query).await? {
                patients.push(patient_of(&found.qualification));
            }
        }
    }
    patients.sort_by(|a, b| {
        (&a.insurer_number, &a.number, &a.branch, a.birthdate).cmp(&(
            &b.insurer_number,
            &b.number,
            &b.branch,
            b.birthdate,
        ))
    });
    patients.dedup();
    let config = kakunin_seed::MedicalConfig {
        rng_seed,
        as_of,
        months: 60,
        share_percent: 100,
    };
    let at = service::now();
    let (drugs, procedures) = kakunin_seed::masters();
    for (kind, bytes) in [
        (MasterKind::Drug, drugs),
        (MasterKind::Procedure, procedures),
    ] {
        let r = medical::import_masters(&*store, "seed", kind, &bytes, at).await?;
        if !r.accepted {
            bail!("seed {} master was refused: {:?}", kind.code(), r.errors);
        }
    }
    let generated = {
        let (config, patients) = (config.clone(), patients.clone());
        tokio::task::spawn_blocking(move || {
            (
                kakunin_seed::receipts(&config, &patients),
                kakunin_seed::checkups(&config, &patients),
            )
        })
        .await?
    };
    let (files, package) = generated;
    let mut out = MedicalSeedOutcome {
        patients: patients.len() as u64,
        ..Default::default()
    };
    for f in &files {
        let r = medical::import_receipts(&*store, "seed", &f.bytes, at).await?;
        if !r.accepted {
            bail!(
                "seed receipt file {} was refused: {:?}",
                f.file_name,
                r.errors
            );
        }
        out.files += 1;
        out.receipts += r.receipts;
        out.matched += r.matched;
    }
    let r = medical::import_checkups(&*store, &service::Scope::Any, "seed", &package, at).await?;
    if !r.accepted {
        bail!("seed checkups were refused: {:?}", r.errors);
    }
    out.checkups = r.documents;
    Ok(out)
}
