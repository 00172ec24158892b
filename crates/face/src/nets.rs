//! The three networks of the face-api package, rebuilt from their published structure:
//!
//! - [`Detector`]: the tiny face detector, a YOLO-style net of depthwise-separable
//!   convolutions over a 13 × 13 grid with five anchor boxes per cell;
//! - [`Landmarks`]: the 68-point landmark net (four dense blocks of separable convolutions);
//! - [`Descriptor`]: dlib's 29-convolution ResNet, 150 × 150 in, 128 values out, trained so
//!   that two pictures of one person lie within 0.6 of each other.
//!
//! Each takes a square grey patch already cut to its input size (values 0–255); the grey value
//! is given to all three colour channels, less each net's mean colour, divided by 255.

use crate::ops::{self, Map, Pad};
use crate::picture::Sensitive;
use crate::weights::{Tensor, Weights};
use crate::FaceError;
use std::path::Path;

/// The network input: the grey patch as three equal channels, normalised.
fn input(patch: &[f32], size: usize, mean: [f32; 3]) -> Sensitive<f32> {
    debug_assert_eq!(patch.len(), size * size);
    let mut data = Vec::with_capacity(size * size * 3);
    for &g in patch {
        for m in mean {
            data.push((g - m) / 255.0);
        }
    }
    Sensitive::new(data)
}

fn map(size: usize, data: Vec<f32>) -> Map {
    Map {
        h: size,
        w: size,
        c: 3,
        data,
    }
}

/// Overwrites an intermediate map before it is freed: activations describe the face too.
fn wipe(mut m: Map) {
    m.data.iter_mut().for_each(|v| *v = 0.0);
    std::hint::black_box(&mut m.data);
}

// ---------------------------------------------------------------------------------------------
// Shared pieces

struct Conv {
    filters: Tensor,
    bias: Tensor,
}

impl Conv {
    fn load(
        w: &mut Weights,
        prefix: &str,
        k: usize,
        cin: usize,
        cout: usize,
    ) -> Result<Self, FaceError> {
        Ok(Conv {
            filters: w.take(&format!("{prefix}/filters"), &[k, k, cin, cout])?,
            bias: w.take(&format!("{prefix}/bias"), &[cout])?,
        })
    }

    fn run(&self, x: &Map, stride: usize, pad: Pad) -> Map {
        let mut y = ops::conv2d(x, &self.filters, stride, pad);
        ops::add_bias(&mut y, &self.bias.data);
        y
    }
}

/// Depthwise 3 × 3 then pointwise, plus bias.
struct Separable {
    depthwise: Tensor,
    pointwise: Tensor,
    bias: Tensor,
}

impl Separable {
    fn load(w: &mut Weights, prefix: &str, cin: usize, cout: usize) -> Result<Self, FaceError> {
        Ok(Separable {
            depthwise: w.take(&format!("{prefix}/depthwise_filter"), &[3, 3, cin, 1])?,
            pointwise: w.take(&format!("{prefix}/pointwise_filter"), &[1, 1, cin, cout])?,
            bias: w.take(&format!("{prefix}/bias"), &[cout])?,
        })
    }

    fn run(&self, x: &Map, stride: usize) -> Map {
        let d = ops::depthwise(x, &self.depthwise, stride, Pad::Same);
        let mut y = ops::pointwise(&d, &self.pointwise);
        wipe(d);
        ops::add_bias(&mut y, &self.bias.data);
        y
    }
}

// ---------------------------------------------------------------------------------------------
// The detector

/// A face found in a picture: its box in the picture's pixels and the detector's confidence.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    pub x: f32,
    pub y: f32,
    pub width: f32,
    pub height: f32,
    pub score: f32,
}

/// The tiny face detector.
pub struct Detector {
    conv0: Conv,
    layers: Vec<Separable>,
    conv8: Conv,
}

const DETECTOR_MEAN: [f32; 3] = [117.001, 114.697, 97.404];
const ANCHORS: [(f32, f32); 5] = [
    (1.603231, 2.094468),
    (6.041143, 7.080126),
    (2.882459, 3.518061),
    (4.266906, 5.178857),
    (9.041765, 10.66308),
];

impl Detector {
    pub const MODEL: &'static str = "tiny_face_detector_model";

