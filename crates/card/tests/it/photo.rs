//! The face photo codec: JPEG 2000 in a JP2 file, greyscale.

use crate::support::{portrait, psnr};
use kakunin_card::{
    decode_jp2, encode_jp2, GreyImage, PhotoError, JP2_SIGNATURE, PHOTO_BUDGET_BYTES,
};
use proptest::prelude::*;
use std::sync::OnceLock;

const OPENJPEG_PORTRAIT: &[u8] = include_bytes!("../fixtures/openjpeg-portrait.jp2");
const OPENJPEG_RGB: &[u8] = include_bytes!("../fixtures/openjpeg-rgb.jp2");

/// The 300 × 400 portrait, encoded once for the whole binary (encoding is the slow part).
pub fn portrait_jp2() -> &'static [u8] {
    static JP2: OnceLock<Vec<u8>> = OnceLock::new();
    JP2.get_or_init(|| encode_jp2(&portrait(300, 400)).expect("encode the portrait"))
}

#[test]
fn a_card_sized_photo_round_trips_within_the_budget() {
    let image = portrait(300, 400);
    let jp2 = portrait_jp2();
    assert!(jp2.starts_with(&JP2_SIGNATURE));
    assert!(
        (10 * 1024..=PHOTO_BUDGET_BYTES).contains(&jp2.len()),
        "{} bytes",
        jp2.len()
    );
    let back = decode_jp2(jp2).unwrap();
    assert_eq!((back.width(), back.height()), (300, 400));
    let quality = psnr(&image, &back);
    assert!(quality > 40.0, "PSNR {quality:.1} dB");
}

#[test]
fn odd_and_tiny_pictures_round_trip() {
    // (width, height, pixel at (x, y)): sizes that leave 0..5 wavelet levels, partial
    // code-blocks and partial stripes; smooth, noisy and hard-edged content.
    type Pattern = fn(u32, u32) -> u8;
    let patterns: &[(&str, Pattern)] = &[
        ("gradient", |x, y| (x * 7 + y * 3) as u8),
        ("checker", |x, y| if (x + y) % 2 == 0 { 0 } else { 255 }),
        ("flat", |_, _| 77),
    ];
    for (w, h) in [
        (1, 1),
        (1, 9),
        (9, 1),
        (2, 2),
        (3, 5),
        (64, 65),
        (65, 64),
        (130, 7),
    ] {
        for (name, pattern) in patterns {
            let pixels = (0..h)
                .flat_map(|y| (0..w).map(move |x| pattern(x, y)))
                .collect();
            let image = GreyImage::new(w, h, pixels).unwrap();
            let jp2 = encode_jp2(&image).unwrap();
            let back = decode_jp2(&jp2).unwrap_or_else(|e| panic!("{w}×{h} {name}: {e}"));
            let quality = psnr(&image, &back);
            assert!(quality > 40.0, "{w}×{h} {name}: PSNR {quality:.1} dB");
        }
    }
}

#[test]
fn noise_is_squeezed_into_the_budget() {
    let mut seed = 0x9E37_79B9u32;
    let pixels = (0..512 * 512)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed as u8
        })
        .collect();
    let image = GreyImage::new(512, 512, pixels).unwrap();
    let jp2 = encode_jp2(&image).unwrap();
    assert!(jp2.len() <= PHOTO_BUDGET_BYTES, "{} bytes", jp2.len());
    decode_jp2(&jp2).unwrap();
}

#[test]
fn a_photo_from_openjpeg_decodes() {
    // Layers, precincts, RPCL, SOP/EPH markers: see tests/fixtures/README.md.
    let back = decode_jp2(OPENJPEG_PORTRAIT).unwrap();
    let quality = psnr(&portrait(120, 160), &back);
    assert!(quality > 35.0, "PSNR {quality:.1} dB");
}

/// Our codestream with the image and tile sizes in SIZ (and the JP2 header) replaced.
fn with_size(jp2: &[u8], width: u32, height: u32) -> Vec<u8> {
    let mut out = jp2.to_vec();
    let ihdr = out.windows(4).position(|w| w == b"ihdr").unwrap() + 4;
    out[ihdr..ihdr + 4].copy_from_slice(&height.to_be_bytes());
    out[ihdr + 4..ihdr + 8].copy_from_slice(&width.to_be_bytes());
    let siz = out.windows(2).position(|w| w == [0xFF, 0x51]).unwrap() + 6;
    for (i, value) in [width, height, 0, 0, width, height].into_iter().enumerate() {
        out[siz + 4 * i..siz + 4 * i + 4].copy_from_slice(&value.to_be_bytes());
    }
    out
}

#[test]
fn what_is_not_a_greyscale_photo_is_an_error() {
    let good = portrait_jp2();
    let codestream_at = good.windows(4).position(|w| w == b"jp2c").unwrap() + 4;
    type Check = fn(&PhotoError) -> bool;
    let decode_error: Check = |e| matches!(e, PhotoError::Decode(_));
    let cases: Vec<(&str, Vec<u8>, Check)> = vec![
        ("empty", Vec::new(), |e| *e == PhotoError::NotJp2),
        ("text", b"not a photo at all".to_vec(), |e| {
            *e == PhotoError::NotJp2
        }),
        (
            "a JPEG",
            vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F'],
            |e| *e == PhotoError::NotJp2,
        ),
        ("a raw codestream", good[codestream_at..].to_vec(), |e| {
            *e == PhotoError::NotJp2
        }),
        ("the signature only", JP2_SIGNATURE.to_vec(), decode_error),
        (
            "headers only",
            good[..codestream_at + 40].to_vec(),
            decode_error,
        ),
        (
            "signature then zeros",
            [&JP2_SIGNATURE[..], &[0; 500]].concat(),
            decode_error,
        ),
        ("colour", OPENJPEG_RGB.to_vec(), |e| {
            *e == PhotoError::NotGreyscale
        }),
        ("2048 × 2048", with_size(good, 2048, 2048), |e| {
            *e == PhotoError::Dimensions {
                width: 2048,
                height: 2048,
            }
        }),
        ("65535 × 65535", with_size(good, 65535, 65535), |e| {
            matches!(e, PhotoError::Dimensions { .. } | PhotoError::Decode(_))
        }),
    ];
    for (name, bytes, expected) in cases {
        match decode_jp2(&bytes) {
            Ok(image) => panic!("{name}: decoded {image:?}"),
            Err(e) => assert!(expected(&e), "{name}: {e:?}"),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Flipped bytes and truncations of a real photo: an error or a picture, never a panic
    /// that escapes, and never a picture larger than the cap.
    #[test]
    fn damaged_photos_never_panic(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let source = OPENJPEG_PORTRAIT;
        let mut bytes = source[..cut.index(source.len()) + 1].to_vec();
        for (at, value) in flips {
            let i = at.index(bytes.len());
            bytes[i] ^= value;
        }
        if let Ok(image) = decode_jp2(&bytes) {
            prop_assert!(image.pixels().len() <= kakunin_card::MAX_PHOTO_PIXELS);
        }
    }
}
