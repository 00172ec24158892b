//! A baseline JPEG 2000 Part 1 (ITU-T T.800 | ISO/IEC 15444-1) encoder for one 8-bit
//! greyscale component: what a virtual card needs to carry a face photo.
//!
//! One tile, irreversible 9/7 wavelet (Annex F), scalar expounded quantization (Annex E),
//! 64 × 64 code-blocks coded by EBCOT with the MQ coder and one termination per block
//! (Annexes C, D), one quality layer, one precinct per resolution, LRCP (Annex B). The rate is
//! controlled by the quantization step: the finest step whose codestream fits the budget.
//!
//! Written here because no encoder on crates.io that this workspace can use writes a
//! conforming codestream in memory without `unsafe` in our code (see the module above);
//! the decoder stays the library's, and the tests decode this encoder's output with it.

/// Lifting coefficients and scaling of the 9/7 filter (T.800 Table F.4).
const ALPHA: f64 = -1.586_134_342_059_924;
const BETA: f64 = -0.052_980_118_572_961;
const GAMMA: f64 = 0.882_911_075_530_934;
const DELTA: f64 = 0.443_506_852_043_971;
const KAPPA: f64 = 1.230_174_104_914_001;

/// Most wavelet levels used (fewer for pictures too small for them).
const MAX_LEVELS: u32 = 5;
/// Code-block width and height exponents (64 × 64), written as exponent − 2.
const CODE_BLOCK_EXP: u32 = 6;
/// Guard bits in the QCD marker, unless the coefficients need more.
const MIN_GUARD_BITS: u32 = 2;
/// The largest number of guard bits QCD can signal (3 bits).
const MAX_GUARD_BITS: u32 = 7;

/// Image-domain quantization steps tried by the rate control, finest first.
const FINEST_STEP: f64 = 1.0;
const COARSEST_STEP: f64 = 256.0;
/// Bisection rounds between them: the step found is within 2^(8/2^7) ≈ 4.4 % of the finest
/// that fits.
const RATE_ROUNDS: u32 = 7;

/// Subband orientation: decides the zero-coding contexts and the nominal gain.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Band {
    /// Low-pass both ways.
    Ll,
    /// High-pass horizontally, low-pass vertically.
    Hl,
    /// Low-pass horizontally, high-pass vertically.
    Lh,
    /// High-pass both ways.
    Hh,
}

impl Band {
    /// log2 of the nominal dynamic-range gain (T.800 E.1.1, Equation E-4's R_b = R_I + gain).
    fn log_gain(self) -> i32 {
        match self {
            Band::Ll => 0,
            Band::Hl | Band::Lh => 1,
            Band::Hh => 2,
        }
    }
}

/// One subband of the decomposition: where it sits in the transformed buffer.
#[derive(Clone, Copy, Debug)]
struct Subband {
    band: Band,
    /// Decomposition level (1 = finest; the LL band has the deepest level).
    level: u32,
    x0: usize,
    y0: usize,
    width: usize,
    height: usize,
}

/// Encodes `pixels` (`width × height`, row by row, 8-bit unsigned) as a JPEG 2000 codestream
/// of at most `max_bytes`, with the finest quantization step that fits. `None` when even the
/// coarsest step does not fit.
pub(super) fn encode_codestream(
    pixels: &[u8],
    width: usize,
    height: usize,
    max_bytes: usize,
) -> Option<Vec<u8>> {
    let levels = decomposition_levels(width, height);
    let mut coefficients: Vec<f64> = pixels.iter().map(|&p| f64::from(p) - 128.0).collect();
    forward_dwt(&mut coefficients, width, height, levels);
    let subbands = subbands(width, height, levels);
    let norms = SynthesisNorms::new(levels);

    let encode = |step: f64| {
        encode_at_step(
            &coefficients,
            width,
            height,
            levels,
            &subbands,
            &norms,
            step,
        )
    };
    // Bisection on log2(step): `fits` always fits, `too_fine` never does (the finest step is
    // taken as too fine: a real photo never fits at it, and trying it costs the most).
    let (mut too_fine, mut fits) = (FINEST_STEP.log2(), COARSEST_STEP.log2());
    let mut best = encode(COARSEST_STEP).filter(|c| c.len() <= max_bytes)?;
    for _ in 0..RATE_ROUNDS {
        let middle = (too_fine + fits) / 2.0;
        let candidate = encode(middle.exp2())?;
        if candidate.len() <= max_bytes {
            fits = middle;
            best = candidate;
        } else {
            too_fine = middle;
        }
    }
    Some(best)
}

/// Wavelet levels: at most [`MAX_LEVELS`], and only while both sides of the band being split
/// have at least two samples (so that no subband is empty).
fn decomposition_levels(width: usize, height: usize) -> u32 {
    let mut levels = 0;
    let (mut w, mut h) = (width, height);
    while levels < MAX_LEVELS && w >= 2 && h >= 2 {
        w = w.div_ceil(2);
        h = h.div_ceil(2);
        levels += 1;
    }
    levels
}

