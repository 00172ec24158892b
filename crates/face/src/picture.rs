//! Greyscale pictures (a camera frame, a card photo) and the sampling the networks' inputs are
//! cut with. The card's photo is greyscale, so the camera frame is turned grey as well and both
//! sides of a comparison see the same kind of picture.
//!
//! Invariant: every buffer that holds a face (a [`Picture`], a network input, a descriptor) is a
//! [`Sensitive`] buffer: overwritten with zeros when dropped, and counted while it lives, so a
//! test can show that nothing of a comparison outlives it.

use crate::FaceError;
use std::sync::atomic::{AtomicUsize, Ordering};

static LIVE: AtomicUsize = AtomicUsize::new(0);

/// How many face buffers exist right now in this process (pictures, network inputs,
/// descriptors). Zero between comparisons.
pub fn live_face_buffers() -> usize {
    LIVE.load(Ordering::SeqCst)
}

/// A buffer holding face data: counted while alive, zeroed on drop.
pub struct Sensitive<T: Copy + Default> {
    data: Vec<T>,
}

impl<T: Copy + Default> Sensitive<T> {
    pub fn new(data: Vec<T>) -> Self {
        LIVE.fetch_add(1, Ordering::SeqCst);
        Sensitive { data }
    }

    /// An empty buffer with room for `capacity` values.
    pub fn with_capacity(capacity: usize) -> Self {
        Self::new(Vec::with_capacity(capacity))
    }

    /// Appends, growing (when it must) into a new allocation and wiping the old one, so no
    /// unwiped copy is left in freed memory.
    pub fn extend_from_slice(&mut self, more: &[T]) {
        let needed = self.data.len() + more.len();
        if needed > self.data.capacity() {
            let mut bigger = Vec::with_capacity(needed.max(2 * self.data.capacity()));
            bigger.extend_from_slice(&self.data);
            self.data.iter_mut().for_each(|v| *v = T::default());
            std::hint::black_box(&mut self.data);
            self.data = bigger;
        }
        self.data.extend_from_slice(more);
    }

    /// Takes the values out, leaving zeros behind (for a buffer whose values move on).
    pub fn take(mut self) -> Vec<T> {
        let fresh = vec![T::default(); self.data.len()];
        std::mem::replace(&mut self.data, fresh)
    }
}

impl<T: Copy + Default> std::ops::Deref for Sensitive<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.data
    }
}

impl<T: Copy + Default> std::ops::DerefMut for Sensitive<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        &mut self.data
    }
}

impl<T: Copy + Default> Drop for Sensitive<T> {
    fn drop(&mut self) {
        // Overwrite, and make the writes observable so they are not optimised away.
        self.data.iter_mut().for_each(|v| *v = T::default());
        std::hint::black_box(&mut self.data);
        LIVE.fetch_sub(1, Ordering::SeqCst);
    }
}

impl<T: Copy + Default> std::fmt::Debug for Sensitive<T> {
    /// Never the values.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sensitive({} values)", self.data.len())
    }
}

/// Largest picture accepted, in pixels (a 4K frame is 8.3 M).
pub const MAX_PIXELS: usize = 40_000_000;

/// An 8-bit greyscale picture, row by row.
#[derive(Debug)]
pub struct Picture {
    width: usize,
    height: usize,
    pixels: Sensitive<u8>,
}

impl Picture {
    /// A picture of `width × height` grey values.
    pub fn new(width: usize, height: usize, pixels: Vec<u8>) -> Result<Picture, FaceError> {
        let pixels = Sensitive::new(pixels);
        if width == 0 || height == 0 || width.saturating_mul(height) > MAX_PIXELS {
            return Err(FaceError::Picture(format!(
                "a picture of {width} × {height} pixels is not accepted"
            )));
        }
        if pixels.len() != width * height {
            return Err(FaceError::Picture(format!(
                "{} values for {width} × {height} pixels",
                pixels.len()
            )));
        }
        Ok(Picture {
            width,
            height,
            pixels,
        })
    }

