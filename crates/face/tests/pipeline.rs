//! The whole comparison on the model package's demo photos: a face cut from a photo matches
//! the same face seen wider and turned, not another person's; and no face buffer outlives a
//! comparison. Needs the model (`cargo run -- face setup`); without it the test says so and
//! passes, unless `KAKUNIN_REQUIRE_EXTERNAL=1`. One test: the buffer count is per process.

use kakunin_face::{live_face_buffers, Affine, FaceError, FaceMatcher, Picture, Side};

fn crop(picture: &Picture, cx: f32, cy: f32, side: f32, angle: f32, out: usize) -> Picture {
    let values = picture.sample(&Affine::turned_square((cx, cy), side, angle, out), out);
    let pixels = values
        .iter()
        .map(|v| v.round().clamp(0.0, 255.0) as u8)
        .collect();
    Picture::new(out, out, pixels).unwrap()
}

#[test]
fn same_face_matches_another_does_not_and_nothing_is_left() {
    let Some(dir) = kakunin_testkit::face::model_dir() else {
        return;
    };
    let matcher = FaceMatcher::load(&dir).unwrap();
    assert_eq!(live_face_buffers(), 0);
    {
        let bytes = std::fs::read(dir.join("samples/sample3.jpg")).unwrap();
        let group = Picture::decode(&bytes).unwrap();
        assert!(live_face_buffers() >= 1, "a picture is a counted buffer");
        let faces = matcher.detect(&group);
        assert!(faces.len() >= 2, "sample3 shows several people");
        let centre = |i: usize| {
            let d = faces[i];
            (
                d.x + d.width / 2.0,
                d.y + d.height / 2.0,
                d.width.max(d.height),
            )
        };
        let (ax, ay, aside) = centre(0);
        let (bx, by, bside) = centre(1);
        let card_a = crop(&group, ax, ay, aside * 2.0, 0.0, 200);
        let camera_a = crop(&group, ax + aside * 0.2, ay, aside * 3.0, -0.12, 480);
        let camera_b = crop(&group, bx, by, bside * 3.0, 0.05, 480);

        let same = matcher.compare(&card_a, &camera_a).unwrap();
        assert!(same.same_person, "the same face: {same:?}");
        let other = matcher.compare(&card_a, &camera_b).unwrap();
        assert!(!other.same_person, "another person: {other:?}");
        assert!(
            other.distance > same.distance + 0.2,
            "{same:?} vs {other:?}"
        );

        // A second try reuses the card's description.
        let card = matcher.describe(&card_a).unwrap();
        assert!(matcher.compare_with(&card, &camera_a).unwrap().same_person);

        // No face: an error that says which side.
        let blank = Picture::new(64, 64, vec![128; 64 * 64]).unwrap();
        assert!(matches!(
            matcher.compare(&card_a, &blank),
            Err(FaceError::NoFace(Side::Camera))
        ));
        assert!(matches!(
            matcher.compare(&blank, &camera_a),
            Err(FaceError::NoFace(Side::CardPhoto))
        ));
    }
    assert_eq!(
        live_face_buffers(),
        0,
        "every picture, crop, activation and description was dropped"
    );
}
