//! The card's face photo: 8-bit greyscale JPEG 2000 in a JP2 file, the way the 券面事項確認AP
//! keeps it in EF 0002 tag `DF27` (research/card-face.md §1.3: "`DF27` face photo = JPEG 2000,
//! greyscale"; soltia48/myna-card `CardFace::photo`: "JPEG 2000, greyscale — not JPEG").
//!
//! Decoding is `dicom-toolkit-jpeg2000`'s: a memory-safe pure-Rust decoder (a fork of
//! hayro-jpeg2000, tested by its authors against the OpenJPEG suite and 20,000 images from
//! PDFs), built without its SIMD and OpenJPH features, so nothing below it uses `unsafe`.
//! Encoding is ours (the `encoder` module): that crate's encoder writes a COD marker one byte
//! longer than its content (OpenJPEG refuses the file) and quantization steps that blur a face
//! to 13 dB; the other pure-Rust codecs the workspace's registry offers either need a newer
//! compiler (`j2k`), write non-standard packets (`justjp2`), or reach memory only through
//! `unsafe extern "C"` stream callbacks in the caller (`openjp2` 0.6, `jpeg2k`). The JP2 boxes
//! are ours too. OpenJPEG 2.5's `opj_decompress` reads what the encoder writes.
//!
//! A decoded photo is a face: [`GreyImage`] overwrites its pixels when dropped.

mod encoder;

use dicom_toolkit_jpeg2000 as j2k;
use std::panic::{catch_unwind, AssertUnwindSafe};
use thiserror::Error;

/// The largest photo [`decode_jp2`] decodes and [`GreyImage::new`] holds: 1024 × 1024 pixels.
/// The real card's photo is far smaller (its whole EF 0002 fits READ BINARY's 15-bit offsets);
/// the cap keeps a hostile codestream from making the terminal allocate gigabytes.
pub const MAX_PHOTO_PIXELS: usize = 1024 * 1024;

/// The JP2 signature box (ISO/IEC 15444-1 Annex I.5.1): what every JP2 file starts with.
pub const JP2_SIGNATURE: [u8; 12] = [
    0x00, 0x00, 0x00, 0x0C, b'j', b'P', b' ', b' ', 0x0D, 0x0A, 0x87, 0x0A,
];

/// The size [`encode_jp2`] keeps a photo under. The card's whole EF 0002 must stay within
/// READ BINARY's 15-bit offsets (32,767 bytes) next to a signature, a public key and the
/// rendered name and address; 16 KiB is a 300 × 400 photo at a quality a face matcher reads.
pub const PHOTO_BUDGET_BYTES: usize = 16 * 1024;

/// Bytes of JP2 boxes around the codestream (see [`jp2_file`]).
const JP2_OVERHEAD: usize = 12 + 20 + 8 + 22 + 15 + 8;

/// Why a photo could not be built, encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PhotoError {
    /// Zero width or height, or more than [`MAX_PHOTO_PIXELS`].
    #[error("a photo is 1..={MAX_PHOTO_PIXELS} pixels, this one {width} × {height}")]
    Dimensions { width: u64, height: u64 },
    /// The pixel buffer does not hold `width × height` values.
    #[error("{width} × {height} pixels need {expected} grey values, got {got}")]
    PixelCount {
        width: u32,
        height: u32,
        expected: usize,
        got: usize,
    },
    /// The bytes do not start with the JP2 signature box.
    #[error("not a JP2 file")]
    NotJp2,
    /// A JP2 file, but not one greyscale channel without alpha.
    #[error("the photo is not greyscale")]
    NotGreyscale,
    /// The JPEG 2000 data is malformed or uses something the decoder does not support.
    #[error("undecodable JPEG 2000: {0}")]
    Decode(String),
    /// The encoder refused the picture.
    #[error("JPEG 2000 encoding failed: {0}")]
    Encode(String),
}

/// An 8-bit greyscale picture, row by row (`pixels[y * width + x]`), 0 = black.
///
/// It holds a face, so its pixels are overwritten with zeros when it is dropped, its `Debug`
/// shows only the size, and it is neither `Clone` nor `Copy`: the one copy is the one that gets
/// wiped.
pub struct GreyImage {
    width: u32,
    height: u32,
    pixels: Vec<u8>,
}