    pub fn load(dir: &Path) -> Result<Self, FaceError> {
        let mut w = Weights::load(dir, Self::MODEL)?;
        let sizes = [16, 32, 64, 128, 256, 512];
        let conv0 = Conv::load(&mut w, "conv0", 3, 3, 16)?;
        let layers = (1..6)
            .map(|i| Separable::load(&mut w, &format!("conv{i}"), sizes[i - 1], sizes[i]))
            .collect::<Result<_, _>>()?;
        let conv8 = Conv::load(&mut w, "conv8", 1, 512, 25)?;
        Ok(Detector {
            conv0,
            layers,
            conv8,
        })
    }

    /// Faces in a square patch of `size` (a multiple of 32), with their boxes relative to the
    /// patch (0–1), scoring above `min_score`, overlaps removed.
    pub fn run(&self, patch: &[f32], size: usize, min_score: f32) -> Vec<Detection> {
        let x = input(patch, size, DETECTOR_MEAN);
        let m = map(size, x.to_vec());
        drop(x);
        let mut y = self.conv0.run(&m, 1, Pad::Valid);
        wipe(m);
        ops::leaky(&mut y);
        for layer in &self.layers {
            let pooled = ops::max_pool(&y, 2, 2, Pad::Same);
            wipe(y);
            y = layer.run(&pooled, 1);
            wipe(pooled);
            ops::leaky(&mut y);
        }
        // The last pool (2 × 2, stride 1) comes after conv5.
        let pooled = ops::max_pool(&y, 2, 1, Pad::Same);
        wipe(y);
        let out = self.conv8.run(&pooled, 1, Pad::Valid);
        wipe(pooled);
        let cells = out.h;
        let sigmoid = |v: f32| 1.0 / (1.0 + (-v).exp());
        let mut found = Vec::new();
        for row in 0..cells {
            for col in 0..cells {
                for (anchor, (aw, ah)) in ANCHORS.iter().enumerate() {
                    let v = &out.data[(row * cells + col) * 25 + anchor * 5..][..5];
                    let score = sigmoid(v[4]);
                    if score <= min_score {
                        continue;
                    }
                    let cx = (col as f32 + sigmoid(v[0])) / cells as f32;
                    let cy = (row as f32 + sigmoid(v[1])) / cells as f32;
                    let w = v[2].exp() * aw / cells as f32;
                    let h = v[3].exp() * ah / cells as f32;
                    found.push(Detection {
                        x: cx - w / 2.0,
                        y: cy - h / 2.0,
                        width: w,
                        height: h,
                        score,
                    });
                }
            }
        }
        wipe(out);
        non_max_suppression(found, 0.4)
    }
}

fn iou(a: &Detection, b: &Detection) -> f32 {
    let x0 = a.x.max(b.x);
    let y0 = a.y.max(b.y);
    let x1 = (a.x + a.width).min(b.x + b.width);
    let y1 = (a.y + a.height).min(b.y + b.height);
    let inter = (x1 - x0).max(0.0) * (y1 - y0).max(0.0);
    let union = a.width * a.height + b.width * b.height - inter;
    if union <= 0.0 {
        0.0
    } else {
        inter / union
    }
}

/// Keeps the best-scoring box of every group overlapping by more than `threshold`.
fn non_max_suppression(mut boxes: Vec<Detection>, threshold: f32) -> Vec<Detection> {
    boxes.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<Detection> = Vec::new();
    for b in boxes {
        if kept.iter().all(|k| iou(k, &b) <= threshold) {
            kept.push(b);
        }
    }
    kept
}

// ---------------------------------------------------------------------------------------------
// The landmark net

/// The 68-point landmark net.
pub struct Landmarks {
    conv0: Conv,
    blocks: Vec<[Separable; 4]>,
    first: [Separable; 3],
    fc_weights: Tensor,
    fc_bias: Tensor,
}

/// The landmark and descriptor nets' mean colour.
const FACE_MEAN: [f32; 3] = [122.782, 117.001, 104.298];

impl Landmarks {
    pub const MODEL: &'static str = "face_landmark_68_model";
    pub const INPUT: usize = 112;

