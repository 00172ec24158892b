//! Accuracy on labelled pictures: a folder per person, pictures inside. Every pair of pictures
//! of one person is a genuine pair, every pair of two people an impostor pair; the report gives
//! the false-accept and false-reject rates at each threshold and the time per face. Only
//! distances are kept (no description outlives its comparison row).

use crate::{FaceMatcher, Picture};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// One labelled picture.
#[derive(Debug, Clone)]
pub struct Labelled {
    pub person: String,
    pub path: PathBuf,
}

/// The pictures under `dir`: `dir/<person>/<picture>` (JPEG, PNG or PGM).
pub fn labelled_pictures(dir: &Path) -> std::io::Result<Vec<Labelled>> {
    let mut out = Vec::new();
    let mut people: Vec<_> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .collect();
    people.sort_by_key(|e| e.file_name());
    for person in people {
        let name = person.file_name().to_string_lossy().into_owned();
        let mut files: Vec<PathBuf> = std::fs::read_dir(person.path())?
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| {
                p.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                    matches!(
                        e.to_ascii_lowercase().as_str(),
                        "jpg" | "jpeg" | "png" | "pgm"
                    )
                })
            })
            .collect();
        files.sort();
        out.extend(files.into_iter().map(|path| Labelled {
            person: name.clone(),
            path,
        }));
    }
    Ok(out)
}

/// The rates at one threshold.
#[derive(Debug, Clone, Serialize)]
pub struct Rates {
    pub threshold: f32,
    /// Impostor pairs closer than the threshold, of all impostor pairs.
    pub false_accept: f64,
    /// Genuine pairs at or beyond the threshold, of all genuine pairs.
    pub false_reject: f64,
}

/// What [`measure`] found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub people: usize,
    pub pictures: usize,
    /// Pictures where no face was found (left out of the pairs).
    pub no_face: usize,
    pub genuine_pairs: usize,
    pub impostor_pairs: usize,
    /// Rates from 0.30 to 0.70 in steps of 0.01.
    pub rates: Vec<Rates>,
    /// The largest threshold with no false accept at all.
    pub zero_false_accept_below: f32,
    /// Time to describe one picture (detection, landmarks, alignment, descriptor).
    pub per_face_mean_ms: f64,
    /// Time of a whole comparison ([`FaceMatcher::compare`]: both pictures, described on two
    /// threads), over consecutive pictures of the set (at most 40).
    pub comparison_mean_ms: f64,
    pub per_face_p50_ms: f64,
    pub per_face_p95_ms: f64,
    /// Genuine distances: smallest, median, largest; impostor distances: smallest, median.
    pub genuine_min: f32,
    pub genuine_median: f32,
    pub genuine_max: f32,
    pub impostor_min: f32,
    pub impostor_median: f32,
}

impl Report {
    /// The rates at `threshold` (the nearest measured step).
    pub fn at(&self, threshold: f32) -> Option<&Rates> {
        self.rates.iter().min_by(|a, b| {
            (a.threshold - threshold)
                .abs()
                .total_cmp(&(b.threshold - threshold).abs())
        })
    }
}

fn percentile(sorted: &[f32], p: f64) -> f32 {
    if sorted.is_empty() {
        return f32::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Describes every picture, compares every pair and reports the rates.
pub fn measure(matcher: &FaceMatcher, pictures: &[Labelled]) -> Report {
    measure_as_cards(matcher, pictures, None)
}

/// What turns a picture into what a card's chip would hold (smaller, JPEG 2000): `None` when
/// it cannot.
pub type CardPhoto<'a> = &'a dyn Fn(&Picture) -> Option<Picture>;

/// [`measure`], with one side of every pair as a card photo: picture `i` through `card`
/// against picture `j` as the camera saw it (`i < j`), as the terminal compares them.
pub fn measure_as_cards(
    matcher: &FaceMatcher,
    pictures: &[Labelled],
    card: Option<CardPhoto<'_>>,
) -> Report {
    let mut described = Vec::new();
    let mut times = Vec::new();
    let mut no_face = 0;
    for p in pictures {
        let picture = std::fs::read(&p.path)
            .ok()
            .and_then(|bytes| Picture::decode(&bytes).ok());
        let Some(picture) = picture else {
            no_face += 1;
            continue;
        };
        let start = Instant::now();
        let description = matcher.describe(&picture);
        times.push(start.elapsed());
        // With card photos, a picture whose card version shows no face is left out too.
        let as_card = card.map(|card| card(&picture).and_then(|c| matcher.describe(&c)));
        match (description, as_card) {
            (Some(d), None) => described.push((p.person.as_str(), d, None)),
            (Some(d), Some(Some(c))) => described.push((p.person.as_str(), d, Some(c))),
            _ => no_face += 1,
        }
    }
    let mut genuine = Vec::new();
    let mut impostor = Vec::new();
    for i in 0..described.len() {
        for j in i + 1..described.len() {
            let first = described[i].2.as_ref().unwrap_or(&described[i].1);
            let d = first.distance(&described[j].1);
            if described[i].0 == described[j].0 {
                genuine.push(d);
            } else {
                impostor.push(d);
            }
        }
    }
    genuine.sort_by(f32::total_cmp);
    impostor.sort_by(f32::total_cmp);
    let rates = (30..=70)
        .map(|t| {
            let threshold = t as f32 / 100.0;
            let accepted = impostor.partition_point(|&d| d < threshold);
            let rejected = genuine.len() - genuine.partition_point(|&d| d < threshold);
            Rates {
                threshold,
                false_accept: accepted as f64 / impostor.len().max(1) as f64,
                false_reject: rejected as f64 / genuine.len().max(1) as f64,
            }
        })
        .collect();
    let mut ms: Vec<f64> = times
        .iter()
        .map(|t: &Duration| t.as_secs_f64() * 1000.0)
        .collect();
    ms.sort_by(f64::total_cmp);
    let pick = |p: f64| {
        ms.get(((ms.len().max(1) - 1) as f64 * p).round() as usize)
            .copied()
            .unwrap_or(0.0)
    };
    let mut compared = Vec::new();
    let loaded: Vec<Picture> = pictures
        .iter()
        .take(41)
        .filter_map(|p| Picture::decode(&std::fs::read(&p.path).ok()?).ok())
        .collect();
    for pair in loaded.windows(2) {
        let start = Instant::now();
        let _ = matcher.compare(&pair[0], &pair[1]);
        compared.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    drop(loaded);
    let mut people: Vec<&str> = pictures.iter().map(|p| p.person.as_str()).collect();
    people.dedup();
    Report {
        people: people.len(),
        pictures: pictures.len(),
        no_face,
        genuine_pairs: genuine.len(),
        impostor_pairs: impostor.len(),
        rates,
        zero_false_accept_below: impostor.first().copied().unwrap_or(f32::NAN),
        per_face_mean_ms: ms.iter().sum::<f64>() / ms.len().max(1) as f64,
        comparison_mean_ms: compared.iter().sum::<f64>() / compared.len().max(1) as f64,
        per_face_p50_ms: pick(0.5),
        per_face_p95_ms: pick(0.95),
        genuine_min: genuine.first().copied().unwrap_or(f32::NAN),
        genuine_median: percentile(&genuine, 0.5),
        genuine_max: genuine.last().copied().unwrap_or(f32::NAN),
        impostor_min: impostor.first().copied().unwrap_or(f32::NAN),
        impostor_median: percentile(&impostor, 0.5),
    }
}
