//! The layers the three networks are made of, on height × width × channel maps of `f32`, with
//! TensorFlow's padding rules (the weights were trained under them): convolution through a
//! patch matrix and a blocked matrix product, depthwise convolution, pooling, and the
//! per-channel steps. Plain safe Rust that the compiler vectorises.

use crate::weights::Tensor;

/// A feature map: `h × w × c` values, channel fastest.
#[derive(Debug, Clone, PartialEq)]
pub struct Map {
    pub h: usize,
    pub w: usize,
    pub c: usize,
    pub data: Vec<f32>,
}

impl Map {
    pub fn zeros(h: usize, w: usize, c: usize) -> Map {
        Map {
            h,
            w,
            c,
            data: vec![0.0; h * w * c],
        }
    }
}

/// TensorFlow's padding modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pad {
    /// Output `ceil(n / stride)`, the padding split with the smaller half before.
    Same,
    /// No padding: output `(n - k) / stride + 1`.
    Valid,
}

/// Output size and padding before, for input `n`, kernel `k`, `stride`.
fn geometry(n: usize, k: usize, stride: usize, pad: Pad) -> (usize, usize) {
    match pad {
        Pad::Valid => ((n.saturating_sub(k)) / stride + 1, 0),
        Pad::Same => {
            let out = n.div_ceil(stride);
            let total = ((out - 1) * stride + k).saturating_sub(n);
            (out, total / 2)
        }
    }
}

/// `c += a × b` for row-major `a` (m × k), `b` (k × n), `c` (m × n). Four rows of `a` at a
/// time share each row of `b`; `k` is taken in blocks so the rows of `b` stay in cache.
pub fn gemm(a: &[f32], b: &[f32], c: &mut [f32], m: usize, k: usize, n: usize) {
    debug_assert!(a.len() >= m * k && b.len() >= k * n && c.len() >= m * n);
    const KB: usize = 128;
    for k0 in (0..k).step_by(KB) {
        let k1 = (k0 + KB).min(k);
        let mut i = 0;
        while i + 4 <= m {
            let (c0, rest) = c[i * n..(i + 4) * n].split_at_mut(n);
            let (c1, rest) = rest.split_at_mut(n);
            let (c2, c3) = rest.split_at_mut(n);
            for p in k0..k1 {
                let brow = &b[p * n..(p + 1) * n];
                let (a0, a1, a2, a3) = (
                    a[i * k + p],
                    a[(i + 1) * k + p],
                    a[(i + 2) * k + p],
                    a[(i + 3) * k + p],
                );
                for ((((x0, x1), x2), x3), &bv) in c0
                    .iter_mut()
                    .zip(c1.iter_mut())
                    .zip(c2.iter_mut())
                    .zip(c3.iter_mut())
                    .zip(brow)
                {
                    *x0 += a0 * bv;
                    *x1 += a1 * bv;
                    *x2 += a2 * bv;
                    *x3 += a3 * bv;
                }
            }
            i += 4;
        }
        for i in i..m {
            let crow = &mut c[i * n..(i + 1) * n];
            for p in k0..k1 {
                let av = a[i * k + p];
                for (x, &bv) in crow.iter_mut().zip(&b[p * n..(p + 1) * n]) {
                    *x += av * bv;
                }
            }
        }
    }
}

/// A k × k window sliding over a map: the output's size and the padding before the first row
/// and column.
struct Window {
    k: usize,
    stride: usize,
    oh: usize,
    ow: usize,
    top: usize,
    left: usize,
}

impl Window {
    fn new(x: &Map, k: usize, stride: usize, pad: Pad) -> Window {
        let (oh, top) = geometry(x.h, k, stride, pad);
        let (ow, left) = geometry(x.w, k, stride, pad);
        Window {
            k,
            stride,
            oh,
            ow,
            top,
            left,
        }
    }

    /// Calls `visit(output, tap, input)` for every tap of every window position that falls
    /// inside `x`: the output position (`oy · ow + ox`), the tap (`ky · k + kx`) and the input
    /// position (`iy · w + ix`). Taps in the padding are skipped.
    fn each(&self, x: &Map, mut visit: impl FnMut(usize, usize, usize)) {
        for oy in 0..self.oh {
            for ox in 0..self.ow {
                let o = oy * self.ow + ox;
                for ky in 0..self.k {
                    let iy = (oy * self.stride + ky) as isize - self.top as isize;
                    if iy < 0 || iy >= x.h as isize {
                        continue;
                    }
                    for kx in 0..self.k {
                        let ix = (ox * self.stride + kx) as isize - self.left as isize;
                        if ix < 0 || ix >= x.w as isize {
                            continue;
                        }
                        visit(o, ky * self.k + kx, iy as usize * x.w + ix as usize);
                    }
                }
            }
        }
    }
}

