//! The comparison: find the face, find its 68 points, cut it upright (eyes level) to the
//! descriptor's 150 × 150, describe it, and compare the two descriptions.

use crate::nets::{Descriptor, Detection, Detector, Landmarks};
use crate::picture::{Affine, Picture, Sensitive};
use crate::FaceError;
use std::path::Path;
use std::time::{Duration, Instant};

/// The largest distance at which two faces are taken for one person: the largest threshold
/// whose false-accept rate stayed at or below 0.01 % on the labelled set measured by
/// `kakunin bench face` (46 people, 456 pictures; 0.008 % false accepts, 11 % false rejects
/// per try; `docs/benchmarks.md`, "Face verification"). A false accept lets someone use
/// another's card; a false reject costs a second try or the PIN, so the threshold favours
/// the former.
pub const DEFAULT_THRESHOLD: f32 = 0.48;

/// The detector's input side (a multiple of 32): faces down to about 1/13 of the picture.
const DETECTOR_INPUT: usize = 416;
/// The squares the detector is tried on, as multiples of the picture's longer side: the picture
/// itself, then with margins, since a face that fills the picture (a card photo, a close
/// camera) is found only with room around it.
const WIDEN: [f32; 3] = [1.0, 1.6, 2.4];

/// The detector's confidence below which a box is not a face.
const MIN_SCORE: f32 = 0.5;

/// A face's description: 128 values, comparable by Euclidean distance.
#[derive(Debug)]
pub struct FaceDescription {
    values: Sensitive<f32>,
}

impl FaceDescription {
    /// Euclidean distance to another description.
    pub fn distance(&self, other: &FaceDescription) -> f32 {
        self.values
            .iter()
            .zip(other.values.iter())
            .map(|(a, b)| (a - b) * (a - b))
            .sum::<f32>()
            .sqrt()
    }

    pub fn values(&self) -> &[f32] {
        &self.values
    }
}

/// The result of comparing a card photo with a camera frame. Holds no face data.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Comparison {
    pub distance: f32,
    pub same_person: bool,
    /// Time spent, both pictures included.
    pub elapsed: Duration,
}

/// Which picture had no face.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    CardPhoto,
    Camera,
}

/// The three networks and the threshold.
pub struct FaceMatcher {
    detector: Detector,
    landmarks: Landmarks,
    descriptor: Descriptor,
    threshold: f32,
}

impl std::fmt::Debug for FaceMatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaceMatcher")
            .field("threshold", &self.threshold)
            .finish_non_exhaustive()
    }
}

/// A located face: its box and its 68 points, in picture pixels.
#[derive(Debug)]
pub struct Located {
    pub detection: Detection,
    points: Sensitive<f32>,
}

impl Located {
    /// Point `i` (0–67, iBUG order) in picture pixels.
    pub fn point(&self, i: usize) -> (f32, f32) {
        (self.points[2 * i], self.points[2 * i + 1])
    }

    fn centre(&self, range: std::ops::Range<usize>) -> (f32, f32) {
        let n = range.len() as f32;
        let (mut x, mut y) = (0.0, 0.0);
        for i in range {
            let p = self.point(i);
            x += p.0;
            y += p.1;
        }
        (x / n, y / n)
    }

    /// Centres of the eye on the picture's left (36–41), the other eye (42–47), the mouth
    /// (48–67).
    pub fn eyes_and_mouth(&self) -> [(f32, f32); 3] {
        [
            self.centre(36..42),
            self.centre(42..48),
            self.centre(48..68),
        ]
    }
}

impl FaceMatcher {
    /// Loads the networks from a directory holding the face-api `model/` files (what
    /// `kakunin face setup` writes).
    pub fn load(dir: &Path) -> Result<FaceMatcher, FaceError> {
        Ok(FaceMatcher {
            detector: Detector::load(dir)?,
            landmarks: Landmarks::load(dir)?,
            descriptor: Descriptor::load(dir)?,
            threshold: DEFAULT_THRESHOLD,
        })
    }

    /// The same networks with another threshold (measurements use it).
    pub fn with_threshold(mut self, threshold: f32) -> FaceMatcher {
        self.threshold = threshold;
        self
    }

    pub fn threshold(&self) -> f32 {
        self.threshold
    }

    /// Faces in the picture, best first, boxes in picture pixels.
    pub fn detect(&self, picture: &Picture) -> Vec<Detection> {
        let (w, h) = (picture.width() as f32, picture.height() as f32);
        // Tried first on the picture padded to a square; a face that fills the picture (a card
        // photo) is found more surely with a margin around it, so a wider square follows.
        for widen in WIDEN {
            let side = w.max(h) * widen;
            let (x0, y0) = if widen == 1.0 {
                (0.0, 0.0)
            } else {
                ((w - side) / 2.0, (h - side) / 2.0)
            };
            let patch = picture.sample(
                &Affine::square(x0, y0, side, DETECTOR_INPUT),
                DETECTOR_INPUT,
            );
            let found = self.detector.run(&patch, DETECTOR_INPUT, MIN_SCORE);
            if !found.is_empty() {
                return found
                    .into_iter()
                    .map(|d| Detection {
                        x: x0 + d.x * side,
                        y: y0 + d.y * side,
                        width: d.width * side,
                        height: d.height * side,
                        score: d.score,
                    })
                    .collect();
            }
        }
        Vec::new()
    }

