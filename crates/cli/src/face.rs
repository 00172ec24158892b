//! `kakunin face setup`: the one setup step of face verification. The networks' weights come
//! from the npm registry's `@vladmandic/face-api` package (MIT), checked against the registry's
//! published SHA-512 and unpacked by our own code; nothing is downloaded at run time.

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct FaceArgs {
    #[command(subcommand)]
    pub command: FaceCommand,
}

#[derive(Subcommand)]
pub enum FaceCommand {
    /// Install the face model (once, before `demo` or `terminal --camera`): downloads the
    /// npm package over HTTPS (or takes a tarball `npm pack` made), checks its SHA-512 and
    /// writes the three networks and their licence.
    Setup {
        /// Where to install (the terminal's `--face-model`).
        #[arg(long, env = "KAKUNIN_FACE_MODEL", default_value = DEFAULT_MODEL_DIR)]
        dir: PathBuf,
        /// A tarball already downloaded (`npm pack @vladmandic/face-api@1.7.15`) instead of the
        /// registry.
        #[arg(long)]
        from: Option<PathBuf>,
    },
}

/// Where the model goes by default: beside the build, where the demo and the tests look.
pub const DEFAULT_MODEL_DIR: &str = "target/face-model";

/// Whether `dir` holds an installed model (the files `setup` writes).
pub fn installed(dir: &Path) -> bool {
    kakunin_face::model::wanted_files()
        .iter()
        .all(|f| dir.join(f).is_file())
}

pub async fn run(args: FaceArgs) -> Result<()> {
    match args.command {
        FaceCommand::Setup { dir, from } => setup(&dir, from.as_deref()).await,
    }
}

async fn setup(dir: &Path, from: Option<&Path>) -> Result<()> {
    let tarball = match from {
        Some(file) => std::fs::read(file).with_context(|| format!("reading {}", file.display()))?,
        None => download(kakunin_face::model::TARBALL_URL).await?,
    };
    let files = kakunin_face::model::install(&tarball, dir).with_context(|| {
        format!(
            "installing {} into {}",
            kakunin_face::model::PACKAGE,
            dir.display()
        )
    })?;
    println!(
        "face model installed in {} ({} files from {}, licence in LICENSE)",
        dir.display(),
        files.len(),
        kakunin_face::model::PACKAGE
    );
    Ok(())
}

/// The system's trust anchors (a proxy's CA, if the machine trusts one, included).
fn system_roots() -> Result<Vec<reqwest::Certificate>> {
    let candidates = std::env::var_os("SSL_CERT_FILE")
        .map(PathBuf::from)
        .into_iter()
        .chain(
            [
                "/etc/ssl/certs/ca-certificates.crt",
                "/etc/pki/tls/certs/ca-bundle.crt",
                "/etc/ssl/cert.pem",
            ]
            .map(PathBuf::from),
        );
    for file in candidates {
        if let Ok(pem) = std::fs::read(&file) {
            let roots = reqwest::Certificate::from_pem_bundle(&pem)
                .with_context(|| format!("reading the CA bundle {}", file.display()))?;
            if !roots.is_empty() {
                return Ok(roots);
            }
        }
    }
    bail!("no CA bundle found (set SSL_CERT_FILE), or download with `npm pack` and use --from")
}

async fn download(url: &str) -> Result<Vec<u8>> {
    let mut builder = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(300))
        .tls_built_in_root_certs(false);
    for root in system_roots()? {
        builder = builder.add_root_certificate(root);
    }
    let client = builder.build().context("HTTPS client")?;
    eprintln!("downloading {url}");
    let response =
        client.get(url).send().await.with_context(|| {
            format!("downloading {url} (or use --from with an `npm pack` tarball)")
        })?;
    if !response.status().is_success() {
        bail!("{url} answered {}", response.status());
    }
    Ok(response
        .bytes()
        .await
        .context("reading the download")?
        .to_vec())
}

