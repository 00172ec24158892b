//! The three networks against the reference implementation: what TensorFlow.js running
//! face-api answers for a synthetic pattern (`fixtures/tfjs-pattern.json`, made by
//! `fixtures/tfjs-pattern.js`). Needs the model (`cargo run -- face setup`); without it the test
//! says so and passes, unless `KAKUNIN_REQUIRE_EXTERNAL=1`.

use kakunin_face::nets::{Descriptor, Detector, Landmarks};
use serde_json::Value;

/// The pattern the fixture was made from (integer arithmetic, as in the script).
fn pattern(size: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(size * size);
    for y in 0..size {
        for x in 0..size {
            out.push((((x * x + 3 * y * y + 5 * x * y) / 7) % 256) as f32);
        }
    }
    out
}

fn reference(key: &str) -> Vec<Value> {
    let json: Value = serde_json::from_str(include_str!("fixtures/tfjs-pattern.json")).unwrap();
    json[key].as_array().unwrap().clone()
}

fn numbers(values: &[Value]) -> Vec<f32> {
    values.iter().map(|v| v.as_f64().unwrap() as f32).collect()
}

fn max_difference(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn the_networks_answer_as_the_reference_implementation() {
    let Some(dir) = kakunin_testkit::face::model_dir() else {
        return;
    };

    let detector = Detector::load(&dir).unwrap();
    let found = detector.run(&pattern(416), 416, 0.001);
    let expected = reference("detector");
    assert!(found.len() >= expected.len());
    for (got, want) in found.iter().zip(&expected) {
        let want = numbers(want.as_array().unwrap());
        let got = [got.x, got.y, got.width, got.height, got.score];
        assert!(
            max_difference(&got, &want) < 1e-4,
            "detector {got:?} vs {want:?}"
        );
    }

    let landmarks = Landmarks::load(&dir).unwrap();
    let points = landmarks.run(&pattern(Landmarks::INPUT));
    let difference = max_difference(&points, &numbers(&reference("landmarks")));
    assert!(difference < 1e-4, "landmarks differ by {difference}");

    let descriptor = Descriptor::load(&dir).unwrap();
    let values = descriptor.run(&pattern(Descriptor::INPUT));
    let difference = max_difference(&values, &numbers(&reference("descriptor")));
    assert!(difference < 1e-4, "descriptor differs by {difference}");
}
