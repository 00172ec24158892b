//! kakunin-seed: a deterministic synthetic population of insured people, written as insurer
//! roster CSV files (docs/roster-format.md) for the normal roster import.
//!
//! The population follows national proportions: 協会けんぽ about a third, 健保組合 a fifth,
//! 共済, 船員保険, 市町村国保, 国保組合, and everyone aged 75 and over in 後期高齢者医療. Ages
//! follow the 2020s pyramid; households share a card (記号・番号) with one 枝番 each. A few
//! percent have changed jobs (a lost qualification followed by a current one elsewhere) or
//! have only a lost qualification (moved away, died). Co-pay ratios, 高齢受給者証,
//! 限度額適用認定証 and 特定疾病療養受療証 appear at realistic rates.
//!
//! Every name is assembled from common family and given names; no real person is described.
//! The same [`SeedConfig`] always gives byte-identical files, on any platform.
//!
//! A second generator adds medical history for those people: UKE receipt files (医科 and
//! 調剤), 特定健診 CDA packages and the synthetic drug and procedure masters they use, also
//! deterministic (see [`receipts`], [`checkups`], [`masters`], [`bench_receipts`]).

mod csv;
mod data;
mod gen;
mod insurers;
mod medical;
mod rng;

pub use csv::COLUMNS;
pub use medical::{
    bench_receipts, checkups, master_codes, masters, receipts, MedicalConfig, Patient, UkeOutput,
    UNKNOWN_DRUG_CODE, UNKNOWN_PROCEDURE_CODE,
};

use kakunin_domain::{Date, InsurerKind, InsurerNumber, Validity};
use std::fmt;

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedConfig {
    /// Number of people (each has one current or lost qualification; job changers one more).
    pub people: u64,
    /// Seed of the pseudo-random generator.
    pub rng_seed: u64,
    /// The day the population is described on ("today"): ages, validity and certificate
    /// periods are relative to it. Use a date from 2010 on.
    pub as_of: Date,
}

/// One insurer's roster: a complete CSV file, header line first, UTF-8, LF line ends.
#[derive(Clone)]
pub struct InsurerRoster {
    pub insurer_number: InsurerNumber,
    pub insurer_name: String,
    pub kind: InsurerKind,
    /// Data rows (the header not counted).
    pub rows: u64,
    pub csv: Vec<u8>,
}

impl fmt::Debug for InsurerRoster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InsurerRoster")
            .field("insurer_number", &self.insurer_number)
            .field("insurer_name", &self.insurer_name)
            .field("kind", &self.kind)
            .field("rows", &self.rows)
            .field("csv_bytes", &self.csv.len())
            .finish()
    }
}

/// A generated person worth trying by hand (a `kakunin check` command, a demo).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SamplePerson {
    pub insurer_number: String,
    pub symbol: Option<String>,
    pub number: String,
    pub branch: Option<String>,
    /// `YYYYMMDD`.
    pub birthdate: String,
    /// Family and given name separated by a full-width space.
    pub name: String,
    /// 資格有効性 of this card on [`SeedConfig::as_of`]: `Valid` or `Invalid`.
    pub validity_on_as_of: Validity,
}

/// What was generated.
#[derive(Debug, Clone)]
pub struct SeedSummary {
    pub people: u64,
    /// Data rows in all rosters.
    pub rows: u64,
    /// Insurers with at least one row.
    pub insurers: u64,
    /// Roster files passed to the sink (more than `insurers` when large ones were split).
    pub rosters: u64,
    /// About twenty people across kinds; the first is always currently valid and has a 記号
    /// and 枝番 (when `people` is not zero). Others include a 6-digit 国保 card, a 後期高齢
    /// card without 記号, dependents, and lost qualifications (validity `Invalid`).
    pub samples: Vec<SamplePerson>,
}

/// Generates the population and calls `sink` with each insurer's roster: for a population
/// of a few hundred thousand, once per insurer that has at least one row, in a fixed order
/// (協会けんぽ by prefecture, 船員, 健保組合, 共済, 国保組合, 市町村国保, 後期高齢). A large
/// insurer's people come in several files of at most 100,000 rows, handed over as they fill,
/// and no more than 256 MB of CSV is held at once, so a national population (126 M) streams
/// through in bounded memory. Every file is a complete roster with its header; importing them
/// all gives the same store as one file per insurer. Stops at the first error of `sink` and
/// returns it.
pub fn generate<E>(
    config: &SeedConfig,
    sink: impl FnMut(InsurerRoster) -> Result<(), E>,
) -> Result<SeedSummary, E> {
    generate_in_files(config, 100_000, 256 << 20, sink)
}

/// [`generate`] with the file limits given: at most `rows_per_file` rows per roster, and the
/// largest roster handed over whenever all of them hold more than `max_buffered_bytes`.
pub fn generate_in_files<E>(
    config: &SeedConfig,
    rows_per_file: u64,
    max_buffered_bytes: usize,
    mut sink: impl FnMut(InsurerRoster) -> Result<(), E>,
) -> Result<SeedSummary, E> {
    let mut rows = 0;
    let mut rosters = 0;
    let out = gen::Generator::new(
        config,
        gen::Limits {
            rows: rows_per_file.max(1),
            bytes: max_buffered_bytes,
        },
    )
    .run(|chunk| {
        rows += chunk.rows;
        rosters += 1;
        sink(InsurerRoster {
            insurer_number: chunk.insurer.number.clone(),
            insurer_name: chunk.insurer.name.clone(),
            kind: chunk.insurer.kind,
            rows: chunk.rows,
            csv: chunk.csv,
        })
    })?;
    Ok(SeedSummary {
        people: config.people,
        rows,
        insurers: out.insurers,
        rosters,
        samples: out.samples,
    })
}
