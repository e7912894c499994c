//! Property test of the backend and the emulator: on 1,000 random small models, random spike
//! inputs and random hardware configurations, the programs compiled for all three targets
//! compute exactly the integer reference interpreter's output.
//!
//! Each case draws from its own seed (`PHI_EMU_SEED=S` runs case S alone and prints it;
//! `PHI_EMU_CASES=N` changes the count): 1–3 GEMM layers of random widths, LIF or IF neurons
//! with random parameters, optional biases, and sometimes a layer without a neuron, so that
//! the next layer reads integer currents (the dense path within a Phi program); 1–4 time steps;
//! partition width k ∈ {8, 16}, 2–24 patterns, random tile sizes, buffer sizes and batch.
//! Every third case is a convolutional model instead ([`conv_case`]).
//! Cases run in parallel; the result does not depend on the thread count.

use std::fmt::Write as _;
use std::path::Path;

use phi_compiler::backend;
use phi_compiler::frontend::{WeightMode, load_module, read_source};
use phi_compiler::passes::Pipeline;
use phi_dialect::hw::HwConfig;
use phi_dialect::program::TargetKind;
use phi_dialect::target::Target;
use phi_dialect::{ElemType, Module};
use phi_runtime::emu::{RunOptions, run};
use phi_runtime::npy::{read_npy, to_tensor};
use phi_tests::compile::run_pipeline;
use rayon::prelude::*;

/// xorshift64*: small, seeded, portable.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len() as u64) as usize]
    }
}

/// One random case: the model text, its calibration and test inputs, and the hardware.
struct Case {
    text: String,
    shape: Vec<usize>,
    calib: Vec<u8>,
    test: Vec<u8>,
    hw: HwConfig,
    batch: Option<u32>,
    description: String,
}

fn floats(rng: &mut Rng, n: usize, scale: f64) -> String {
    (0..n).map(|_| format!("{:.3}", (rng.unit() * 2.0 - 1.0) * scale)).collect::<Vec<_>>().join(", ")
}

fn case(seed: u64) -> Case {
    // every third case is a convolutional model
    if seed % 3 == 2 {
        return conv_case(seed);
    }
    let mut rng = Rng::new(seed);
    let k = rng.pick(&[8u32, 16]);
    let t = rng.range(1, 4) as usize;
    let layers = rng.range(1, 3) as usize;
    // widths: GEMM inputs are multiples of k (partitions); the last output any width
    let mut widths = vec![k as usize * rng.range(1, 4) as usize];
    for l in 0..layers {
        widths.push(if l + 1 == layers { rng.range(2, 40) as usize } else { k as usize * rng.range(1, 5) as usize });
    }
    let density = rng.pick(&[0.1, 0.25, 0.5]);
    let mut inits = Vec::new();
    let mut body = Vec::new();
    let mut cur = "x".to_string();
    for l in 0..layers {
        let (kk, nn) = (widths[l], widths[l + 1]);
        let scale = 2.0 / (kk as f64 * density).sqrt();
        inits.push(format!("float[{kk}, {nn}] w{l} = {{{}}}", floats(&mut rng, kk * nn, scale)));
        let mut gemm = format!("h{l} = MatMul({cur}, w{l})");
        if rng.below(2) == 0 {
            inits.push(format!("float[{nn}] b{l} = {{{}}}", floats(&mut rng, nn, 0.3)));
            gemm = format!("m{l} = MatMul({cur}, w{l})\n  h{l} = Add(m{l}, b{l})");
        }
        body.push(gemm);
        // a hidden layer without a neuron feeds integer currents to the next one
        let neuron = l + 1 == layers || rng.below(6) != 0;
        cur = if neuron {
            let reset = rng.pick(&["subtract", "zero"]);
            let th = 0.2 + rng.unit() * 1.3;
            let op = if rng.below(4) == 0 {
                format!("snn.IF<threshold = {th:.3}, reset_mechanism = \"{reset}\">(h{l})")
            } else {
                format!(
                    "snn.LIF<beta = {:.3}, threshold = {th:.3}, reset_mechanism = \"{reset}\">(h{l})",
                    0.5 + rng.unit() * 0.5
                )
            };
            body.push(format!("s{l} = {op}"));
            format!("s{l}")
        } else {
            format!("h{l}")
        };
    }
    body.push(format!("y = Identity({cur})"));
    let last_spiking = cur.starts_with('s');
    let out_ty = if last_spiking { "uint8" } else { "float" };
    let text = format!(
        "<ir_version: 9, opset_import: [\"\" : 17, \"snn\" : 1]>\nrandom (uint8[N, {t}, {}] x) => ({out_ty}[N, {t}, {}] y)\n<{}>\n{{\n  {}\n}}\n",
        widths[0],
        widths[layers],
        inits.join(",\n "),
        body.join("\n  ")
    );
    let shape = vec![t, widths[0]];
    let per: usize = shape.iter().product();
    let spikes = |rng: &mut Rng, n: usize| -> Vec<u8> { (0..n * per).map(|_| (rng.unit() < density) as u8).collect() };
    let calib = spikes(&mut rng, 12);
    let n_test = rng.range(1, 20) as usize;
    let test = spikes(&mut rng, n_test);
    // rows per sample: t; a time step: one row
    let (hw, batch, hw_text) = random_hw(&mut rng, k, t, t, 1, 16);
    let description = format!("seed {seed}: widths {widths:?}, T {t}, {hw_text}, {n_test} test samples");
    Case { text, shape, calib, test, hw, batch, description }
}