    pub fn load(dir: &Path) -> Result<Self, FaceError> {
        let mut w = Weights::load(dir, Self::MODEL)?;
        let conv0 = Conv::load(&mut w, "dense0/conv0", 3, 3, 32)?;
        let first = [
            Separable::load(&mut w, "dense0/conv1", 32, 32)?,
            Separable::load(&mut w, "dense0/conv2", 32, 32)?,
            Separable::load(&mut w, "dense0/conv3", 32, 32)?,
        ];
        let mut blocks = Vec::new();
        for (i, (cin, cout)) in [(32, 64), (64, 128), (128, 256)].into_iter().enumerate() {
            let p = format!("dense{}", i + 1);
            blocks.push([
                Separable::load(&mut w, &format!("{p}/conv0"), cin, cout)?,
                Separable::load(&mut w, &format!("{p}/conv1"), cout, cout)?,
                Separable::load(&mut w, &format!("{p}/conv2"), cout, cout)?,
                Separable::load(&mut w, &format!("{p}/conv3"), cout, cout)?,
            ]);
        }
        Ok(Landmarks {
            conv0,
            blocks,
            first,
            fc_weights: w.take("fc/weights", &[256, 136])?,
            fc_bias: w.take("fc/bias", &[136])?,
        })
    }

    /// The dense block's tail: each step adds the sum of all before it.
    fn dense(out1: Map, rest: &[Separable]) -> Map {
        let mut sum = out1;
        for layer in rest {
            let mut x = sum.clone();
            ops::relu(&mut x);
            let y = layer.run(&x, 1);
            wipe(x);
            ops::add(&mut sum, &y);
            wipe(y);
        }
        ops::relu(&mut sum);
        sum
    }

    /// 68 points `(x, y)` relative to the 112 × 112 patch (0–1).
    pub fn run(&self, patch: &[f32]) -> Sensitive<f32> {
        let x = input(patch, Self::INPUT, FACE_MEAN);
        let m = map(Self::INPUT, x.to_vec());
        drop(x);
        let mut out1 = self.conv0.run(&m, 2, Pad::Same);
        wipe(m);
        ops::relu(&mut out1);
        let mut y = Self::dense(out1, &self.first);
        for block in &self.blocks {
            let mut out1 = block[0].run(&y, 2);
            wipe(y);
            ops::relu(&mut out1);
            y = Self::dense(out1, &block[1..]);
        }
        let pooled = ops::avg_pool(&y, 7, 2);
        wipe(y);
        let mut points = Sensitive::new(self.fc_bias.data.clone());
        ops::gemm(
            &pooled.data,
            &self.fc_weights.data,
            &mut points,
            1,
            256,
            136,
        );
        wipe(pooled);
        points
    }
}

// ---------------------------------------------------------------------------------------------
// The descriptor net

/// A convolution with bias, then a per-channel scale (dlib's batch norm, folded).
struct ScaledConv {
    conv: Conv,
    weights: Tensor,
    biases: Tensor,
}

impl ScaledConv {
    fn load(
        w: &mut Weights,
        prefix: &str,
        k: usize,
        cin: usize,
        cout: usize,
    ) -> Result<Self, FaceError> {
        Ok(ScaledConv {
            conv: Conv::load(w, &format!("{prefix}/conv"), k, cin, cout)?,
            weights: w.take(&format!("{prefix}/scale/weights"), &[cout])?,
            biases: w.take(&format!("{prefix}/scale/biases"), &[cout])?,
        })
    }

    fn run(&self, x: &Map, stride: usize, pad: Pad, relu: bool) -> Map {
        let mut y = self.conv.run(x, stride, pad);
        ops::scale(&mut y, &self.weights.data, &self.biases.data);
        if relu {
            ops::relu(&mut y);
        }
        y
    }
}

struct Residual {
    conv1: ScaledConv,
    conv2: ScaledConv,
    down: bool,
}

impl Residual {
    fn load(
        w: &mut Weights,
        prefix: &str,
        cin: usize,
        cout: usize,
        down: bool,
    ) -> Result<Self, FaceError> {
        Ok(Residual {
            conv1: ScaledConv::load(w, &format!("{prefix}/conv1"), 3, cin, cout)?,
            conv2: ScaledConv::load(w, &format!("{prefix}/conv2"), 3, cout, cout)?,
            down,
        })
    }

