//! Emulator speed against the reference interpreter, on the bundled example's whole test split
//! (`cargo bench -p phi-compiler --bench emulator`; method and results in `docs/benchmarks.md`).
//!
//! **Workload.** `examples/digits_mlp`: 400 test samples, compiled once (outside the timing)
//! with the default pipeline and hardware configuration for the three targets.
//!
//! **Cases**, all in one run, on the same input tensor:
//! - `interpreter/float32`: the reference interpreter on the float model (the baseline the
//!   issue names);
//! - `interpreter/integer`: the same interpreter on the quantised model (what the emulator
//!   must equal);
//! - `emulator/phi`, `emulator/bit-sparse`, `emulator/dense`: `phi_runtime::emu::run`, that is
//!   decoding excluded (done at load) but functional execution, timing, energy and statistics
//!   included, for the whole split.
//!
//! The ratios (interpreter time / emulator time) are printed at the end.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use phi_compiler::backend;
use phi_compiler::frontend::{WeightMode, load_module, read_source};
use phi_compiler::passes::{PassContext, Pipeline};
use phi_dialect::program::{Program, TargetKind};
use phi_dialect::target::Target;
use phi_dialect::{ElemType, Module};
use phi_runtime::emu::{RunOptions, run};
use phi_runtime::npy::{read_npy, to_tensor};

fn example_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/digits_mlp")
}

fn module(pipeline: Option<(Pipeline, &Target)>) -> Module {
    let dir = example_dir();
    let src = read_source(dir.join("model.snn").to_str().expect("utf-8 path")).expect("the example loads");
    let mut m = load_module(&src, WeightMode::Load).expect("the example loads");
    if let Some((p, target)) = pipeline {
        let mut sink = std::io::sink();
        let mut cx = PassContext { model_dir: dir, calib: None, remarks: &mut sink, progress: false };
        let mut pm = p.build(target).expect("pipeline");
        pm.run(&mut m, &mut cx, &mut std::io::sink()).expect("passes run");
    }
    m
}

fn program(kind: TargetKind) -> Program {
    let target = Target::phi().with_kind(kind);
    let m = module(Some((Pipeline::for_target(kind), &target)));
    backend::lower(&m, &target, None).expect("the example compiles")
}

fn median(mut f: impl FnMut(), reps: usize) -> Duration {
    let mut t: Vec<Duration> = (0..reps)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed()
        })
        .collect();
    t.sort();
    t[reps / 2]
}

fn bench(c: &mut Criterion) {
    let x = to_tensor(&read_npy(&example_dir().join("test.npy")).expect("test.npy"), ElemType::I1).expect("spikes");
    let phi = Target::phi();
    let float = module(Some((Pipeline::parse("canonicalize").expect("pipeline"), &phi)));
    let integer = module(Some((Pipeline::parse("canonicalize,quantize").expect("pipeline"), &phi)));
    let programs: Vec<(TargetKind, Program)> = TargetKind::ALL.into_iter().map(|t| (t, program(t))).collect();
    let inputs = std::slice::from_ref(&x);

    let mut g = c.benchmark_group("test-split");
    g.sample_size(20);
    g.bench_function("interpreter/float32", |b| b.iter(|| black_box(phi_runtime::run(&float, inputs).expect("runs"))));
    g.bench_function("interpreter/integer", |b| {
        b.iter(|| black_box(phi_runtime::run(&integer, inputs).expect("runs")))
    });
    for (t, p) in &programs {
        g.bench_function(format!("emulator/{}", t.name()), |b| {
            b.iter(|| black_box(run(p, inputs, RunOptions::default()).expect("runs")))
        });
    }
    g.finish();

    // The ratios, measured back to back (median of 15 runs each).
    let reps = 15;
    let f32_time = median(|| drop(black_box(phi_runtime::run(&float, inputs))), reps);
    println!("\nratios on the test split ({} samples; median of {reps} runs):", x.shape[0]);
    println!("  interpreter/float32            {:>9.2} ms", f32_time.as_secs_f64() * 1e3);
    for (t, p) in &programs {
        let e = median(|| drop(black_box(run(p, inputs, RunOptions::default()))), reps);
        println!(
            "  emulator/{:<20} {:>9.2} ms  ({:.2}× the interpreter's speed)",
            t.name(),
            e.as_secs_f64() * 1e3,
            f32_time.as_secs_f64() / e.as_secs_f64()
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
