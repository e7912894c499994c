//! End-to-end tests of the trainer on small synthetic problems.

use ndarray::Array3;
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

use super::*;

/// Two classes over 8 inputs: class 0 fires inputs 0..4 with probability 0.8
/// and 4..8 with 0.1, class 1 the other way round.
fn separable(n: usize, t: usize, seed: u64) -> Dataset {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut x = Array3::<u8>::zeros((n, t, 8));
    let mut y = Vec::with_capacity(n);
    for i in 0..n {
        let class = (i % 2) as u8;
        y.push(class);
        for s in 0..t {
            for f in 0..8 {
                let hot = (f < 4) == (class == 0);
                let p = if hot { 0.8 } else { 0.1 };
                let u = f64::from(rng.next_u32()) / 4_294_967_296.0;
                x[[i, s, f]] = u8::from(u < p);
            }
        }
    }
    Dataset::new(x, y).unwrap()
}

fn tiny_spec() -> NetSpec {
    NetSpec::mlp(6, 8, &[16], 2, 0.9, 1.0, Reset::Subtract)
}

fn tiny_cfg() -> TrainConfig {
    TrainConfig { epochs: 8, batch_size: 16, learning_rate: 5e-3, ..TrainConfig::default() }
}

#[test]
fn loss_decreases_on_separable_problem() {
    let spec = tiny_spec();
    let data = separable(128, 6, 1);
    let valid = separable(64, 6, 2);
    let init = init_weights(&spec, 0).unwrap();
    let before = evaluate(&spec, &init, &valid).unwrap();
    let mut losses = Vec::new();
    let (w, report) = train(&spec, init, &data, Some(&valid), &tiny_cfg(), &mut |r| losses.push(r.train_loss)).unwrap();
    assert_eq!(report.epochs.len(), 8);
    assert_eq!(losses.len(), 8);
    assert!(losses[7] < losses[0] * 0.8, "loss did not decrease: {losses:?}");
    let after = evaluate(&spec, &w, &valid).unwrap();
    assert!(after.loss < before.loss, "{} !< {}", after.loss, before.loss);
    assert!(after.accuracy >= 0.9, "accuracy {}", after.accuracy);
    assert_eq!(after.spike_rates.len(), 2);
    assert_eq!(after.predictions.len(), 64);
}

#[test]
fn training_is_deterministic() {
    let spec = tiny_spec();
    let data = separable(64, 6, 3);
    let cfg = TrainConfig { epochs: 2, ..tiny_cfg() };
    let run = || {
        let init = init_weights(&spec, 5).unwrap();
        train(&spec, init, &data, None, &cfg, &mut |_| {}).unwrap().0
    };
    let a = to_safetensors_bytes(&run()).unwrap();
    let b = to_safetensors_bytes(&run()).unwrap();
    assert_eq!(a, b);
}

#[test]
fn train_with_adds_the_extra_term_and_reports_it() {
    let spec = tiny_spec();
    let data = separable(64, 6, 4);
    let cfg = TrainConfig { epochs: 4, ..tiny_cfg() };
    // Patterns that never match (all zero): the Level-2 cost of the hidden layer is then its
    // bit-sparse cost, N · popcount / B, which a large weight must push down.
    let hidden = paft::LayerPatterns::new(16, 2, vec![0; 2], 2).unwrap();
    let run = |lambda: f64| {
        let mut reports = Vec::new();
        let mut extra = |out: &ForwardOutput, b: usize| -> Result<Option<candle_core::Tensor>, TrainError> {
            assert_eq!(out.gemm_inputs[1].dims()[1], b);
            Ok(Some(level2_cost(&out.gemm_inputs[1], &hidden)?.affine(lambda, 0.0)?))
        };
        let init = init_weights(&spec, 5).unwrap();
        let (w, _) = train_with(&spec, init, &data, None, &cfg, &mut extra, &mut |r| reports.push(r.clone())).unwrap();
        (w, reports)
    };
    let (w, reports) = run(1e-2);
    let extra: Vec<f64> = reports.iter().map(|r| r.extra_loss.unwrap()).collect();
    assert!(extra[3] < extra[0] * 0.75, "the extra term did not go down: {extra:?}");
    assert!(reports.iter().all(|r| r.train_loss >= r.extra_loss.unwrap()));
    // Deterministic, and without the term the plain trainer reports none.
    assert_eq!(to_safetensors_bytes(&w).unwrap(), to_safetensors_bytes(&run(1e-2).0).unwrap());
    let mut plain = Vec::new();
    train(&spec, init_weights(&spec, 5).unwrap(), &data, None, &cfg, &mut |r| plain.push(r.extra_loss)).unwrap();
    assert_eq!(plain, vec![None; 4]);
    // A non-scalar term is refused.
    let mut bad = |out: &ForwardOutput, _: usize| -> Result<Option<candle_core::Tensor>, TrainError> {
        Ok(Some(out.counts.clone()))
    };
    let err = train_with(&spec, init_weights(&spec, 5).unwrap(), &data, None, &cfg, &mut bad, &mut |_| {}).unwrap_err();
    assert!(err.to_string().contains("scalar"), "{err}");
}