/// A random hardware configuration for `t` time steps (shared by both model kinds).
/// `rows_per_sample`: the most GEMM rows of one sample in any layer; `positions`: the most
/// rows of one time step. A row tile `m` below a sample's rows makes the backend cut samples
/// at time-step boundaries (membranes carried from one part to the next).
/// `most`: the largest number of whole samples a row tile is drawn to hold.
fn random_hw(
    rng: &mut Rng,
    k: u32,
    t: usize,
    rows_per_sample: usize,
    positions: usize,
    most: u64,
) -> (HwConfig, Option<u32>, String) {
    let mut hw = HwConfig { k, q: rng.range(2, 24) as u32, ..HwConfig::default() };
    hw.n = rng.pick(&[8u32, 16, 32]);
    hw.m = if t > 1 && rng.below(3) == 0 {
        (positions * rng.range(1, t as u64 - 1) as usize) as u32
    } else {
        (rows_per_sample as u32 * rng.range(1, most) as u32).max(t as u32)
    };
    // a tile of m rows of one partition must fit a buffer half (m · 8 bytes of residual masks)
    let shrink = if hw.m <= 64 { rng.pick(&[1u32, 4, 16]) } else { rng.pick(&[1u32, 4]) };
    let b = &mut hw.buffers;
    for size in [&mut b.spk, &mut b.wgt, &mut b.pat, &mut b.idx, &mut b.res, &mut b.act] {
        *size = (*size / shrink).max(2 * 16 * 32);
    }
    b.pwp = (b.pwp / shrink).max(2048);
    // a smaller partial-sum buffer and larger batches make row tiles run in groups
    let psum_shrink = rng.pick(&[1u32, 2, 8]);
    b.psum = (b.psum / psum_shrink).max((hw.m * hw.n * 4).div_ceil(1024) * 1024 + 1024);
    let batch = match rng.below(4) {
        0 => None,
        1 => Some(rng.range(8, 60) as u32),
        _ => Some(rng.range(1, 6) as u32),
    };
    let text =
        format!("k {k}, q {}, m {}, n {}, buffers/{shrink}, psum/{psum_shrink}, batch {batch:?}", hw.q, hw.m, hw.n);
    (hw, batch, text)
}