    /// A picture from RGB values (3 per pixel), turned grey by luma (ITU-R BT.601).
    pub fn from_rgb(width: usize, height: usize, rgb: &[u8]) -> Result<Picture, FaceError> {
        if rgb.len() != width.saturating_mul(height).saturating_mul(3) {
            return Err(FaceError::Picture(format!(
                "{} RGB values for {width} × {height} pixels",
                rgb.len()
            )));
        }
        let grey = rgb
            .chunks_exact(3)
            .map(|p| {
                let y = 299 * u32::from(p[0]) + 587 * u32::from(p[1]) + 114 * u32::from(p[2]);
                ((y + 500) / 1000) as u8
            })
            .collect();
        Picture::new(width, height, grey)
    }

    /// Decodes a JPEG, PNG or binary PGM (P5) file's bytes.
    pub fn decode(bytes: &[u8]) -> Result<Picture, FaceError> {
        match bytes {
            [0xFF, 0xD8, ..] => decode_jpeg(bytes),
            [0x89, b'P', b'N', b'G', ..] => decode_png(bytes),
            [b'P', b'5', ..] => decode_pgm(bytes),
            _ => Err(FaceError::Picture("not a JPEG, PNG or PGM picture".into())),
        }
    }

    pub fn width(&self) -> usize {
        self.width
    }

    pub fn height(&self) -> usize {
        self.height
    }

    pub fn pixels(&self) -> &[u8] {
        &self.pixels
    }

    /// The grey value at integer coordinates, 0 outside.
    fn at(&self, x: isize, y: isize) -> f32 {
        if x < 0 || y < 0 || x >= self.width as isize || y >= self.height as isize {
            return 0.0;
        }
        f32::from(self.pixels[y as usize * self.width + x as usize])
    }

    /// Bilinear value at `(x, y)` in pixel-centre coordinates (the centre of pixel 0 is 0.0).
    fn bilinear(&self, x: f32, y: f32) -> f32 {
        let (x0, y0) = (x.floor(), y.floor());
        let (fx, fy) = (x - x0, y - y0);
        let (x0, y0) = (x0 as isize, y0 as isize);
        let top = self.at(x0, y0) * (1.0 - fx) + self.at(x0 + 1, y0) * fx;
        let bottom = self.at(x0, y0 + 1) * (1.0 - fx) + self.at(x0 + 1, y0 + 1) * fx;
        top * (1.0 - fy) + bottom * fy
    }

    /// Cuts an `out × out` grey patch: output pixel `(u, v)` (its centre) comes from
    /// `transform.apply(u + 0.5, v + 0.5)` in this picture's continuous coordinates (0.0 at
    /// the top-left corner). Shrinking averages a grid of samples per output pixel so a large
    /// face does not alias. Outside the picture is black, as the networks were trained.
    pub fn sample(&self, transform: &Affine, out: usize) -> Sensitive<f32> {
        let step = transform.scale();
        let n = (step.ceil() as usize).clamp(1, 8);
        let mut values = Sensitive::new(vec![0.0f32; out * out]);
        let inv = 1.0 / (n * n) as f32;
        for v in 0..out {
            for u in 0..out {
                let mut sum = 0.0;
                for sy in 0..n {
                    for sx in 0..n {
                        let du = u as f32 + (sx as f32 + 0.5) / n as f32;
                        let dv = v as f32 + (sy as f32 + 0.5) / n as f32;
                        let (x, y) = transform.apply(du, dv);
                        sum += self.bilinear(x - 0.5, y - 0.5);
                    }
                }
                values[v * out + u] = sum * inv;
            }
        }
        values
    }
}