impl GreyImage {
    /// A picture of `width × height` grey values. Refuses (and wipes) a buffer of the wrong
    /// length, and a picture of no pixels or of more than [`MAX_PHOTO_PIXELS`].
    pub fn new(width: u32, height: u32, pixels: Vec<u8>) -> Result<GreyImage, PhotoError> {
        // Owned by a GreyImage from here on, so that a refused buffer is wiped too.
        let image = GreyImage {
            width,
            height,
            pixels,
        };
        let count = checked_pixel_count(width, height)?;
        if image.pixels.len() != count {
            return Err(PhotoError::PixelCount {
                width,
                height,
                expected: count,
                got: image.pixels.len(),
            });
        }
        Ok(image)
    }

    pub fn width(&self) -> u32 {
        self.width
    }

    pub fn height(&self) -> u32 {
        self.height
    }

    /// The grey values, row by row.
    pub fn pixels(&self) -> &[u8] {
        &self.pixels
    }
}

impl GreyImage {
    /// Overwrites the pixels with zeros.
    fn wipe(&mut self) {
        self.pixels.fill(0);
        // Make the writes observable so that they are not optimised away as dead stores.
        std::hint::black_box(&mut self.pixels);
    }
}

impl Drop for GreyImage {
    fn drop(&mut self) {
        self.wipe();
    }
}

impl std::fmt::Debug for GreyImage {
    /// The size only, never the face.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GreyImage({} × {})", self.width, self.height)
    }
}

/// `width × height` when it is a photo's size: 1..=[`MAX_PHOTO_PIXELS`].
fn checked_pixel_count(width: u32, height: u32) -> Result<usize, PhotoError> {
    let count = u64::from(width) * u64::from(height);
    match usize::try_from(count) {
        Ok(n @ 1..=MAX_PHOTO_PIXELS) => Ok(n),
        _ => Err(PhotoError::Dimensions {
            width: u64::from(width),
            height: u64::from(height),
        }),
    }
}

/// Encodes a photo as a JP2 file of at most [`PHOTO_BUDGET_BYTES`]: lossy JPEG 2000
/// (irreversible 9/7 wavelet, up to 5 levels, 64 × 64 code-blocks, one quality layer) with the
/// finest quantization that fits, one greyscale channel of 8 bits.
///
/// Fails only when even the coarsest quantization does not fit (a picture near
/// [`MAX_PHOTO_PIXELS`] of noise).
pub fn encode_jp2(image: &GreyImage) -> Result<Vec<u8>, PhotoError> {
    let budget = PHOTO_BUDGET_BYTES - JP2_OVERHEAD;
    let codestream = encoder::encode_codestream(
        &image.pixels,
        image.width as usize,
        image.height as usize,
        budget,
    )
    .ok_or_else(|| {
        PhotoError::Encode(format!(
            "{} × {} pixels do not fit {PHOTO_BUDGET_BYTES} bytes",
            image.width, image.height
        ))
    })?;
    Ok(jp2_file(&codestream, image.width, image.height))
}

/// Decodes a JP2 file holding one greyscale channel (any bit depth; scaled to 8 bits) of at
/// most [`MAX_PHOTO_PIXELS`]. Anything else is an error, never a panic: the size is checked
/// from the header before a pixel is decoded, and a panic inside the decoder (a bug there, on
/// hostile input) is caught and reported as [`PhotoError::Decode`].
pub fn decode_jp2(jp2: &[u8]) -> Result<GreyImage, PhotoError> {
    if !jp2.starts_with(&JP2_SIGNATURE) {
        return Err(PhotoError::NotJp2);
    }
    catch_unwind(AssertUnwindSafe(|| decode_checked(jp2)))
        .unwrap_or_else(|_| Err(PhotoError::Decode("the decoder panicked".to_owned())))
}

fn decode_checked(jp2: &[u8]) -> Result<GreyImage, PhotoError> {
    let settings = j2k::DecodeSettings {
        resolve_palette_indices: false,
        ..j2k::DecodeSettings::default()
    };
    let image =
        j2k::Image::new(jp2, &settings).map_err(|e| PhotoError::Decode(format!("{e:?}")))?;
    let (width, height) = (image.width(), image.height());
    checked_pixel_count(width, height)?;
    if !matches!(image.color_space(), j2k::ColorSpace::Gray) || image.has_alpha() {
        return Err(PhotoError::NotGreyscale);
    }
    let pixels = image
        .decode()
        .map_err(|e| PhotoError::Decode(format!("{e:?}")))?;
    GreyImage::new(width, height, pixels)
}

