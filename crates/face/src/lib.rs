//! Face verification on the terminal: is the person at the reader the one on the card's photo?
//!
//! The pipeline ([`FaceMatcher`]): the tiny face detector finds the face, the 68-point landmark
//! net finds the eyes and mouth, the face is cut upright (eyes level) to 150 × 150, and dlib's
//! ResNet describes it with 128 values; two descriptions closer than the threshold are one
//! person. The networks are the MIT-licensed weights of the npm package `@vladmandic/face-api`
//! (installed once by [`model::install`]), run by our own code on the CPU.
//!
//! Invariants: nothing here writes a file, logs, or sends anything; every buffer holding a face
//! (pictures, network inputs, activations, points, descriptions) is zeroed when dropped, and the
//! [`Sensitive`] ones are counted ([`live_face_buffers`]) so a test can show that none outlives
//! a comparison. Only the decision and the distance leave a comparison.

pub mod evaluate;
pub mod matcher;
pub mod model;
pub mod nets;
pub mod ops;
pub mod picture;
pub mod weights;

pub use matcher::{Comparison, FaceDescription, FaceMatcher, Side, DEFAULT_THRESHOLD};
pub use picture::{live_face_buffers, Affine, Picture, Sensitive};

use thiserror::Error;

/// Why a comparison could not be made.
#[derive(Debug, Error)]
pub enum FaceError {
    /// The model files are missing or damaged (run `kakunin face setup`).
    #[error("face model {model}: {detail}")]
    Model { model: String, detail: String },
    /// A picture could not be read.
    #[error("picture: {0}")]
    Picture(String),
    /// No face was found in the card photo or in the camera frame.
    #[error("no face found in the {}", match .0 { Side::CardPhoto => "card photo", Side::Camera => "camera frame" })]
    NoFace(Side),
}
