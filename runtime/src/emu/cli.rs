//! The `phi-emu` command line: runs a `.phibin` program on the instruction-level emulator and
//! reports outputs, accuracy, cycles, energy and operation counts (the binary `phi-emu` is
//! [`main`]).
//!
//! Exit codes: 0 success; 1 a bad binary, bad inputs or a trap; 2 a usage error.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::emu::{self, EmuError, RunOptions, report};
use crate::npy::{parse_npy, read_labels, read_npy, to_npy_bytes, write_atomic};
use crate::{Tensor, metrics};
use clap::Parser;
use phi_dialect::isa::encode::{DecodeError, decode_all};
use phi_dialect::phibin::{self, PhibinError, SAMPLE_SECTION};
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

/// Why `phi-emu` failed (exit status 1); printed as one `error:` line.
#[derive(Debug)]
enum CliError {
    /// The program file is not a valid `.phibin`.
    Phibin(PhibinError),
    /// An instruction of the program does not decode.
    Decode {
        /// The program file.
        path: PathBuf,
        /// The instruction's index.
        index: usize,
        /// Why it does not decode.
        error: DecodeError,
    },
    /// The program does not have exactly one input.
    InputCount {
        /// Its inputs.
        inputs: usize,
    },
    /// No `--input`, and the program holds no sample input.
    NoSample,
    /// The embedded sample input is not a `.npy` array.
    Sample {
        /// The program file.
        path: PathBuf,
        /// The `.npy` reader's message.
        message: String,
    },
    /// A `.npy` file (inputs, labels) could not be read, or the outputs not encoded: the `.npy`
    /// module's message, which names the file.
    Npy {
        /// The message.
        message: String,
    },
    /// The input array does not convert to the port's elements.
    Input {
        /// The port's name.
        port: String,
        /// What is wrong.
        message: String,
    },
    /// An output is needed but the program has none.
    NoOutput,
    /// Not one label per sample.
    Labels {
        /// Labels given.
        labels: usize,
        /// Samples run.
        samples: usize,
    },
    /// The emulator stopped.
    Emu {
        /// The program file.
        path: PathBuf,
        /// Why.
        error: EmuError,
    },
    /// The statistics or the trace do not serialise.
    Json(serde_json::Error),
    /// An output file could not be written.
    Write {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Phibin(e) => e.fmt(f),
            CliError::Decode { path, index, error } => write!(f, "{}: instruction {index}: {error}", path.display()),
            CliError::InputCount { inputs } => {
                write!(f, "the program has {inputs} inputs; phi-emu feeds programs with one")
            }
            CliError::NoSample => write!(f, "the binary holds no sample input: give --input X.npy"),
            CliError::Sample { path, message } => {
                write!(f, "{}: the embedded sample input (section {SAMPLE_SECTION}): {message}", path.display())
            }
            CliError::Npy { message } => f.write_str(message),
            CliError::Input { port, message } => write!(f, "input `{port}`: {message}"),
            CliError::NoOutput => write!(f, "the program has no output"),
            CliError::Labels { labels, samples } => write!(f, "{labels} labels for {samples} samples"),
            CliError::Emu { path, error } => write!(f, "{}: {error}", path.display()),
            CliError::Json(e) => e.fmt(f),
            CliError::Write { path, source } => write!(f, "cannot write {}: {source}", path.display()),
        }
    }
}

impl std::error::Error for CliError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CliError::Write { source, .. } => Some(source),
            CliError::Phibin(_)
            | CliError::Decode { .. }
            | CliError::InputCount { .. }
            | CliError::NoSample
            | CliError::Sample { .. }
            | CliError::Npy { .. }
            | CliError::Input { .. }
            | CliError::NoOutput
            | CliError::Labels { .. }
            | CliError::Emu { .. }
            | CliError::Json(_) => None,
        }
    }
}

impl From<PhibinError> for CliError {
    fn from(e: PhibinError) -> Self {
        CliError::Phibin(e)
    }
}

/// Wraps a message of the `.npy` module (which names the file).
fn npy(message: String) -> CliError {
    CliError::Npy { message }
}

fn load(path: &Path) -> Result<Program, CliError> {
    let bin = phibin::read_file(path)?;
    let code =
        decode_all(&bin.code).map_err(|(index, error)| CliError::Decode { path: path.to_path_buf(), index, error })?;
    Ok(Program { meta: bin.meta, code, sections: bin.sections, sample: bin.sample })
}

fn inputs(meta: &ProgramMeta, program: &Program, bin: &Path, path: &Option<PathBuf>) -> Result<Vec<Tensor>, CliError> {
    let [port] = &meta.inputs[..] else {
        return Err(CliError::InputCount { inputs: meta.inputs.len() });
    };
    let arr = match path {
        Some(p) => read_npy(p).map_err(npy)?,
        None => parse_npy(program.sample.as_deref().ok_or(CliError::NoSample)?)
            .map_err(|message| CliError::Sample { path: bin.to_path_buf(), message })?,
    };
    let t = crate::input::tensor(&arr, port.elem.elem_type(), port.scale)
        .map_err(|message| CliError::Input { port: port.name.clone(), message })?;
    Ok(vec![t])
}

fn accuracy(r: &emu::Report, labels: &Option<Vec<usize>>) -> Result<report::Accuracy, CliError> {
    let Some(l) = labels else { return Ok(None) };
    let out = r.outputs.first().ok_or(CliError::NoOutput)?;
    if l.len() != r.samples {
        return Err(CliError::Labels { labels: l.len(), samples: r.samples });
    }
    Ok(metrics::correct(out, l).map(|ok| (ok, l.len())))
}

/// Writes `bytes` to `path` atomically.
fn write_file(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    write_atomic(path, bytes).map_err(|source| CliError::Write { path: path.to_path_buf(), source })
}

fn run() -> Result<(), CliError> {
    let args = Args::parse();
    let program = load(&args.program)?;
    let x = inputs(&program.meta, &program, &args.program, &args.input)?;
    let labels = args.labels.as_ref().map(|p| read_labels(p)).transpose().map_err(npy)?;
    let r = emu::run(&program, &x, RunOptions { trace: args.trace.is_some() })
        .map_err(|error| CliError::Emu { path: args.program.clone(), error })?;
    let acc = accuracy(&r, &labels)?;
    crate::out!("{}", report::summary(&program.meta, &r, acc));
    if let Some(p) = &args.output {
        let out = r.outputs.first().ok_or(CliError::NoOutput)?;
        write_file(p, &to_npy_bytes(out).map_err(npy)?)?;
    }
    if let Some(p) = &args.stats {
        let s = serde_json::to_vec_pretty(&report::stats(&program.meta, &r, acc)).map_err(CliError::Json)?;
        write_file(p, &s)?;
    }
    if let Some(p) = &args.trace {
        let s = serde_json::to_vec(&report::trace(&program.meta, &r)).map_err(CliError::Json)?;
        write_file(p, &s)?;
    }
    if !args.baseline.is_empty() {
        let mut rows = vec![(program.meta.clone(), r, acc)];
        for b in &args.baseline {
            let p = load(b)?;
            let rb =
                emu::run(&p, &x, RunOptions::default()).map_err(|error| CliError::Emu { path: b.clone(), error })?;
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
