//! The demo's faces: each virtual card gets a card face (券面AP photo, 照合番号B) cut from the
//! face model package's demo photos, and the test camera a different view of the same person
//! (wider, turned, lit differently), so 顔認証 can be tried at the kiosk. The last card's
//! camera shows someone else, to show a failed comparison.

use anyhow::{Context, Result};
use kakunin_card::photo::{encode_jp2, GreyImage};
use kakunin_card::surface::CardDate;
use kakunin_card::{SurfaceSpec, VirtualCard};
use kakunin_face::{Affine, FaceMatcher, Picture};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What the demo remembers of each card it issued (for giving it a face later).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DemoCard {
    /// The card file's name in the cards directory.
    pub file: String,
    /// The holder's date of birth, `YYYYMMDD` (printed on the card face).
    pub birthdate: String,
}

/// The card photo's size: 3:4 like the printed 35 × 45 mm photo.
const PHOTO_WIDTH: usize = 180;
const PHOTO_HEIGHT: usize = 240;
/// The test camera's frame size.
const FRAME: usize = 480;

/// Gives every card in `cards` that has no card face one, and writes the test camera's view
/// of its holder to `camera/<card>.png`. Returns how many cards got a face.
pub fn prepare(
    model: &Path,
    cards_dir: &Path,
    cards: &[DemoCard],
    camera: &Path,
    today: kakunin_domain::Date,
) -> Result<usize> {
    let matcher = FaceMatcher::load(model).context("loading the face model")?;
    let faces = sample_faces(&matcher, &model.join("samples"))?;
    anyhow::ensure!(
        !faces.is_empty(),
        "no face found in the model's sample photos"
    );
    std::fs::create_dir_all(camera).with_context(|| format!("creating {}", camera.display()))?;
    let mut given = 0;
    for (i, card) in cards.iter().enumerate() {
        let path = cards_dir.join(&card.file);
        let mut virtual_card = VirtualCard::open(&path)?;
        if virtual_card.has_surface() {
            continue;
        }
        let (picture, face) = &faces[i % faces.len()];
        let birth_date = CardDate::parse_yyyymmdd(&card.birthdate)
            .with_context(|| format!("the birth date of {}", card.file))?;
        let expiry = CardDate::new((today.year() + 10) as u16, today.month() as u8, 1)
            .context("the card's expiry")?;
        virtual_card.add_surface(SurfaceSpec {
            face_photo_jp2: card_photo(picture, face)?,
            birth_date,
            expiry,
            security_code: format!("{:04}", (1234 + 4321 * i) % 10_000),
        })?;
        // The last card's camera shows the first card's holder: a comparison that fails.
        let (shown_picture, shown_face) = if i + 1 == cards.len() && cards.len() > 1 {
            &faces[0]
        } else {
            &faces[i % faces.len()]
        };
        let stem = Path::new(&card.file).with_extension("png");
        std::fs::write(camera.join(stem), camera_view(shown_picture, shown_face)?)?;
        given += 1;
    }
    Ok(given)
}

/// A face found in a sample photo: its centre and size.
#[derive(Debug, Clone, Copy)]
struct Face {
    cx: f32,
    cy: f32,
    side: f32,
}

/// Every clear face of the sample photos, best first.
fn sample_faces(matcher: &FaceMatcher, dir: &Path) -> Result<Vec<(std::rc::Rc<Picture>, Face)>> {
    let mut faces = Vec::new();
    for i in 1..=kakunin_face::model::SAMPLES {
        let path: PathBuf = dir.join(format!("sample{i}.jpg"));
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let picture = std::rc::Rc::new(Picture::decode(&bytes)?);
        for d in matcher.detect(&picture) {
            if d.score >= 0.6 {
                let face = Face {
                    cx: d.x + d.width / 2.0,
                    cy: d.y + d.height / 2.0,
                    side: d.width.max(d.height),
                };
                faces.push((d.score, picture.clone(), face));
            }
        }
    }
    faces.sort_by(|a, b| b.0.total_cmp(&a.0));
    Ok(faces.into_iter().map(|(_, p, f)| (p, f)).collect())
}

fn to_bytes(values: &[f32]) -> Vec<u8> {
    values
        .iter()
        .map(|v| v.round().clamp(0.0, 255.0) as u8)
        .collect()
}

/// The card's photo: head and shoulders, upright, grey, JPEG 2000.
fn card_photo(picture: &Picture, face: &Face) -> Result<Vec<u8>> {
    let side = face.side * 2.0;
    let square = picture.sample(
        &Affine::square(
            face.cx - side / 2.0,
            face.cy + face.side * 0.1 - side / 2.0,
            side,
            PHOTO_HEIGHT,
        ),
        PHOTO_HEIGHT,
    );
    let margin = (PHOTO_HEIGHT - PHOTO_WIDTH) / 2;
    let mut pixels = Vec::with_capacity(PHOTO_WIDTH * PHOTO_HEIGHT);
    for row in square.chunks(PHOTO_HEIGHT) {
        pixels.extend(to_bytes(&row[margin..margin + PHOTO_WIDTH]));
    }
    let image = GreyImage::new(PHOTO_WIDTH as u32, PHOTO_HEIGHT as u32, pixels)?;
    Ok(encode_jp2(&image)?)
}

/// The test camera's frame: the same person seen wider, turned a little and lit differently.
fn camera_view(picture: &Picture, face: &Face) -> Result<Vec<u8>> {
    let frame = picture.sample(
        &Affine::turned_square(
            (face.cx + face.side * 0.15, face.cy - face.side * 0.05),
            face.side * 3.0,
            0.1,
            FRAME,
        ),
        FRAME,
    );
    let lit: Vec<f32> = frame.iter().map(|v| v * 0.85 + 20.0).collect();
    let mut png = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut png, FRAME as u32, FRAME as u32);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header()?;
        writer.write_image_data(&to_bytes(&lit))?;
    }
    Ok(png)
}