/// A convolution with filters `f` (k × k × in × out, TensorFlow's layout) and no bias.
pub fn conv2d(x: &Map, f: &Tensor, stride: usize, pad: Pad) -> Map {
    let (k, cin, cout) = (f.shape[0], f.shape[2], f.shape[3]);
    debug_assert_eq!(cin, x.c);
    let window = Window::new(x, k, stride, pad);
    let (oh, ow) = (window.oh, window.ow);
    let kk = k * k * cin;
    // The patch matrix: one row per output position, in the filters' (ky, kx, in) order.
    let mut cols = vec![0.0f32; oh * ow * kk];
    window.each(x, |o, tap, i| {
        let dst = o * kk + tap * cin;
        cols[dst..dst + cin].copy_from_slice(&x.data[i * cin..][..cin]);
    });
    let mut out = Map::zeros(oh, ow, cout);
    gemm(&cols, &f.data, &mut out.data, oh * ow, kk, cout);
    out
}

/// A depthwise 3 × 3 (or k × k) convolution with filters `f` (k × k × c × 1), no bias.
pub fn depthwise(x: &Map, f: &Tensor, stride: usize, pad: Pad) -> Map {
    let (k, c) = (f.shape[0], f.shape[2]);
    debug_assert_eq!(c, x.c);
    let window = Window::new(x, k, stride, pad);
    let mut out = Map::zeros(window.oh, window.ow, c);
    window.each(x, |o, tap, i| {
        let o = &mut out.data[o * c..][..c];
        let src = &x.data[i * c..][..c];
        let w = &f.data[tap * c..][..c];
        for ((o, &s), &w) in o.iter_mut().zip(src).zip(w) {
            *o += s * w;
        }
    });
    out
}

/// A 1 × 1 convolution with filters `f` (1 × 1 × in × out).
pub fn pointwise(x: &Map, f: &Tensor) -> Map {
    let cout = f.shape[3];
    let mut out = Map::zeros(x.h, x.w, cout);
    gemm(&x.data, &f.data, &mut out.data, x.h * x.w, x.c, cout);
    out
}

/// Max pooling; padded positions never win.
pub fn max_pool(x: &Map, k: usize, stride: usize, pad: Pad) -> Map {
    let window = Window::new(x, k, stride, pad);
    let c = x.c;
    let mut out = Map {
        h: window.oh,
        w: window.ow,
        c,
        data: vec![f32::NEG_INFINITY; window.oh * window.ow * c],
    };
    window.each(x, |o, _, i| {
        let o = &mut out.data[o * c..][..c];
        for (o, &s) in o.iter_mut().zip(&x.data[i * c..][..c]) {
            *o = o.max(s);
        }
    });
    out
}

/// Average pooling without padding.
pub fn avg_pool(x: &Map, k: usize, stride: usize) -> Map {
    let window = Window::new(x, k, stride, Pad::Valid);
    let c = x.c;
    let mut out = Map::zeros(window.oh, window.ow, c);
    window.each(x, |o, _, i| {
        let o = &mut out.data[o * c..][..c];
        for (o, &s) in o.iter_mut().zip(&x.data[i * c..][..c]) {
            *o += s;
        }
    });
    let norm = 1.0 / (k * k) as f32;
    out.data.iter_mut().for_each(|v| *v *= norm);
    out
}

/// Adds a per-channel `bias`.
pub fn add_bias(x: &mut Map, bias: &[f32]) {
    for px in x.data.chunks_exact_mut(x.c) {
        px.iter_mut().zip(bias).for_each(|(v, b)| *v += b);
    }
}

/// `x * weights + biases`, per channel.
pub fn scale(x: &mut Map, weights: &[f32], biases: &[f32]) {
    for px in x.data.chunks_exact_mut(x.c) {
        for ((v, w), b) in px.iter_mut().zip(weights).zip(biases) {
            *v = *v * w + b;
        }
    }
}

pub fn relu(x: &mut Map) {
    x.data.iter_mut().for_each(|v| *v = v.max(0.0));
}

/// Leaky ReLU with slope 0.1 below zero.
pub fn leaky(x: &mut Map) {
    x.data.iter_mut().for_each(|v| *v = v.max(*v * 0.1));
}