/// `(x, y) = (a·u + b·v + c, d·u + e·v + f)`: from an output patch to a picture.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Affine {
    pub a: f32,
    pub b: f32,
    pub c: f32,
    pub d: f32,
    pub e: f32,
    pub f: f32,
}

impl Affine {
    /// An upright square: the patch's `[0, out)` covers `[x0, x0 + side)` × `[y0, y0 + side)`.
    pub fn square(x0: f32, y0: f32, side: f32, out: usize) -> Affine {
        let s = side / out as f32;
        Affine {
            a: s,
            b: 0.0,
            c: x0,
            d: 0.0,
            e: s,
            f: y0,
        }
    }

    /// A square of `side` whose axes are turned by `angle` (radians) about `centre`: its
    /// top-left corner is at `centre - (side/2, side/2)` before turning.
    pub fn turned_square(centre: (f32, f32), side: f32, angle: f32, out: usize) -> Affine {
        let s = side / out as f32;
        let (sin, cos) = angle.sin_cos();
        // p = centre + R · (s·(u, v) − side/2)
        let h = side / 2.0;
        Affine {
            a: s * cos,
            b: -s * sin,
            c: centre.0 - cos * h + sin * h,
            d: s * sin,
            e: s * cos,
            f: centre.1 - sin * h - cos * h,
        }
    }

    pub fn apply(&self, u: f32, v: f32) -> (f32, f32) {
        (
            self.a * u + self.b * v + self.c,
            self.d * u + self.e * v + self.f,
        )
    }

    /// Picture pixels per patch pixel.
    pub fn scale(&self) -> f32 {
        (self.a * self.a + self.d * self.d).sqrt()
    }
}

fn decode_jpeg(bytes: &[u8]) -> Result<Picture, FaceError> {
    let mut decoder = jpeg_decoder::Decoder::new(bytes);
    decoder
        .read_info()
        .map_err(|e| FaceError::Picture(format!("JPEG: {e}")))?;
    let info = decoder
        .info()
        .ok_or_else(|| FaceError::Picture("JPEG without a header".into()))?;
    let (w, h) = (usize::from(info.width), usize::from(info.height));
    if w.saturating_mul(h) > MAX_PIXELS {
        return Err(FaceError::Picture(format!("a JPEG of {w} × {h} pixels")));
    }
    let pixels = Sensitive::new(
        decoder
            .decode()
            .map_err(|e| FaceError::Picture(format!("JPEG: {e}")))?,
    );
    match info.pixel_format {
        jpeg_decoder::PixelFormat::L8 => Picture::new(w, h, pixels.take()),
        jpeg_decoder::PixelFormat::RGB24 => Picture::from_rgb(w, h, &pixels),
        other => Err(FaceError::Picture(format!(
            "JPEG pixel format {other:?} is not supported"
        ))),
    }
}

fn decode_png(bytes: &[u8]) -> Result<Picture, FaceError> {
    let mut decoder = png::Decoder::new(bytes);
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder
        .read_info()
        .map_err(|e| FaceError::Picture(format!("PNG: {e}")))?;
    let (w, h) = {
        let info = reader.info();
        (info.width as usize, info.height as usize)
    };
    if w.saturating_mul(h) > MAX_PIXELS {
        return Err(FaceError::Picture(format!("a PNG of {w} × {h} pixels")));
    }
    let mut buf = Sensitive::new(vec![0u8; reader.output_buffer_size()]);
    let frame = reader
        .next_frame(&mut buf)
        .map_err(|e| FaceError::Picture(format!("PNG: {e}")))?;
    let data = &buf[..frame.buffer_size()];
    let grey: Vec<u8> = match frame.color_type {
        png::ColorType::Grayscale => data.to_vec(),
        png::ColorType::GrayscaleAlpha => data.chunks_exact(2).map(|p| p[0]).collect(),
        png::ColorType::Rgb => return Picture::from_rgb(w, h, data),
        png::ColorType::Rgba => {
            let rgb: Sensitive<u8> = Sensitive::new(
                data.chunks_exact(4)
                    .flat_map(|p| [p[0], p[1], p[2]])
                    .collect(),
            );
            return Picture::from_rgb(w, h, &rgb);
        }
        other => {
            return Err(FaceError::Picture(format!(
                "PNG colour type {other:?} is not supported"
            )))
        }
    };
    Picture::new(w, h, grey)
}