/// A random convolutional model: input `T × C × H × W`, 1–2 convolutions (random kernel,
/// stride, dilation, asymmetric padding) with LIF/IF neurons, each sometimes followed by a sum
/// or average pool (a GEMM after `pool-to-gemm`, whose counts the next layer reads), then
/// flatten → linear → LIF: the backend's layout chains (im2col gathers, neurons fused across
/// transpose/reshape, flatten of a feature map stored in GEMM row order).
fn conv_case(seed: u64) -> Case {
    let mut rng = Rng::new(seed);
    let k = rng.pick(&[8u32, 16]);
    let t = rng.range(1, 4) as usize;
    let (mut c, mut h, mut w) = (rng.range(1, 3) as usize, rng.range(3, 7) as usize, rng.range(3, 7) as usize);
    let input = (c, h, w);
    let density = rng.pick(&[0.15, 0.3, 0.5]);
    let convs = rng.range(1, 2) as usize;
    let mut inits = Vec::new();
    let mut body = Vec::new();
    let mut cur = "x".to_string();
    let mut geometry = Vec::new();
    let mut max_rows = 1;
    let mut max_positions = 1;
    for l in 0..convs {
        // the conv reads spikes (the input, a neuron's), not counts: its current may meet another
        let spike_input = cur == "x" || cur.starts_with('s') || cur.starts_with('r');
        // a grouped convolution is one GEMM with block-diagonal weights (conv-to-gemm's default)
        let groups = if c % 2 == 0 && rng.below(3) == 0 { 2 } else { 1 };
        let o = groups * rng.range(1, 4) as usize * 2;
        let (kh, kw) = (rng.range(1, 3.min(h) as u64) as usize, rng.range(1, 3.min(w) as u64) as usize);
        let (sh, sw) = (rng.range(1, 2) as usize, rng.range(1, 2) as usize);
        let dil = if kh <= 2 && kw <= 2 && h >= 4 && w >= 4 && rng.below(4) == 0 { 2 } else { 1 };
        let pads: Vec<usize> = (0..4).map(|_| rng.below(2) as usize).collect();
        let oh = (h + pads[0] + pads[2] - dil * (kh - 1) - 1) / sh + 1;
        let ow = (w + pads[1] + pads[3] - dil * (kw - 1) - 1) / sw + 1;
        let fan = (c / groups * kh * kw) as f64;
        let scale = 2.5 / (fan * density).sqrt();
        inits.push(format!(
            "float[{o}, {}, {kh}, {kw}] cw{l} = {{{}}}",
            c / groups,
            floats(&mut rng, o * c / groups * kh * kw, scale)
        ));
        let bias = rng.below(2) == 0;
        if bias {
            inits.push(format!("float[{o}] cb{l} = {{{}}}", floats(&mut rng, o, 0.3)));
        }
        body.push(format!(
            "c{l} = Conv<kernel_shape = [{kh}, {kw}], strides = [{sh}, {sw}], pads = [{}, {}, {}, {}], dilations = [{dil}, {dil}], group = {groups}>({cur}, cw{l}{})",
            pads[0],
            pads[1],
            pads[2],
            pads[3],
            if bias { format!(", cb{l}") } else { String::new() }
        ));
        let th = 0.2 + rng.unit() * 1.0;
        let reset = rng.pick(&["subtract", "zero"]);
        body.push(if rng.below(4) == 0 {
            format!("s{l} = snn.IF<threshold = {th:.3}, reset_mechanism = \"{reset}\">(c{l})")
        } else {
            format!(
                "s{l} = snn.LIF<beta = {:.3}, threshold = {th:.3}, reset_mechanism = \"{reset}\">(c{l})",
                0.5 + rng.unit() * 0.5
            )
        });
        geometry.push(format!("conv {c}→{o} {kh}×{kw} s{sh},{sw} d{dil} g{groups} p{pads:?} → {oh}×{ow}"));
        max_rows = max_rows.max(oh * ow * t);
        max_positions = max_positions.max(oh * ow);
        cur = format!("s{l}");
        (c, h, w) = (o, oh, ow);
        // a residual block on the neuron's spikes (a same-shape 3×3 conv), lowered by add-to-gemm:
        // SEW-ResNet's spike add (counts for the next layer), or MS-ResNet's membrane shortcut
        // (the block input's current, also read by its own neuron, added to the block's)
        let residual = rng.below(2) == 0;
        if residual {
            let scale = 2.5 / ((c * 9) as f64 * density).sqrt();
            inits.push(format!("float[{c}, {c}, 3, 3] rw{l} = {{{}}}", floats(&mut rng, c * c * 9, scale)));
            body.push(format!("q{l} = Conv<kernel_shape = [3, 3], pads = [1, 1, 1, 1]>(s{l}, rw{l})"));
            let th = 0.2 + rng.unit();
            let lif = format!("snn.LIF<beta = 0.8, threshold = {th:.3}, reset_mechanism = \"subtract\">");
            if spike_input && rng.below(2) == 0 {
                body.push(format!("u{l} = Add(q{l}, c{l})"));
                body.push(format!("r{l} = {lif}(u{l})"));
                geometry.push("membrane shortcut".into());
                cur = format!("r{l}");
            } else {
                body.push(format!("r{l} = {lif}(q{l})"));
                body.push(format!("a{l} = Add(r{l}, s{l})"));
                geometry.push("spike add".into());
                cur = format!("a{l}");
            }
        }
        // a sum pool (spike counts) or an average pool after the neuron, lowered by pool-to-gemm
        // (average pools: quantize folds the divisor into the next layer's weights)
        if h >= 2 && w >= 2 && rng.below(3) == 0 {
            let (ph, pw) = (rng.range(1, 2) as usize, rng.range(1, 2) as usize);
            let (qh, qw) = (rng.range(1, 2) as usize, rng.range(1, 2) as usize);
            let pp: Vec<usize> =
                (0..4).map(|i| if i % 2 == 0 { rng.below(ph as u64) } else { rng.below(pw as u64) } as usize).collect();
            let oh = (h + pp[0] + pp[2] - ph) / qh + 1;
            let ow = (w + pp[1] + pp[3] - pw) / qw + 1;
            // an average pool counts the padding in its divisor, so that quantize can fold it
            let (op, extra) =
                if rng.below(2) == 0 { ("snn.SumPool", "") } else { ("AveragePool", ", count_include_pad = 1") };
            body.push(format!(
                "p{l} = {op}<kernel_shape = [{ph}, {pw}], strides = [{qh}, {qw}], pads = [{}, {}, {}, {}]{extra}>({cur})",
                pp[0], pp[1], pp[2], pp[3]
            ));
            geometry.push(format!("{op} {ph}×{pw} s{qh},{qw} p{pp:?} → {oh}×{ow}"));
            max_rows = max_rows.max(oh * ow * t);
            max_positions = max_positions.max(oh * ow);
            cur = format!("p{l}");
            (h, w) = (oh, ow);
        }
    }
    let kk = c * h * w;
    let nn = rng.range(2, 12) as usize;
    body.push(format!("f = Flatten<axis = 2>({cur})"));
    inits.push(format!("float[{kk}, {nn}] fw = {{{}}}", floats(&mut rng, kk * nn, 2.0 / (kk as f64 * density).sqrt())));
    body.push("h = MatMul(f, fw)".into());
    body.push(format!(
        "y = snn.LIF<beta = 0.9, threshold = {:.3}, reset_mechanism = \"subtract\">(h)",
        0.3 + rng.unit()
    ));
    let (c0, h0, w0) = input;
    let text = format!(
        "<ir_version: 9, opset_import: [\"\" : 17, \"snn\" : 1]>\nrandom_cnn (uint8[N, {t}, {c0}, {h0}, {w0}] x) => (uint8[N, {t}, {nn}] y)\n<{}>\n{{\n  {}\n}}\n",
        inits.join(",\n "),
        body.join("\n  ")
    );
    let shape = vec![t, c0, h0, w0];
    let per: usize = shape.iter().product();
    let spikes = |rng: &mut Rng, n: usize| -> Vec<u8> { (0..n * per).map(|_| (rng.unit() < density) as u8).collect() };
    let calib = spikes(&mut rng, 12);
    let n_test = rng.range(1, 12) as usize;
    let test = spikes(&mut rng, n_test);
    let (hw, batch, hw_text) = random_hw(&mut rng, k, t, max_rows, max_positions, 3);
    let description = format!(
        "seed {seed}: input {c0}×{h0}×{w0}, {}, linear {kk}→{nn}, T {t}, {hw_text}, {n_test} test samples",
        geometry.join(", ")
    );
    Case { text, shape, calib, test, hw, batch, description }
}