/// `kakunin bench face`: accuracy on labelled pictures and the time per face.
#[derive(Args)]
pub struct FaceBenchArgs {
    /// Labelled pictures: one folder per person, two or more pictures in each.
    #[arg(long)]
    pub pictures: PathBuf,
    /// The face model (`kakunin face setup`).
    #[arg(long, env = "KAKUNIN_FACE_MODEL", default_value = DEFAULT_MODEL_DIR)]
    pub model: PathBuf,
    /// Also report each group of people whose folder names share a prefix up to the first
    /// `_` (one source of pictures), so that easy pairs across sources do not hide hard ones.
    #[arg(long)]
    pub by_source: bool,
    /// Compare each pair as the terminal does: the first picture as a card's chip holds it
    /// (scaled to at most 240 pixels high, greyscale JPEG 2000 within the card's 16 KiB), the
    /// second as the camera saw it.
    #[arg(long)]
    pub card_photos: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// A picture as a card's chip would hold it: at most 240 high, JPEG 2000, decoded again.
fn as_card_photo(picture: &kakunin_face::Picture) -> Option<kakunin_face::Picture> {
    let (w, h) = (picture.width(), picture.height());
    let scale = (240.0 / h as f32).min(1.0);
    let (cw, ch) = (
        ((w as f32 * scale).round() as usize).max(1),
        ((h as f32 * scale).round() as usize).max(1),
    );
    // Square samples of the picture (the matcher's sampler), cut to the card's aspect.
    let side = cw.max(ch);
    let grid = picture.sample(
        &kakunin_face::Affine::square(
            (w as f32 - side as f32 / scale) / 2.0,
            (h as f32 - side as f32 / scale) / 2.0,
            side as f32 / scale,
            side,
        ),
        side,
    );
    let (x0, y0) = ((side - cw) / 2, (side - ch) / 2);
    let mut pixels = Vec::with_capacity(cw * ch);
    for row in grid.chunks(side).skip(y0).take(ch) {
        pixels.extend(
            row[x0..x0 + cw]
                .iter()
                .map(|v| v.round().clamp(0.0, 255.0) as u8),
        );
    }
    let image = kakunin_card::photo::GreyImage::new(cw as u32, ch as u32, pixels).ok()?;
    let jp2 = kakunin_card::photo::encode_jp2(&image).ok()?;
    let back = kakunin_card::photo::decode_jp2(&jp2).ok()?;
    kakunin_face::Picture::new(
        back.width() as usize,
        back.height() as usize,
        back.pixels().to_vec(),
    )
    .ok()
}

pub fn bench(args: FaceBenchArgs) -> Result<()> {
    let matcher = kakunin_face::FaceMatcher::load(&args.model).with_context(|| {
        format!(
            "loading the face model from {} (run `kakunin face setup`)",
            args.model.display()
        )
    })?;
    let all = kakunin_face::evaluate::labelled_pictures(&args.pictures)
        .with_context(|| format!("reading {}", args.pictures.display()))?;
    let mut groups = vec![("all".to_string(), all.clone())];
    if args.by_source {
        let mut sources: Vec<String> = all
            .iter()
            .map(|p| p.person.split('_').next().unwrap_or_default().to_string())
            .collect();
        sources.dedup();
        for source in sources {
            let set = all
                .iter()
                .filter(|p| p.person.split('_').next() == Some(source.as_str()))
                .cloned()
                .collect();
            groups.push((source, set));
        }
    }
    let mut json = serde_json::Map::new();
    for (name, set) in groups {
        let card: Option<kakunin_face::evaluate::CardPhoto<'_>> =
            args.card_photos.then_some(&as_card_photo);
        let report = kakunin_face::evaluate::measure_as_cards(&matcher, &set, card);
        if args.json {
            json.insert(name, serde_json::to_value(&report)?);
            continue;
        }
        println!(
            "== {name}: {} people, {} pictures ({} without a face found), {} genuine and {} impostor pairs",
            report.people, report.pictures, report.no_face, report.genuine_pairs, report.impostor_pairs
        );
        println!(
            "   per face: mean {:.1} ms, p50 {:.1} ms, p95 {:.1} ms (detection, landmarks, alignment, descriptor; one thread)",
            report.per_face_mean_ms, report.per_face_p50_ms, report.per_face_p95_ms
        );
        println!(
            "   a comparison (card photo and frame, described on two threads): mean {:.1} ms",
            report.comparison_mean_ms
        );
        println!(
            "   distances: genuine min {:.3} / median {:.3} / max {:.3}; impostor min {:.3} / median {:.3}",
            report.genuine_min, report.genuine_median, report.genuine_max, report.impostor_min, report.impostor_median
        );
        println!("   threshold  false accept  false reject");
        for r in report.rates.iter().filter(|r| {
            (r.threshold * 100.0).round() as i32 % 2 == 0
                || (r.threshold - matcher.threshold()).abs() < 0.005
        }) {
            let mark = if (r.threshold - matcher.threshold()).abs() < 0.005 {
                "  ← default"
            } else {
                ""
            };
            println!(
                "   {:.2}       {:>9.4} %   {:>9.2} %{mark}",
                r.threshold,
                r.false_accept * 100.0,
                r.false_reject * 100.0
            );
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&json)?);
    }
    Ok(())
}