    /// The 68 points of the face in `detection`.
    pub fn locate(&self, picture: &Picture, detection: Detection) -> Located {
        let side = detection.width.max(detection.height);
        let x0 = detection.x + detection.width / 2.0 - side / 2.0;
        let y0 = detection.y + detection.height / 2.0 - side / 2.0;
        let patch = picture.sample(
            &Affine::square(x0, y0, side, Landmarks::INPUT),
            Landmarks::INPUT,
        );
        let mut points = self.landmarks.run(&patch);
        for (i, v) in points.iter_mut().enumerate() {
            *v = if i % 2 == 0 {
                x0 + *v * side
            } else {
                y0 + *v * side
            };
        }
        Located { detection, points }
    }

    /// The face cut upright for the descriptor: the picture turned about the eyes' midpoint so
    /// they are level, then the box of the 68 points with a fifth more on each axis, squared.
    pub fn align(&self, picture: &Picture, face: &Located) -> Sensitive<f32> {
        let [left, right, _] = face.eyes_and_mouth();
        let angle = (right.1 - left.1).atan2(right.0 - left.0);
        let mid = ((left.0 + right.0) / 2.0, (left.1 + right.1) / 2.0);
        let (sin, cos) = angle.sin_cos();
        // The points in the turned frame (about `mid`).
        let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
        for i in 0..68 {
            let (px, py) = face.point(i);
            let (dx, dy) = (px - mid.0, py - mid.1);
            let (rx, ry) = (cos * dx + sin * dy, -sin * dx + cos * dy);
            x0 = x0.min(rx);
            y0 = y0.min(ry);
            x1 = x1.max(rx);
            y1 = y1.max(ry);
        }
        let (w, h) = ((x1 - x0) * 1.2, (y1 - y0) * 1.2);
        let side = w.max(h);
        // The box's centre, back in the picture.
        let (cx, cy) = ((x0 + x1) / 2.0, (y0 + y1) / 2.0);
        let centre = (mid.0 + cos * cx - sin * cy, mid.1 + sin * cx + cos * cy);
        picture.sample(
            &Affine::turned_square(centre, side, angle, Descriptor::INPUT),
            Descriptor::INPUT,
        )
    }

    /// Describes the most prominent face of a picture (the largest box).
    pub fn describe(&self, picture: &Picture) -> Option<FaceDescription> {
        let detection = self
            .detect(picture)
            .into_iter()
            .max_by(|a, b| (a.width * a.height).total_cmp(&(b.width * b.height)))?;
        Some(self.describe_at(picture, detection))
    }

    /// Describes the face in one detected box.
    pub fn describe_at(&self, picture: &Picture, detection: Detection) -> FaceDescription {
        let face = self.locate(picture, detection);
        let patch = self.align(picture, &face);
        drop(face);
        FaceDescription {
            values: self.descriptor.run(&patch),
        }
    }

    /// Compares the card's photo with a camera frame, describing the two on two threads (the
    /// terminal has at least two cores: the patient waits for the slower side only). Both
    /// pictures are the caller's to drop; nothing of them is kept here.
    pub fn compare(&self, card_photo: &Picture, frame: &Picture) -> Result<Comparison, FaceError> {
        let start = Instant::now();
        let (card, seen) = std::thread::scope(|scope| {
            let card = scope.spawn(|| self.describe(card_photo));
            let seen = self.describe(frame);
            (card.join(), seen)
        });
        let card = card
            .map_err(|_| FaceError::Picture("the card photo's description failed".into()))?
            .ok_or(FaceError::NoFace(Side::CardPhoto))?;
        let seen = seen.ok_or(FaceError::NoFace(Side::Camera))?;
        let distance = card.distance(&seen);
        Ok(Comparison {
            distance,
            same_person: distance < self.threshold,
            elapsed: start.elapsed(),
        })
    }

    /// Compares an already described card photo with a camera frame (a second try reuses the
    /// card's description).
    pub fn compare_with(
        &self,
        card: &FaceDescription,
        frame: &Picture,
    ) -> Result<Comparison, FaceError> {
        self.compare_described(card, frame, Instant::now())
    }

    fn compare_described(
        &self,
        card: &FaceDescription,
        frame: &Picture,
        start: Instant,
    ) -> Result<Comparison, FaceError> {
        let seen = self
            .describe(frame)
            .ok_or(FaceError::NoFace(Side::Camera))?;
        let distance = card.distance(&seen);
        Ok(Comparison {
            distance,
            same_person: distance < self.threshold,
            elapsed: start.elapsed(),
        })
    }
}