fn write_npy(path: &Path, n: usize, shape: &[usize], data: &[u8]) {
    let mut dims = vec![n];
    dims.extend_from_slice(shape);
    let arr = ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&dims), data.to_vec()).unwrap();
    ndarray_npy::write_npy(path, &arr).unwrap();
}

fn prepared(m: &Module, pipeline: &Pipeline, target: &Target, dir: &Path) -> Result<Module, String> {
    run_pipeline(m, pipeline, target, dir, &dir.join("calib.npy"))
}

/// Runs one case; `Err` describes a mismatch or a failure.
fn check(seed: u64) -> Result<String, String> {
    let c = case(seed);
    let model: String = if c.text.len() > 1500 { format!("{}…", &c.text[..1500]) } else { c.text.clone() };
    let fail = |what: String| {
        format!("{}: {what}\n--- model (PHI_EMU_SEED={seed} prints it whole) ---\n{model}", c.description)
    };
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let path = dir.path().join("random.snn");
    std::fs::write(&path, &c.text).map_err(|e| e.to_string())?;
    write_npy(&dir.path().join("calib.npy"), c.calib.len() / c.shape.iter().product::<usize>(), &c.shape, &c.calib);
    let n_test = c.test.len() / c.shape.iter().product::<usize>();
    write_npy(&dir.path().join("test.npy"), n_test, &c.shape, &c.test);
    let src = read_source(path.to_str().unwrap()).map_err(|d| fail(d.to_string()))?;
    let m = load_module(&src, WeightMode::Load).map_err(|d| fail(d.to_string()))?;
    let x = to_tensor(&read_npy(&dir.path().join("test.npy")).unwrap(), ElemType::I1).unwrap();
    let integer = Pipeline::parse("canonicalize,quantize").map_err(&fail)?;
    let reference_module = prepared(&m, &integer, &Target::phi(), dir.path()).map_err(&fail)?;
    let reference = phi_runtime::run(&reference_module, std::slice::from_ref(&x)).map_err(|d| fail(d.to_string()))?;
    let mut line = String::new();
    for kind in TargetKind::ALL {
        let target = Target::new(kind, c.hw.clone());
        let mut pipeline = Pipeline::for_target(kind);
        if let Some(b) = c.batch {
            pipeline.set("tile", "batch", b.to_string());
        }
        let module = prepared(&m, &pipeline, &target, dir.path()).map_err(&fail)?;
        let program = backend::lower(&module, &target, None).map_err(|d| fail(format!("{kind:?}: {d}")))?;
        let report = run(&program, std::slice::from_ref(&x), RunOptions::default())
            .map_err(|e| fail(format!("{kind:?}: {e}")))?;
        if report.outputs != reference {
            return Err(fail(format!("{kind:?}: the emulator's outputs differ from the integer interpreter's")));
        }
        let _ = write!(line, " {kind:?} {} cycles;", report.cycles);
    }
    Ok(format!("{}:{line}", c.description))
}

#[test]
fn random_models_run_bit_exactly_on_all_targets() {
    if let Some(seed) = std::env::var("PHI_EMU_SEED").ok().and_then(|s| s.parse().ok()) {
        let c = case(seed);
        eprintln!("{}\n{}", c.description, c.text);
        match check(seed) {
            Ok(line) => eprintln!("{line}"),
            Err(e) => panic!("{e}"),
        }
        return;
    }
    let cases: u64 = std::env::var("PHI_EMU_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(1000);
    let results: Vec<Result<String, String>> = (0..cases).into_par_iter().map(check).collect();
    let failures: Vec<&String> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(
        failures.is_empty(),
        "{} of {cases} random cases failed (rerun one with PHI_EMU_SEED=S); the first:\n{}",
        failures.len(),
        failures[0]
    );
}