#[test]
fn argmax_ties_go_to_lowest_index() {
    assert_eq!(argmax_lowest(&[1.0, 3.0, 3.0, 2.0]), 1);
    assert_eq!(argmax_lowest(&[0.0, 0.0, 0.0]), 0);
    assert_eq!(argmax_lowest(&[0.0, 0.0, 1.0]), 2);
}

#[test]
fn rejects_mismatched_data() {
    let spec = tiny_spec();
    let data = separable(8, 5, 0); // T = 5, spec has 6
    let init = init_weights(&spec, 0).unwrap();
    let err = train(&spec, init, &data, None, &tiny_cfg(), &mut |_| {}).unwrap_err();
    assert!(matches!(err, TrainError::InvalidData(_)), "{err}");
}

/// Trains the 64-256-256-10 digits MLP with the default configuration and
/// checks test accuracy ≥ 90 %. Run with
/// `cargo test -p phi-compiler --release digits -- --ignored --nocapture`.
#[test]
#[ignore = "trains the digits MLP (about 10 s on 2 idle cores)"]
fn digits_mlp_reaches_90_percent() {
    use phi_examples::digits;
    let csv = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/digits_mlp/data/digits.csv.gz");
    let raw = digits::read_digits_csv_gz(&csv).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let splits = digits::prepare_digits(&raw, &digits::PrepareOptions::default()).unwrap();
    digits::write_splits(&splits, dir.path()).unwrap();
    let load = |name: &str| {
        Dataset::load_npy(&dir.path().join(format!("{name}.npy")), &dir.path().join(format!("{name}_labels.npy")))
            .unwrap()
    };
    let (train_set, calib, test) = (load("train"), load("calib"), load("test"));

    let spec = NetSpec::mlp(8, 64, &[256, 256], 10, 0.9, 1.0, Reset::Subtract);
    let cfg = TrainConfig::default();
    let start = std::time::Instant::now();
    let init = init_weights(&spec, cfg.seed).unwrap();
    let (w, report) = train(&spec, init, &train_set, Some(&calib), &cfg, &mut |r| {
        eprintln!(
            "epoch {:2} lr {:.2e} loss {:.4} train {:.3} calib {:.3} rates {:?} ({:.2?})",
            r.epoch,
            r.learning_rate,
            r.train_loss,
            r.train_accuracy,
            r.valid.as_ref().map_or(f64::NAN, |v| v.accuracy),
            r.valid.as_ref().map(|v| v.spike_rates.iter().map(|x| (x * 1000.0).round() / 1000.0).collect::<Vec<_>>()),
            r.elapsed
        );
    })
    .unwrap();
    let elapsed = start.elapsed();
    let eval = evaluate(&spec, &w, &test).unwrap();
    eprintln!(
        "selected epoch {}, test accuracy {:.4} ({}/{}), spike rates {:?}, training time {:.2?}",
        report.selected_epoch, eval.accuracy, eval.correct, eval.samples, eval.spike_rates, elapsed
    );
    // FNV-1a of the serialised weights, to compare runs (e.g. across
    // RAYON_NUM_THREADS settings) for bit-identical results.
    let hash = to_safetensors_bytes(&w)
        .unwrap()
        .iter()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    eprintln!("weights fnv1a64 {hash:016x}");
    assert!(eval.accuracy >= 0.9, "test accuracy {}", eval.accuracy);
}