/// The subbands in codestream order: LL of the deepest level, then HL, LH, HH from the
/// deepest level to level 1 (one resolution after another).
fn subbands(width: usize, height: usize, levels: u32) -> Vec<Subband> {
    // Sizes of the LL region before each level: sizes[l] = size after l levels.
    let mut sizes = vec![(width, height)];
    for _ in 0..levels {
        let (w, h) = *sizes.last().unwrap_or(&(width, height));
        sizes.push((w.div_ceil(2), h.div_ceil(2)));
    }
    let (ll_w, ll_h) = sizes[levels as usize];
    let mut out = vec![Subband {
        band: Band::Ll,
        level: levels,
        x0: 0,
        y0: 0,
        width: ll_w,
        height: ll_h,
    }];
    for level in (1..=levels).rev() {
        let (outer_w, outer_h) = sizes[level as usize - 1];
        let (low_w, low_h) = sizes[level as usize];
        let (high_w, high_h) = (outer_w - low_w, outer_h - low_h);
        for (band, x0, y0, w, h) in [
            (Band::Hl, low_w, 0, high_w, low_h),
            (Band::Lh, 0, low_h, low_w, high_h),
            (Band::Hh, low_w, low_h, high_w, high_h),
        ] {
            out.push(Subband {
                band,
                level,
                x0,
                y0,
                width: w,
                height: h,
            });
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Wavelet transform (Annex F).

/// Forward 2D transform in place, Mallat layout: after each level the low band occupies the
/// top-left `ceil(w/2) × ceil(h/2)` of the region it was computed from.
fn forward_dwt(data: &mut [f64], stride: usize, height: usize, levels: u32) {
    let (mut w, mut h) = (stride, height);
    let mut line = Vec::with_capacity(stride.max(height));
    for _ in 0..levels {
        for y in 0..h {
            let row = &mut data[y * stride..y * stride + w];
            forward_1d(row, &mut line);
        }
        for x in 0..w {
            line.clear();
            line.extend((0..h).map(|y| data[y * stride + x]));
            let mut column = line.clone();
            forward_1d(&mut column, &mut line);
            for (y, value) in column.into_iter().enumerate() {
                data[y * stride + x] = value;
            }
        }
        w = w.div_ceil(2);
        h = h.div_ceil(2);
    }
}

/// Whole-sample symmetric extension (F.3.7) of index `i` into `0..n` (n ≥ 2).
fn mirror(i: isize, n: usize) -> usize {
    let last = n as isize - 1;
    let i = if i < 0 { -i } else { i };
    (if i > last { 2 * last - i } else { i }) as usize
}

/// One lifting step: every sample of parity `first` gets `c × (left + right)` added.
fn lift(x: &mut [f64], first: usize, c: f64) {
    let n = x.len();
    for i in (first..n).step_by(2) {
        let left = x[mirror(i as isize - 1, n)];
        let right = x[mirror(i as isize + 1, n)];
        x[i] += c * (left + right);
    }
}

/// Forward 1D 9/7 transform of a signal starting at an even index (F.4.8.2), then
/// de-interleaved: the `ceil(n/2)` low-pass coefficients first, then the high-pass ones.
fn forward_1d(x: &mut [f64], scratch: &mut Vec<f64>) {
    let n = x.len();
    if n < 2 {
        return;
    }
    lift(x, 1, ALPHA);
    lift(x, 0, BETA);
    lift(x, 1, GAMMA);
    lift(x, 0, DELTA);
    scratch.clear();
    scratch.extend(x.iter().step_by(2).map(|v| v / KAPPA));
    scratch.extend(x.iter().skip(1).step_by(2).map(|v| v * KAPPA));
    x.copy_from_slice(scratch);
}

/// Inverse 1D 9/7 transform (F.3.8.2) of de-interleaved coefficients; used to measure the
/// synthesis basis norms that weight the quantization steps.
fn inverse_1d(x: &mut [f64]) {
    let n = x.len();
    if n < 2 {
        return;
    }
    let low = n.div_ceil(2);
    let mut interleaved = vec![0.0; n];
    for (i, v) in x.iter().enumerate() {
        let (slot, scale) = if i < low {
            (2 * i, KAPPA)
        } else {
            (2 * (i - low) + 1, 1.0 / KAPPA)
        };
        interleaved[slot] = v * scale;
    }
    lift(&mut interleaved, 0, -DELTA);
    lift(&mut interleaved, 1, -GAMMA);
    lift(&mut interleaved, 0, -BETA);
    lift(&mut interleaved, 1, -ALPHA);
    x.copy_from_slice(&interleaved);
}

/// L2 norms of the 1D synthesis basis functions per level: a quantization error of 1 in a
/// coefficient of that band costs `norm²` of squared error in the picture.
struct SynthesisNorms {
    /// `low[l]`, `high[l]` for levels 1..=levels (index 0 unused).
    low: Vec<f64>,
    high: Vec<f64>,
}

impl SynthesisNorms {
    fn new(levels: u32) -> SynthesisNorms {
        let mut low = vec![1.0];
        let mut high = vec![1.0];
        for level in 1..=levels {
            low.push(Self::measure(level, false));
            high.push(Self::measure(level, true));
        }
        SynthesisNorms { low, high }
    }

    /// Synthesises a unit impulse in the middle of the level-`level` band (low or high).
    fn measure(level: u32, high: bool) -> f64 {
        // Long enough that the impulse response never reaches a border.
        let n = 64usize << level;
        let lengths: Vec<usize> = (0..=level).map(|l| n >> l).collect();
        let band_len = lengths[level as usize];
        let mut signal = vec![0.0; band_len * 2];
        let index = if high {
            band_len + band_len / 2
        } else {
            band_len / 2
        };
        signal[index] = 1.0;
        inverse_1d(&mut signal);
        for l in (1..level).rev() {
            let mut wider = vec![0.0; lengths[l as usize - 1]];
            wider[..signal.len()].copy_from_slice(&signal);
            inverse_1d(&mut wider);
            signal = wider;
        }
        signal.iter().map(|v| v * v).sum::<f64>().sqrt()
    }

    /// The 2D norm of a subband (separable: horizontal × vertical).
    fn of(&self, subband: &Subband) -> f64 {
        let l = subband.level as usize;
        match subband.band {
            Band::Ll => self.low[l] * self.low[l],
            Band::Hl | Band::Lh => self.low[l] * self.high[l],
            Band::Hh => self.high[l] * self.high[l],
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Quantization (Annex E) and the whole codestream at one step.

/// A subband's quantization step as QCD writes it: Δ = 2^(R_b − ε)(1 + μ/2^11).
#[derive(Clone, Copy, Debug)]
struct Step {
    exponent: u32,
    mantissa: u32,
    delta: f64,
}

impl Step {
    /// The representable step closest below-or-at `delta` for a band of nominal range `r_b`.
    fn new(delta: f64, r_b: i32) -> Step {
        let mut exponent = r_b - delta.log2().floor() as i32;
        let mut mantissa = ((delta / f64::from(r_b - exponent).exp2() - 1.0) * 2048.0).round();
        if mantissa >= 2048.0 {
            mantissa = 0.0;
            exponent -= 1;
        }
        let (exponent, mantissa) = match exponent {
            e if e < 0 => (0, 2047),
            e if e > 31 => (31, 0),
            e => (e as u32, mantissa.max(0.0) as u32),
        };
        let delta = f64::from(r_b - exponent as i32).exp2() * (1.0 + f64::from(mantissa) / 2048.0);
        Step {
            exponent,
            mantissa,
            delta,
        }
    }
}

fn encode_at_step(
    coefficients: &[f64],
    width: usize,
    height: usize,
    levels: u32,
    subbands: &[Subband],
    norms: &SynthesisNorms,
    image_step: f64,
) -> Option<Vec<u8>> {
    // Quantize every band: the steps are weighted so that each band adds the same squared
    // error per coefficient to the picture.
    let mut steps = Vec::with_capacity(subbands.len());
    let mut quantized = Vec::with_capacity(subbands.len());
    let mut guard_bits = MIN_GUARD_BITS;
    for subband in subbands {
        let step = Step::new(image_step / norms.of(subband), 8 + subband.band.log_gain());
        let mut values = Vec::with_capacity(subband.width * subband.height);
        let mut largest = 0u32;
        for y in subband.y0..subband.y0 + subband.height {
            for x in subband.x0..subband.x0 + subband.width {
                let c = coefficients[y * width + x];
                let magnitude = (c.abs() / step.delta).floor() as u32;
                largest = largest.max(magnitude);
                values.push(if c < 0.0 {
                    -(magnitude as i32)
                } else {
                    magnitude as i32
                });
            }
        }
        // Bit-planes available: M_b = G + ε − 1 (Equation E-2) must hold the largest value.
        let needed = 32 - largest.leading_zeros();
        guard_bits = guard_bits.max((needed + 1).saturating_sub(step.exponent));
        steps.push(step);
        quantized.push(values);
    }
    if guard_bits > MAX_GUARD_BITS {
        return None;
    }

    let mut packets = PacketWriter::default();
    let mut resolution_start = 0;
    for resolution in 0..=levels as usize {
        let count = if resolution == 0 { 1 } else { 3 };
        let range = resolution_start..resolution_start + count;
        resolution_start += count;
        let coded: Vec<CodedBand> = range
            .map(|b| {
                let magnitude_bits = guard_bits + steps[b].exponent - 1;
                CodedBand::new(&subbands[b], &quantized[b], magnitude_bits)
            })
            .collect();
        packets.packet(&coded);
    }
    Some(codestream(
        width as u32,
        height as u32,
        levels,
        guard_bits,
        &steps,
        &packets.data,
    ))
}

/// SOC, SIZ, COD, QCD, one tile-part (SOT, SOD, the packets) and EOC (Annex A).
fn codestream(
    width: u32,
    height: u32,
    levels: u32,
    guard_bits: u32,
    steps: &[Step],
    packets: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(packets.len() + 128);
    out.extend_from_slice(&[0xFF, 0x4F]); // SOC
                                          // SIZ: Lsiz 41, Rsiz 0, the image and one tile both at the origin, one component of 8
                                          // unsigned bits, no subsampling.
    out.extend_from_slice(&[0xFF, 0x51, 0x00, 41, 0x00, 0x00]);
    for value in [width, height, 0, 0, width, height, 0, 0] {
        out.extend_from_slice(&value.to_be_bytes());
    }
    out.extend_from_slice(&[0x00, 0x01, 7, 1, 1]);
    // COD: Lcod 12, entropy-coder precincts, no SOP/EPH; LRCP, 1 layer, no MCT; levels,
    // 64 × 64 code-blocks, no code-block style flags, 9/7 irreversible.
    out.extend_from_slice(&[0xFF, 0x52, 0x00, 12, 0x00, 0x00, 0x00, 0x01, 0x00]);
    let cb = (CODE_BLOCK_EXP - 2) as u8;
    out.extend_from_slice(&[levels as u8, cb, cb, 0x00, 0x00]);
    // QCD: scalar expounded, one (ε, μ) pair per subband.
    let lqcd = 3 + 2 * steps.len();
    out.extend_from_slice(&[0xFF, 0x5C]);
    out.extend_from_slice(&(lqcd as u16).to_be_bytes());
    out.push(((guard_bits as u8) << 5) | 0x02);
    for step in steps {
        out.extend_from_slice(&((step.exponent << 11 | step.mantissa) as u16).to_be_bytes());
    }
    // SOT: Lsot 10, tile 0, Psot = the whole tile-part, tile-part 0 of 1.
    let psot = (12 + 2 + packets.len()) as u32;
    out.extend_from_slice(&[0xFF, 0x90, 0x00, 10, 0x00, 0x00]);
    out.extend_from_slice(&psot.to_be_bytes());
    out.extend_from_slice(&[0x00, 0x01]);
    out.extend_from_slice(&[0xFF, 0x93]); // SOD
    out.extend_from_slice(packets);
    out.extend_from_slice(&[0xFF, 0xD9]); // EOC
    out
}

// ---------------------------------------------------------------------------------------------
// Tier 2: packets (Annex B).

/// A subband's code-blocks, coded.
struct CodedBand {
    blocks_wide: usize,
    blocks_high: usize,
    blocks: Vec<CodedBlock>,
}

impl CodedBand {
    fn new(subband: &Subband, values: &[i32], magnitude_bits: u32) -> CodedBand {
        let size = 1usize << CODE_BLOCK_EXP;
        let blocks_wide = subband.width.div_ceil(size);
        let blocks_high = subband.height.div_ceil(size);
        let mut blocks = Vec::with_capacity(blocks_wide * blocks_high);
        let mut block = Vec::with_capacity(size * size);
        for by in 0..blocks_high {
            for bx in 0..blocks_wide {
                let (x0, y0) = (bx * size, by * size);
                let w = size.min(subband.width - x0);
                let h = size.min(subband.height - y0);
                block.clear();
                for y in y0..y0 + h {
                    block.extend_from_slice(&values[y * subband.width + x0..][..w]);
                }
                blocks.push(BlockCoder::encode(
                    &block,
                    w,
                    h,
                    subband.band,
                    magnitude_bits,
                ));
            }
        }
        CodedBand {
            blocks_wide,
            blocks_high,
            blocks,
        }
    }
}

#[derive(Default)]
struct PacketWriter {
    data: Vec<u8>,
}

impl PacketWriter {
    /// The one packet of a resolution (layer 0, the only precinct): header, then the blocks'
    /// codewords in the same order.
    fn packet(&mut self, bands: &[CodedBand]) {
        let mut header = HeaderBits::default();
        let non_empty = bands.iter().any(|b| b.blocks.iter().any(|c| c.passes > 0));
        header.bit(u32::from(non_empty));
        if non_empty {
            for band in bands {
                let mut inclusion = TagTree::new(band.blocks_wide, band.blocks_high);
                let mut zero_planes = TagTree::new(band.blocks_wide, band.blocks_high);
                for (i, block) in band.blocks.iter().enumerate() {
                    inclusion.set(i, u32::from(block.passes == 0));
                    zero_planes.set(i, block.zero_bitplanes);
                }
                for (i, block) in band.blocks.iter().enumerate() {
                    inclusion.encode(&mut header, i, 1);
                    if block.passes == 0 {
                        continue;
                    }
                    zero_planes.encode(&mut header, i, u32::MAX);
                    header.passes(block.passes);
                    header.length(block.data.len() as u32, block.passes);
                }
            }
        }
        self.data.extend(header.finish());
        for band in bands {
            for block in &band.blocks {
                self.data.extend_from_slice(&block.data);
            }
        }
    }
}

/// Packet-header bits, MSB first, with a stuffed 0 bit after every `FF` byte (B.10.1).
struct HeaderBits {
    out: Vec<u8>,
    current: u32,
    filled: u32,
    capacity: u32,
}

impl Default for HeaderBits {
    fn default() -> Self {
        HeaderBits {
            out: Vec::new(),
            current: 0,
            filled: 0,
            capacity: 8,
        }
    }
}

impl HeaderBits {
    fn bit(&mut self, bit: u32) {
        self.current = (self.current << 1) | (bit & 1);
        self.filled += 1;
        if self.filled == self.capacity {
            let byte = self.current as u8;
            self.out.push(byte);
            self.capacity = if byte == 0xFF { 7 } else { 8 };
            self.current = 0;
            self.filled = 0;
        }
    }

    fn bits(&mut self, value: u32, count: u32) {
        for i in (0..count).rev() {
            self.bit(value >> i);
        }
    }

    /// Number of coding passes (Table B.4).
    fn passes(&mut self, passes: u32) {
        match passes {
            1 => self.bit(0),
            2 => self.bits(0b10, 2),
            3..=5 => self.bits(0b1100 | (passes - 3), 4),
            6..=36 => self.bits((0b1111 << 5) | (passes - 6), 9),
            _ => self.bits((0x1FF << 7) | (passes - 37), 16),
        }
    }

    /// Codeword length with the Lblock increment (B.10.7.1); one codeword segment.
    fn length(&mut self, length: u32, passes: u32) {
        let mut bits = 3 + (31 - passes.leading_zeros());
        while length >> bits != 0 {
            self.bit(1);
            bits += 1;
        }
        self.bit(0);
        self.bits(length, bits);
    }

    /// Pads the last byte; a header never ends with `FF` (B.10.1).
    fn finish(mut self) -> Vec<u8> {
        if self.filled > 0 {
            let pad = self.capacity - self.filled;
            self.bits(0, pad);
        }
        if self.out.last() == Some(&0xFF) {
            self.out.push(0x00);
        }
        self.out
    }
}

/// A tag tree (B.10.2) over a grid of code-blocks.
struct TagTree {
    /// (width, height, first node index) per level, leaves first.
    levels: Vec<(usize, usize, usize)>,
    value: Vec<u32>,
    low: Vec<u32>,
    known: Vec<bool>,
}

impl TagTree {
    fn new(width: usize, height: usize) -> TagTree {
        let mut levels = Vec::new();
        let (mut w, mut h, mut start) = (width.max(1), height.max(1), 0);
        loop {
            levels.push((w, h, start));
            start += w * h;
            if w == 1 && h == 1 {
                break;
            }
            w = w.div_ceil(2);
            h = h.div_ceil(2);
        }
        TagTree {
            levels,
            value: vec![u32::MAX; start],
            low: vec![0; start],
            known: vec![false; start],
        }
    }

    /// Node indices from leaf `leaf` to the root.
    fn path(&self, leaf: usize) -> Vec<usize> {
        let (w0, _, _) = self.levels[0];
        let (mut x, mut y) = (leaf % w0, leaf / w0);
        self.levels
            .iter()
            .map(|&(w, _, start)| {
                let node = start + y * w + x;
                x /= 2;
                y /= 2;
                node
            })
            .collect()
    }

    /// Sets a leaf; every ancestor holds the minimum of its leaves.
    fn set(&mut self, leaf: usize, value: u32) {
        for node in self.path(leaf) {
            self.value[node] = self.value[node].min(value);
        }
    }

    /// Codes whether the leaf's value is below `threshold` (and, when it is, the value).
    fn encode(&mut self, out: &mut HeaderBits, leaf: usize, threshold: u32) {
        let mut low = 0;
        for node in self.path(leaf).into_iter().rev() {
            if low > self.low[node] {
                self.low[node] = low;
            } else {
                low = self.low[node];
            }
            while low < threshold {
                if low >= self.value[node] {
                    if !self.known[node] {
                        out.bit(1);
                        self.known[node] = true;
                    }
                    break;
                }
                out.bit(0);
                low += 1;
            }
            self.low[node] = low;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Tier 1: EBCOT bit-plane coding of a code-block (Annex D) with the MQ coder (Annex C).

/// A code-block's codeword.
struct CodedBlock {
    data: Vec<u8>,
    passes: u32,
    /// Most significant bit-planes that are all zero (the packet header's "zero bit-planes").
    zero_bitplanes: u32,
}

const SIGNIFICANT: u8 = 1;
const VISITED: u8 = 2;
const REFINED: u8 = 4;
const NEGATIVE: u8 = 8;

/// Context labels (Table D.1–D.4, C.2).
const CTX_RUN_LENGTH: usize = 17;
const CTX_UNIFORM: usize = 18;

struct BlockCoder {
    width: usize,
    height: usize,
    band: Band,
    /// Per-sample state with a border of one, `(width + 2) × (height + 2)`.
    flags: Vec<u8>,
    magnitudes: Vec<u32>,
    mq: MqEncoder,
}

impl BlockCoder {
    fn encode(
        values: &[i32],
        width: usize,
        height: usize,
        band: Band,
        magnitude_bits: u32,
    ) -> CodedBlock {
        let stride = width + 2;
        let mut flags = vec![0u8; stride * (height + 2)];
        let magnitudes: Vec<u32> = values.iter().map(|v| v.unsigned_abs()).collect();
        for (i, v) in values.iter().enumerate() {
            if *v < 0 {
                flags[(i / width + 1) * stride + i % width + 1] |= NEGATIVE;
            }
        }
        let largest = magnitudes.iter().copied().max().unwrap_or(0);
        let planes = 32 - largest.leading_zeros();
        if planes == 0 {
            return CodedBlock {
                data: Vec::new(),
                passes: 0,
                zero_bitplanes: magnitude_bits,
            };
        }
        let mut coder = BlockCoder {
            width,
            height,
            band,
            flags,
            magnitudes,
            mq: MqEncoder::new(),
        };
        for plane in (0..planes).rev() {
            if plane != planes - 1 {
                coder.significance_pass(plane);
                coder.refinement_pass(plane);
            }
            coder.cleanup_pass(plane);
        }
        CodedBlock {
            data: coder.mq.flush(),
            passes: 3 * planes - 2,
            zero_bitplanes: magnitude_bits.saturating_sub(planes),
        }
    }

    fn index(&self, x: usize, y: usize) -> usize {
        (y + 1) * (self.width + 2) + x + 1
    }

    fn bit(&self, x: usize, y: usize, plane: u32) -> u32 {
        (self.magnitudes[y * self.width + x] >> plane) & 1
    }

    fn significant(&self, i: usize) -> u32 {
        u32::from(self.flags[i] & SIGNIFICANT)
    }

    /// Significant horizontal, vertical and diagonal neighbours.
    fn neighbours(&self, i: usize) -> (u32, u32, u32) {
        let s = self.width + 2;
        let h = self.significant(i - 1) + self.significant(i + 1);
        let v = self.significant(i - s) + self.significant(i + s);
        let d = self.significant(i - s - 1)
            + self.significant(i - s + 1)
            + self.significant(i + s - 1)
            + self.significant(i + s + 1);
        (h, v, d)
    }

    /// Zero-coding context (Table D.1).
    fn zero_context(&self, i: usize) -> usize {
        let (h, v, d) = self.neighbours(i);
        let (h, v) = if self.band == Band::Hl {
            (v, h)
        } else {
            (h, v)
        };
        if self.band == Band::Hh {
            let hv = h + v;
            return match (d, hv) {
                (3.., _) => 8,
                (2, 1..) => 7,
                (2, 0) => 6,
                (1, 2..) => 5,
                (1, 1) => 4,
                (1, 0) => 3,
                (0, 2..) => 2,
                (0, 1) => 1,
                _ => 0,
            };
        }
        match (h, v, d) {
            (2, _, _) => 8,
            (1, 1.., _) => 7,
            (1, 0, 1..) => 6,
            (1, 0, 0) => 5,
            (0, 2, _) => 4,
            (0, 1, _) => 3,
            (0, 0, 2..) => 2,
            (0, 0, 1) => 1,
            _ => 0,
        }
    }

    /// A neighbour's sign contribution: 1 significant positive, −1 significant negative.
    fn contribution(&self, i: usize) -> i32 {
        match self.flags[i] & (SIGNIFICANT | NEGATIVE) {
            SIGNIFICANT => 1,
            f if f == SIGNIFICANT | NEGATIVE => -1,
            _ => 0,
        }
    }

    /// Codes the sign of the sample at `i` (Tables D.2, D.3) and makes it significant.
    fn code_sign(&mut self, i: usize) {
        let s = self.width + 2;
        let h = (self.contribution(i - 1) + self.contribution(i + 1)).clamp(-1, 1);
        let v = (self.contribution(i - s) + self.contribution(i + s)).clamp(-1, 1);
        let (context, xor) = match (h, v) {
            (1, 1) => (13, 0),
            (1, 0) => (12, 0),
            (1, -1) => (11, 0),
            (0, 1) => (10, 0),
            (0, 0) => (9, 0),
            (0, -1) => (10, 1),
            (-1, 1) => (11, 1),
            (-1, 0) => (12, 1),
            _ => (13, 1),
        };
        let negative = u32::from(self.flags[i] & NEGATIVE != 0);
        self.mq.encode(negative ^ xor, context);
        self.flags[i] |= SIGNIFICANT;
    }

    /// Calls `f(x, y)` in the stripe scan order (D.2.2): stripes of four rows, column by column.
    fn scan(&mut self, mut f: impl FnMut(&mut Self, usize, usize)) {
        for stripe in (0..self.height).step_by(4) {
            for x in 0..self.width {
                for y in stripe..(stripe + 4).min(self.height) {
                    f(self, x, y);
                }
            }
        }
    }

    /// Significance propagation (D.3.1): insignificant samples with a significant neighbour.
    fn significance_pass(&mut self, plane: u32) {
        self.scan(|c, x, y| {
            let i = c.index(x, y);
            if c.flags[i] & SIGNIFICANT != 0 {
                return;
            }
            let context = c.zero_context(i);
            if context == 0 {
                return;
            }
            let bit = c.bit(x, y, plane);
            c.mq.encode(bit, context);
            c.flags[i] |= VISITED;
            if bit == 1 {
                c.code_sign(i);
            }
        });
    }

    /// Magnitude refinement (D.3.3): samples significant before this bit-plane.
    fn refinement_pass(&mut self, plane: u32) {
        self.scan(|c, x, y| {
            let i = c.index(x, y);
            if c.flags[i] & (SIGNIFICANT | VISITED) != SIGNIFICANT {
                return;
            }
            let context = if c.flags[i] & REFINED != 0 {
                16
            } else {
                let (h, v, d) = c.neighbours(i);
                if h + v + d > 0 {
                    15
                } else {
                    14
                }
            };
            c.mq.encode(c.bit(x, y, plane), context);
            c.flags[i] |= REFINED;
        });
    }

    /// Cleanup (D.3.4): everything not yet coded in this bit-plane, with run-length coding of
    /// columns of four samples that have no significant neighbour.
    fn cleanup_pass(&mut self, plane: u32) {
        for stripe in (0..self.height).step_by(4) {
            let full = stripe + 4 <= self.height;
            for x in 0..self.width {
                let mut y = stripe;
                if full && (0..4).all(|k| self.zero_context_free(x, stripe + k)) {
                    let first = (0..4).find(|&k| self.bit(x, stripe + k, plane) == 1);
                    match first {
                        None => {
                            self.mq.encode(0, CTX_RUN_LENGTH);
                            continue;
                        }
                        Some(k) => {
                            self.mq.encode(1, CTX_RUN_LENGTH);
                            self.mq.encode((k as u32 >> 1) & 1, CTX_UNIFORM);
                            self.mq.encode(k as u32 & 1, CTX_UNIFORM);
                            let i = self.index(x, stripe + k);
                            self.code_sign(i);
                            y = stripe + k + 1;
                        }
                    }
                }
                for y in y..(stripe + 4).min(self.height) {
                    let i = self.index(x, y);
                    if self.flags[i] & (SIGNIFICANT | VISITED) != 0 {
                        continue;
                    }
                    let bit = self.bit(x, y, plane);
                    let context = self.zero_context(i);
                    self.mq.encode(bit, context);
                    if bit == 1 {
                        self.code_sign(i);
                    }
                }
            }
        }
        // The next bit-plane starts with nothing visited.
        for flag in &mut self.flags {
            *flag &= !VISITED;
        }
    }

    /// Insignificant, not coded in this bit-plane, and no significant neighbour: what a
    /// run-length column needs of each of its four samples.
    fn zero_context_free(&self, x: usize, y: usize) -> bool {
        let i = self.index(x, y);
        self.flags[i] & (SIGNIFICANT | VISITED) == 0 && self.neighbours(i) == (0, 0, 0)
    }
}

/// The MQ coder's probability states (T.800 Table C.2): (Qe, next on MPS, next on LPS, switch).
const QE_TABLE: [(u32, u8, u8, bool); 47] = [
    (0x5601, 1, 1, true),
    (0x3401, 2, 6, false),
    (0x1801, 3, 9, false),
    (0x0AC1, 4, 12, false),
    (0x0521, 5, 29, false),
    (0x0221, 38, 33, false),
    (0x5601, 7, 6, true),
    (0x5401, 8, 14, false),
    (0x4801, 9, 14, false),
    (0x3801, 10, 14, false),
    (0x3001, 11, 17, false),
    (0x2401, 12, 18, false),
    (0x1C01, 13, 20, false),
    (0x1601, 29, 21, false),
    (0x5601, 15, 14, true),
    (0x5401, 16, 14, false),
    (0x5101, 17, 15, false),
    (0x4801, 18, 16, false),
    (0x3801, 19, 17, false),
    (0x3401, 20, 18, false),
    (0x3001, 21, 19, false),
    (0x2801, 22, 19, false),
    (0x2401, 23, 20, false),
    (0x2201, 24, 21, false),
    (0x1C01, 25, 22, false),
    (0x1801, 26, 23, false),
    (0x1601, 27, 24, false),
    (0x1401, 28, 25, false),
    (0x1201, 29, 26, false),
    (0x1101, 30, 27, false),
    (0x0AC1, 31, 28, false),
    (0x09C1, 32, 29, false),
    (0x08A1, 33, 30, false),
    (0x0521, 34, 31, false),
    (0x0441, 35, 32, false),
    (0x02A1, 36, 33, false),
    (0x0221, 37, 34, false),
    (0x0141, 38, 35, false),
    (0x0111, 39, 36, false),
    (0x0085, 40, 37, false),
    (0x0049, 41, 38, false),
    (0x0025, 42, 39, false),
    (0x0015, 43, 40, false),
    (0x0009, 44, 41, false),
    (0x0005, 45, 42, false),
    (0x0001, 45, 43, false),
    (0x5601, 46, 46, false),
];

/// The MQ arithmetic encoder (C.2), 19 contexts.
struct MqEncoder {
    a: u32,
    c: u32,
    ct: u32,
    /// Bytes out; `bytes[0]` is the byte before the first (never emitted).
    bytes: Vec<u8>,
    /// (state index, MPS) per context.
    contexts: [(u8, u8); 19],
}

impl MqEncoder {
    /// INITENC, with the initial states of Table D.7: context 0 at 4, run-length at 3,
    /// uniform at 46, all others at 0.
    fn new() -> MqEncoder {
        let mut contexts = [(0u8, 0u8); 19];
        contexts[0].0 = 4;
        contexts[CTX_RUN_LENGTH].0 = 3;
        contexts[CTX_UNIFORM].0 = 46;
        MqEncoder {
            a: 0x8000,
            c: 0,
            ct: 12,
            bytes: vec![0],
            contexts,
        }
    }

    fn encode(&mut self, bit: u32, context: usize) {
        let (state, mps) = self.contexts[context];
        let (qe, next_mps, next_lps, switch) = QE_TABLE[state as usize];
        self.a -= qe;
        if bit == u32::from(mps) {
            // CODEMPS
            if self.a & 0x8000 == 0 {
                if self.a < qe {
                    self.a = qe;
                } else {
                    self.c += qe;
                }
                self.contexts[context].0 = next_mps;
                self.renormalize();
            } else {
                self.c += qe;
            }
        } else {
            // CODELPS
            if self.a < qe {
                self.c += qe;
            } else {
                self.a = qe;
            }
            if switch {
                self.contexts[context].1 = 1 - mps;
            }
            self.contexts[context].0 = next_lps;
            self.renormalize();
        }
    }

    fn renormalize(&mut self) {
        loop {
            self.a <<= 1;
            self.c <<= 1;
            self.ct -= 1;
            if self.ct == 0 {
                self.byte_out();
            }
            if self.a & 0x8000 != 0 {
                break;
            }
        }
    }

    fn byte_out(&mut self) {
        let last = self.bytes.len() - 1;
        if self.bytes[last] == 0xFF {
            self.bytes.push((self.c >> 20) as u8);
            self.c &= 0xF_FFFF;
            self.ct = 7;
        } else if self.c < 0x800_0000 {
            self.bytes.push((self.c >> 19) as u8);
            self.c &= 0x7_FFFF;
            self.ct = 8;
        } else {
            self.bytes[last] += 1;
            if self.bytes[last] == 0xFF {
                self.c &= 0x7FF_FFFF;
                self.bytes.push((self.c >> 20) as u8);
                self.c &= 0xF_FFFF;
                self.ct = 7;
            } else {
                self.bytes.push((self.c >> 19) as u8);
                self.c &= 0x7_FFFF;
                self.ct = 8;
            }
        }
    }

    /// FLUSH (C.2.9): SETBITS, two byte-outs, no trailing `FF`.
    fn flush(mut self) -> Vec<u8> {
        let temp = self.c + self.a;
        self.c |= 0xFFFF;
        if self.c >= temp {
            self.c -= 0x8000;
        }
        self.c <<= self.ct;
        self.byte_out();
        self.c <<= self.ct;
        self.byte_out();
        if self.bytes.last() == Some(&0xFF) {
            self.bytes.pop();
        }
        self.bytes.remove(0);
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forward_and_inverse_1d_are_inverse() {
        for n in [2usize, 3, 4, 5, 8, 17, 64] {
            let original: Vec<f64> = (0..n).map(|i| ((i * 37 + 11) % 23) as f64 - 9.0).collect();
            let mut x = original.clone();
            forward_1d(&mut x, &mut Vec::new());
            inverse_1d(&mut x);
            for (a, b) in x.iter().zip(&original) {
                assert!((a - b).abs() < 1e-9, "n={n}: {x:?} vs {original:?}");
            }
        }
    }

    #[test]
    fn low_pass_keeps_the_mean_and_high_pass_removes_it() {
        let mut x = vec![5.0; 16];
        forward_1d(&mut x, &mut Vec::new());
        for v in &x[..8] {
            assert!((v - 5.0).abs() < 1e-9, "{x:?}");
        }
        for v in &x[8..] {
            assert!(v.abs() < 1e-9, "{x:?}");
        }
    }

    #[test]
    fn levels_leave_no_subband_empty() {
        let cases = [
            ((1, 1), 0),
            ((1, 400), 0),
            ((2, 2), 1),
            ((3, 3), 2),
            ((300, 400), 5),
            ((64, 3), 2),
        ];
        for ((w, h), levels) in cases {
            assert_eq!(decomposition_levels(w, h), levels, "{w}x{h}");
            for s in subbands(w, h, levels) {
                assert!(s.width > 0 && s.height > 0, "{w}x{h}: {s:?}");
            }
        }
    }

    #[test]
    fn steps_round_trip_through_exponent_and_mantissa() {
        for (delta, r_b) in [(1.0, 8), (0.37, 9), (5.5, 10), (200.0, 8), (1e-4, 8)] {
            let step = Step::new(delta, r_b);
            assert!(step.exponent <= 31 && step.mantissa <= 2047, "{step:?}");
            assert!(
                (step.delta - delta).abs() / delta < 1e-3,
                "{delta}: {step:?}"
            );
        }
    }

    #[test]
    fn header_bits_stuff_after_ff() {
        let mut bits = HeaderBits::default();
        bits.bits(0xFF, 8);
        bits.bits(0x7F, 7);
        bits.bit(1);
        assert_eq!(bits.finish(), [0xFF, 0x7F, 0x80]);
        let mut bits = HeaderBits::default();
        bits.bits(0xFF, 8);
        assert_eq!(bits.finish(), [0xFF, 0x00]);
    }
}