    fn run(&self, x: Map) -> Map {
        if !self.down {
            let y = self.conv1.run(&x, 1, Pad::Same, true);
            let mut out = self.conv2.run(&y, 1, Pad::Same, false);
            wipe(y);
            ops::add(&mut out, &x);
            wipe(x);
            ops::relu(&mut out);
            return out;
        }
        let y = self.conv1.run(&x, 2, Pad::Valid, true);
        let branch = self.conv2.run(&y, 1, Pad::Same, false);
        wipe(y);
        // The shortcut: 2 × 2 average, channels padded with zeros; the branch padded with a
        // zero row and column at the bottom and right when it came out smaller.
        let pooled = ops::avg_pool(&x, 2, 2);
        wipe(x);
        let mut out = Map::zeros(pooled.h, pooled.w, branch.c);
        for py in 0..out.h {
            for px in 0..out.w {
                let o = &mut out.data[(py * out.w + px) * out.c..][..out.c];
                o[..pooled.c]
                    .copy_from_slice(&pooled.data[(py * pooled.w + px) * pooled.c..][..pooled.c]);
                if py < branch.h && px < branch.w {
                    let b = &branch.data[(py * branch.w + px) * branch.c..][..branch.c];
                    o.iter_mut().zip(b).for_each(|(o, b)| *o += b);
                }
            }
        }
        wipe(pooled);
        wipe(branch);
        ops::relu(&mut out);
        out
    }
}

/// dlib's face recognition ResNet.
pub struct Descriptor {
    stem: ScaledConv,
    layers: Vec<Residual>,
    fc: Tensor,
}

impl Descriptor {
    pub const MODEL: &'static str = "face_recognition_model";
    pub const INPUT: usize = 150;

    pub fn load(dir: &Path) -> Result<Self, FaceError> {
        let mut w = Weights::load(dir, Self::MODEL)?;
        let stem = ScaledConv::load(&mut w, "conv32_down", 7, 3, 32)?;
        let plan: [(&str, usize, usize, bool); 13] = [
            ("conv32_1", 32, 32, false),
            ("conv32_2", 32, 32, false),
            ("conv32_3", 32, 32, false),
            ("conv64_down", 32, 64, true),
            ("conv64_1", 64, 64, false),
            ("conv64_2", 64, 64, false),
            ("conv64_3", 64, 64, false),
            ("conv128_down", 64, 128, true),
            ("conv128_1", 128, 128, false),
            ("conv128_2", 128, 128, false),
            ("conv256_down", 128, 256, true),
            ("conv256_1", 256, 256, false),
            ("conv256_2", 256, 256, false),
        ];
        let mut layers = plan
            .iter()
            .map(|&(p, cin, cout, down)| Residual::load(&mut w, p, cin, cout, down))
            .collect::<Result<Vec<_>, _>>()?;
        layers.push(Residual::load(&mut w, "conv256_down_out", 256, 256, true)?);
        Ok(Descriptor {
            stem,
            layers,
            fc: w.take("fc", &[256, 128])?,
        })
    }

    /// The 128 values describing the face in a 150 × 150 patch.
    pub fn run(&self, patch: &[f32]) -> Sensitive<f32> {
        let x = input(patch, Self::INPUT, FACE_MEAN);
        let m = map(Self::INPUT, x.to_vec());
        drop(x);
        let y = self.stem.run(&m, 2, Pad::Valid, true);
        wipe(m);
        let mut y2 = ops::max_pool(&y, 3, 2, Pad::Valid);
        wipe(y);
        for layer in &self.layers {
            y2 = layer.run(y2);
        }
        let mut mean = vec![0.0f32; y2.c];
        for px in y2.data.chunks_exact(y2.c) {
            mean.iter_mut().zip(px).for_each(|(m, v)| *m += v);
        }
        let n = (y2.h * y2.w) as f32;
        mean.iter_mut().for_each(|m| *m /= n);
        let mean = Sensitive::new(mean);
        wipe(y2);
        let mut out = Sensitive::new(vec![0.0f32; 128]);
        ops::gemm(&mean, &self.fc.data, &mut out, 1, 256, 128);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_boxes_keep_the_best() {
        let d = |x: f32, score: f32| Detection {
            x,
            y: 0.0,
            width: 1.0,
            height: 1.0,
            score,
        };
        let kept = non_max_suppression(vec![d(0.0, 0.6), d(0.1, 0.9), d(5.0, 0.7)], 0.4);
        assert_eq!(kept, vec![d(0.1, 0.9), d(5.0, 0.7)]);
    }
}