fn decode_pgm(bytes: &[u8]) -> Result<Picture, FaceError> {
    let bad = || FaceError::Picture("PGM: malformed header".into());
    // "P5" then width, height, maxval separated by whitespace (comments skipped), then one
    // whitespace byte and the samples.
    let mut fields = Vec::new();
    let mut i = 2;
    while fields.len() < 3 {
        while i < bytes.len() && (bytes[i].is_ascii_whitespace() || bytes[i] == b'#') {
            if bytes[i] == b'#' {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            } else {
                i += 1;
            }
        }
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        let n: usize = std::str::from_utf8(&bytes[start..i])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(bad)?;
        fields.push(n);
    }
    let (w, h, max) = (fields[0], fields[1], fields[2]);
    if max == 0 || max > 255 || i >= bytes.len() {
        return Err(bad());
    }
    let data = bytes.get(i + 1..).ok_or_else(bad)?;
    if data.len() < w.saturating_mul(h) {
        return Err(FaceError::Picture("PGM: the samples end early".into()));
    }
    let grey = data[..w * h]
        .iter()
        .map(|&v| ((u32::from(v) * 255 + max as u32 / 2) / max as u32) as u8)
        .collect();
    Picture::new(w, h, grey)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_pgm_and_refuses_garbage() {
        let mut pgm = b"P5\n# a comment\n3 2\n255\n".to_vec();
        pgm.extend([0, 50, 100, 150, 200, 250]);
        let p = Picture::decode(&pgm).unwrap();
        assert_eq!((p.width(), p.height()), (3, 2));
        assert_eq!(p.pixels(), &[0, 50, 100, 150, 200, 250]);
        assert!(Picture::decode(b"GIF89a").is_err());
        assert!(Picture::decode(b"P5\n3 2\n255\n\x00").is_err());
        assert!(Picture::decode(&[0xFF, 0xD8, 0xFF, 0x00]).is_err());
        assert!(Picture::new(0, 3, vec![]).is_err());
    }

    #[test]
    fn sampling_an_upright_square_copies_pixels() {
        let p = Picture::new(4, 4, (0..16).map(|v| v * 10).collect()).unwrap();
        let s = p.sample(&Affine::square(1.0, 1.0, 2.0, 2), 2);
        assert_eq!(&s[..], &[50.0, 60.0, 90.0, 100.0]);
        // Outside the picture is black.
        let s = p.sample(&Affine::square(-2.0, -2.0, 2.0, 2), 2);
        assert!(s.iter().all(|&v| v == 0.0));
    }

    #[test]
    fn a_turned_square_turns() {
        let t = Affine::turned_square((10.0, 10.0), 4.0, std::f32::consts::FRAC_PI_2, 4);
        // A quarter turn: the patch's top-left corner lands at the square's top-right.
        let (x, y) = t.apply(0.0, 0.0);
        assert!((x - 12.0).abs() < 1e-4 && (y - 8.0).abs() < 1e-4, "{x} {y}");
        let (x, y) = t.apply(2.0, 2.0);
        assert!((x - 10.0).abs() < 1e-4 && (y - 10.0).abs() < 1e-4);
    }

    #[test]
    fn face_buffers_never_print_their_values() {
        let s = Sensitive::new(vec![7u8, 9]);
        assert_eq!(format!("{s:?}"), "Sensitive(2 values)");
        let p = Picture::new(2, 1, vec![7, 9]).unwrap();
        assert!(!format!("{p:?}").contains('7'));
    }
}