/// The JP2 file around a codestream (ISO/IEC 15444-1 Annex I): signature, file type `jp2 `,
/// the header superbox (image header: one 8-bit unsigned component, compression type 7;
/// colour: enumerated, greyscale = 17) and the contiguous codestream box.
fn jp2_file(codestream: &[u8], width: u32, height: u32) -> Vec<u8> {
    let mut ihdr = Vec::with_capacity(14);
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&1u16.to_be_bytes()); // NC: one component
    ihdr.extend_from_slice(&[7, 7, 0, 0]); // BPC 8 bits unsigned, C = JPEG 2000, UnkC, IPR
    let colr = [1, 0, 0, 0, 0, 0, 17]; // METH enumerated, PREC, APPROX, EnumCS greyscale
    let mut header = jp2_box(b"ihdr", &ihdr);
    header.extend(jp2_box(b"colr", &colr));

    let mut out = JP2_SIGNATURE.to_vec();
    out.extend(jp2_box(b"ftyp", b"jp2 \0\0\0\0jp2 "));
    out.extend(jp2_box(b"jp2h", &header));
    out.extend(jp2_box(b"jp2c", codestream));
    out
}

fn jp2_box(kind: &[u8; 4], content: &[u8]) -> Vec<u8> {
    // A photo's codestream is far below 4 GiB; a box length of 0 would mean "to the end".
    let len = u32::try_from(8 + content.len()).unwrap_or(0);
    let mut out = Vec::with_capacity(8 + content.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(content);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_buffers_are_checked() {
        let cases: &[(u32, u32, usize, Option<PhotoError>)] = &[
            (1, 1, 1, None),
            (300, 400, 120_000, None),
            (1024, 1024, MAX_PHOTO_PIXELS, None),
            (
                0,
                5,
                0,
                Some(PhotoError::Dimensions {
                    width: 0,
                    height: 5,
                }),
            ),
            (
                5,
                0,
                0,
                Some(PhotoError::Dimensions {
                    width: 5,
                    height: 0,
                }),
            ),
            (
                1025,
                1024,
                0,
                Some(PhotoError::Dimensions {
                    width: 1025,
                    height: 1024,
                }),
            ),
            (
                u32::MAX,
                u32::MAX,
                0,
                Some(PhotoError::Dimensions {
                    width: u64::from(u32::MAX),
                    height: u64::from(u32::MAX),
                }),
            ),
            (
                3,
                2,
                5,
                Some(PhotoError::PixelCount {
                    width: 3,
                    height: 2,
                    expected: 6,
                    got: 5,
                }),
            ),
        ];
        for (width, height, len, expected) in cases {
            let got = GreyImage::new(*width, *height, vec![7; *len]);
            match expected {
                None => assert_eq!(got.map(|i| i.pixels().len()).ok(), Some(*len)),
                Some(e) => assert_eq!(got.unwrap_err(), *e),
            }
        }
    }

    #[test]
    fn a_dropped_picture_is_wiped_and_never_printed() {
        let mut image = GreyImage::new(2, 2, vec![10, 20, 30, 40]).unwrap();
        assert_eq!(format!("{image:?}"), "GreyImage(2 × 2)");
        // What Drop runs, observed before the memory is given back.
        image.wipe();
        assert_eq!(image.pixels(), [0, 0, 0, 0]);
    }

    #[test]
    fn the_jp2_boxes() {
        let file = jp2_file(&[0xFF, 0x4F, 0xFF, 0x51], 300, 400);
        assert_eq!(file.len(), JP2_OVERHEAD + 4);
        let expected_start: Vec<u8> = [
            &JP2_SIGNATURE[..],
            // ftyp: brand "jp2 ", minor version 0, compatible "jp2 "
            b"\0\0\0\x14ftypjp2 \0\0\0\0jp2 ",
            // jp2h { ihdr: height 400, width 300, 1 component, 8 bits, JPEG 2000;
            //        colr: enumerated greyscale (17) }
            b"\0\0\0\x2djp2h\0\0\0\x16ihdr\0\0\x01\x90\0\0\x01\x2c\0\x01\x07\x07\0\0",
            b"\0\0\0\x0fcolr\x01\0\0\0\0\0\x11",
            b"\0\0\0\x0cjp2c\xff\x4f\xff\x51",
        ]
        .concat();
        assert_eq!(file, expected_start);
    }
}
