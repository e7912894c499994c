//! The `phi-emu` command line: runs a `.phibin` program on the instruction-level emulator and
//! reports outputs, accuracy, cycles, energy and operation counts (the binary `phi-emu` is
//! [`main`]).
//!
//! Exit codes: 0 success; 1 a bad binary, bad inputs or a trap; 2 a usage error.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::emu::{self, RunOptions, report};
use crate::npy::{parse_npy, read_labels, read_npy, write_atomic, write_tensor};
use crate::{Tensor, metrics};
use clap::Parser;
use phi_dialect::isa::encode::decode_all;
use phi_dialect::phibin;
use phi_dialect::program::{Program, ProgramMeta};

/// Runs a compiled Phi program on the instruction-level emulator.
#[derive(Debug, Parser)]
#[command(
    name = "phi-emu",
    version,
    about = "The instruction-level emulator of the Phi accelerator: runs a .phibin bit-exactly and reports cycles, energy and operation counts",
    after_help = "Without --input, the sample input embedded in the binary is run.\n\nExamples:\n  phi-emu model.phibin\n  phi-emu model.phibin --input test.npy --labels test_labels.npy --stats stats.json --trace trace.json\n  phi-emu model.phibin --input test.npy --baseline model.bit-sparse.phibin --baseline model.dense.phibin\n\nExit status: 0 success, 1 a bad binary, bad inputs or a trap, 2 a usage error."
)]
struct Args {
    /// The program (.phibin).
    #[arg(value_name = "PROGRAM.phibin")]
    program: PathBuf,
    /// Inputs [N, T, ...] (.npy: uint8/bool spikes, or integers); default: the embedded sample.
    #[arg(long, value_name = "X.npy")]
    input: Option<PathBuf>,
    /// Labels [N] (.npy): print the accuracy of the spike-count read-out.
    #[arg(long, value_name = "L.npy")]
    labels: Option<PathBuf>,
    /// Write the output spikes [N, T, n_out] (uint8 .npy).
    #[arg(long, short = 'o', value_name = "Y.npy")]
    output: Option<PathBuf>,
    /// Write statistics as JSON.
    #[arg(long, value_name = "S.json")]
    stats: Option<PathBuf>,
    /// Write a Chrome-trace / Perfetto timeline of the first run's units.
    #[arg(long, value_name = "T.json")]
    trace: Option<PathBuf>,
    /// Also run these programs (the same model for other targets) on the same inputs and compare.
    #[arg(long, value_name = "OTHER.phibin")]
    baseline: Vec<PathBuf>,
}

fn load(path: &PathBuf) -> Result<Program, String> {
    let bin = phibin::read_file(path).map_err(|e| e.to_string())?;
    let code = decode_all(&bin.code).map_err(|(i, e)| format!("{}: instruction {i}: {e}", path.display()))?;
    Ok(Program { meta: bin.meta, code, sections: bin.sections, sample: bin.sample })
}

fn inputs(meta: &ProgramMeta, program: &Program, bin: &Path, path: &Option<PathBuf>) -> Result<Vec<Tensor>, String> {
    let [port] = &meta.inputs[..] else {
        return Err(format!("the program has {} inputs; phi-emu feeds programs with one", meta.inputs.len()));
    };
    let arr = match path {
        Some(p) => read_npy(p)?,
        None => parse_npy(program.sample.as_deref().ok_or("the binary holds no sample input: give --input X.npy")?)
            .map_err(|e| format!("{}: the embedded sample input (section .phi.sample): {e}", bin.display()))?,
    };
    let elem = match port.elem.as_str() {
        "i1" => phi_dialect::ElemType::I1,
        _ => phi_dialect::ElemType::I32,
    };
    let t = crate::input::tensor(&arr, elem, port.scale).map_err(|e| format!("input `{}`: {e}", port.name))?;
    Ok(vec![t])
}

fn accuracy(r: &emu::Report, labels: &Option<Vec<usize>>) -> Result<report::Accuracy, String> {
    let Some(l) = labels else { return Ok(None) };
    let out = r.outputs.first().ok_or("the program has no output")?;
    if l.len() != r.samples {
        return Err(format!("{} labels for {} samples", l.len(), r.samples));
    }
    Ok(metrics::correct(out, l).map(|ok| (ok, l.len())))
}

fn run() -> Result<(), String> {
    let args = Args::parse();
    let program = load(&args.program)?;
    let x = inputs(&program.meta, &program, &args.program, &args.input)?;
    let labels = args.labels.as_ref().map(|p| read_labels(p)).transpose()?;
    let r = emu::run(&program, &x, RunOptions { trace: args.trace.is_some() })
        .map_err(|e| format!("{}: {e}", args.program.display()))?;
    let acc = accuracy(&r, &labels)?;
    crate::out!("{}", report::summary(&program.meta, &r, acc));
    if let Some(p) = &args.output {
        let out = r.outputs.first().ok_or("the program has no output")?;
        write_tensor(p, out)?;
    }
    if let Some(p) = &args.stats {
        let s = serde_json::to_vec_pretty(&report::stats(&program.meta, &r, acc)).map_err(|e| e.to_string())?;
        write_atomic(p, &s).map_err(|e| format!("cannot write {}: {e}", p.display()))?;
    }
    if let Some(p) = &args.trace {
        let s = serde_json::to_vec(&report::trace(&program.meta, &r)).map_err(|e| e.to_string())?;
        write_atomic(p, &s).map_err(|e| format!("cannot write {}: {e}", p.display()))?;
    }
    if !args.baseline.is_empty() {
        let mut rows = vec![(program.meta.clone(), r, acc)];
        for b in &args.baseline {
            let p = load(b)?;
            let rb = emu::run(&p, &x, RunOptions::default()).map_err(|e| format!("{}: {e}", b.display()))?;
            let ab = accuracy(&rb, &labels)?;
            if rb.outputs != rows[0].1.outputs {
                eprintln!("warning: {} computes different spikes than {}", b.display(), args.program.display());
            }
            rows.push((p.meta, rb, ab));
        }
        let view: Vec<_> = rows.iter().map(|(m, r, a)| (m, r, *a)).collect();
        crate::outln!("\n{}", report::comparison(&view));
    }
    Ok(())
}

/// Runs `phi-emu` with the process arguments.
pub fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
