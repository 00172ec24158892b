//! The face model that `kakunin face setup` installs (the weights are not in the repository).

use std::path::PathBuf;

/// Where the tests look for the model: `KAKUNIN_FACE_MODEL`, else `target/face-model` in the
/// workspace (where `cargo run -- face setup` puts it).
pub fn model_path() -> PathBuf {
    match std::env::var_os("KAKUNIN_FACE_MODEL") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/face-model"),
    }
}

/// The model's directory when installed; otherwise the visible skip message (a failure under
/// `KAKUNIN_REQUIRE_EXTERNAL=1`) and `None`.
pub fn model_dir() -> Option<PathBuf> {
    let dir = model_path();
    if dir.join("face_recognition_model.bin").is_file() {
        Some(dir)
    } else {
        crate::external_missing(&format!(
            "the face model in {} (run `cargo run -- face setup`)",
            dir.display()
        ));
        None
    }
}