/// `x += y`, element by element (same shapes).
pub fn add(x: &mut Map, y: &Map) {
    debug_assert_eq!((x.h, x.w, x.c), (y.h, y.w, y.c));
    x.data.iter_mut().zip(&y.data).for_each(|(a, b)| *a += b);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensor(shape: &[usize], data: Vec<f32>) -> Tensor {
        Tensor {
            shape: shape.to_vec(),
            data,
        }
    }

    /// A convolution computed the obvious way, for comparison.
    fn naive_conv(x: &Map, f: &Tensor, stride: usize, pad: Pad) -> Map {
        let (k, cin, cout) = (f.shape[0], f.shape[2], f.shape[3]);
        let (oh, top) = geometry(x.h, k, stride, pad);
        let (ow, left) = geometry(x.w, k, stride, pad);
        let mut out = Map::zeros(oh, ow, cout);
        for oy in 0..oh {
            for ox in 0..ow {
                for co in 0..cout {
                    let mut s = 0.0;
                    for ky in 0..k {
                        for kx in 0..k {
                            let iy = (oy * stride + ky) as isize - top as isize;
                            let ix = (ox * stride + kx) as isize - left as isize;
                            if iy < 0 || ix < 0 || iy >= x.h as isize || ix >= x.w as isize {
                                continue;
                            }
                            for ci in 0..cin {
                                s += x.data[(iy as usize * x.w + ix as usize) * cin + ci]
                                    * f.data[((ky * k + kx) * cin + ci) * cout + co];
                            }
                        }
                    }
                    out.data[(oy * ow + ox) * cout + co] = s;
                }
            }
        }
        out
    }

    fn pseudo(n: usize, seed: u32) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (s >> 8) as f32 / (1u32 << 24) as f32 - 0.5
            })
            .collect()
    }

    #[test]
    fn tensorflow_padding_geometry() {
        // (n, k, stride, pad) → (out, before)
        let cases = [
            (112, 3, 2, Pad::Same, 56, 0),
            (113, 3, 2, Pad::Same, 57, 1),
            (150, 7, 2, Pad::Valid, 72, 0),
            (35, 3, 2, Pad::Valid, 17, 0),
            (207, 2, 2, Pad::Same, 104, 0),
            (13, 2, 1, Pad::Same, 13, 0),
            (35, 3, 1, Pad::Same, 35, 1),
        ];
        for (n, k, s, p, out, before) in cases {
            assert_eq!(geometry(n, k, s, p), (out, before), "{n} {k} {s} {p:?}");
        }
    }

    #[test]
    fn convolution_matches_the_definition() {
        for (h, w, cin, cout, k, stride, pad) in [
            (9, 7, 3, 5, 3, 1, Pad::Same),
            (9, 8, 3, 6, 3, 2, Pad::Same),
            (11, 11, 2, 4, 7, 2, Pad::Valid),
            (6, 5, 9, 3, 1, 1, Pad::Valid),
        ] {
            let x = Map {
                h,
                w,
                c: cin,
                data: pseudo(h * w * cin, 1),
            };
            let f = tensor(&[k, k, cin, cout], pseudo(k * k * cin * cout, 2));
            let a = conv2d(&x, &f, stride, pad);
            let b = naive_conv(&x, &f, stride, pad);
            assert_eq!((a.h, a.w, a.c), (b.h, b.w, b.c));
            for (p, q) in a.data.iter().zip(&b.data) {
                assert!((p - q).abs() < 1e-5, "{p} vs {q}");
            }
        }
    }

    #[test]
    fn depthwise_is_a_convolution_per_channel() {
        let x = Map {
            h: 7,
            w: 6,
            c: 3,
            data: pseudo(7 * 6 * 3, 3),
        };
        let f = tensor(&[3, 3, 3, 1], pseudo(27, 4));
        for stride in [1, 2] {
            let d = depthwise(&x, &f, stride, Pad::Same);
            // The same as a full convolution whose filters are zero across channels.
            let mut full = vec![0.0; 3 * 3 * 3 * 3];
            for t in 0..9 {
                for c in 0..3 {
                    full[(t * 3 + c) * 3 + c] = f.data[t * 3 + c];
                }
            }
            let b = naive_conv(&x, &tensor(&[3, 3, 3, 3], full), stride, Pad::Same);
            for (p, q) in d.data.iter().zip(&b.data) {
                assert!((p - q).abs() < 1e-5);
            }
        }
    }

    #[test]
    fn pooling() {
        let x = Map {
            h: 3,
            w: 3,
            c: 1,
            data: (1..=9).map(|v| v as f32).collect(),
        };
        let m = max_pool(&x, 2, 2, Pad::Same);
        assert_eq!((m.h, m.w, m.data.clone()), (2, 2, vec![5.0, 6.0, 8.0, 9.0]));
        let a = avg_pool(&x, 2, 2);
        assert_eq!((a.h, a.w, a.data), (1, 1, vec![3.0]));
        let mut l = Map {
            h: 1,
            w: 2,
            c: 1,
            data: vec![-2.0, 3.0],
        };
        leaky(&mut l);
        assert_eq!(l.data, vec![-0.2, 3.0]);
    }
}
