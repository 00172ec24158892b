//! 顔認証 on the terminal: the card's photo from the chip's 券面AP, a camera frame, and the
//! comparison, all in this process.
//!
//! Invariants: the photo, the frame and everything derived from them live in wiped-on-drop
//! buffers ([`kakunin_face::Sensitive`], [`kakunin_card::photo::GreyImage`]) and are dropped
//! before the comparison returns; nothing is written, logged or sent; the only result is
//! the [`Comparison`] (a distance and a decision).

use crate::camera::{Camera, CameraError};
use kakunin_card::Card;
use kakunin_face::{Comparison, FaceError, FaceMatcher, Picture};
use std::path::Path;

/// The terminal's face verification: the networks (loaded once) and the camera.
pub struct FaceSetup {
    pub matcher: FaceMatcher,
    pub camera: Camera,
}

impl std::fmt::Debug for FaceSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaceSetup")
            .field("matcher", &self.matcher)
            .field("camera", &self.camera)
            .finish()
    }
}

/// Why no comparison could be made (for the log: never any face data).
#[derive(Debug, thiserror::Error)]
pub enum FaceFailure {
    #[error("no card session")]
    NoCard,
    #[error("the card surface gives no 照合番号B (no surface scanner for this reader)")]
    NoSurface,
    #[error("card photo: {0}")]
    CardPhoto(String),
    #[error(transparent)]
    Camera(#[from] CameraError),
    #[error(transparent)]
    Face(#[from] FaceError),
}

impl FaceSetup {
    /// Captures a frame (`card_name`: the virtual card on the reader, for the test camera) and
    /// compares it with the card's photo.
    pub fn compare(
        &self,
        card_photo: &Picture,
        card_name: Option<&str>,
    ) -> Result<Comparison, FaceFailure> {
        let frame = self.camera.capture(card_name)?;
        Ok(self.matcher.compare(card_photo, &frame)?)
    }
}

/// The face photo of the card's 券面AP (JPEG 2000, greyscale), decoded.
pub fn read_card_photo(card: &mut dyn Card, collation_b: &str) -> Result<Picture, FaceFailure> {
    let failed = |e: &dyn std::fmt::Display| FaceFailure::CardPhoto(e.to_string());
    let jp2 = {
        let mut surface = kakunin_card::surface::Surface::open(card).map_err(|e| failed(&e))?;
        surface.verify_b(collation_b).map_err(|e| failed(&e))?;
        surface.read_face_photo().map_err(|e| failed(&e))?
    };
    let grey = kakunin_card::photo::decode_jp2(&jp2).map_err(|e| failed(&e))?;
    let picture = Picture::new(
        grey.width() as usize,
        grey.height() as usize,
        grey.pixels().to_vec(),
    )?;
    Ok(picture)
}

/// The card-surface scan of a virtual card: its printed 照合番号B parts, as a real reader's
/// scanner reads them off the card's front.
pub fn scan_virtual_surface(file: &Path) -> Option<String> {
    kakunin_card::VirtualCard::open(file)
        .ok()?
        .printed_collation_b()
}
