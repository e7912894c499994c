//! The `phic` driver: command line, actions, diagnostics at the edge.
//!
//! `phic MODEL [options]` reads a model (ONNX text `.snn`/`.onnxtxt`/`.onnxtext`, IR text
//! `.mlir`, or IR text on stdin with `-`), then does what the options ask:
//!
//! - `--parse-only`: check the ONNX textual syntax only (any ops, any domains);
//! - `--emit=snn`: print the IR (to `-o FILE` or stdout);
//! - `--interpret --input X.npy [-o Y.npy] [--labels L.npy]`: run the reference interpreter;
//! - `--quantized`: quantise first (integer mode);
//! - `--passes=PIPELINE` (or the pipeline of `--target` on `--hw`, the one `-o` runs, with
//!   `--emit=phi` / `--report-sparsity`),
//!   with `--print-ir-after-all`, `--print-ir-after=PASS`, `--verify-each`, `--time-passes`;
//!   `--list-passes` lists them; `--calib X.npy` gives the calibration inputs;
//! - `--report-sparsity`: per-layer sparsity and operation counts of the Phi program;
//! - otherwise compile to a program ([`build`]): `-o OUT.phibin` (default `MODEL.phibin`),
//!   `--target phi|bit-sparse|dense`, `--hw CONFIG.toml`, `--emit=isa` for the listing,
//!   `--baselines` to write the other targets too, `--emulate` to run all three and compare.
//!
//! `phic train MODEL …` trains the model's weights (see [`crate::train`]).
//!
//! Exit codes: 0 success, 1 a diagnostic (compile or run error), 2 a usage error.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use codespan_reporting::term::termcolor::{ColorChoice, StandardStream};
use phi_dialect::{DResult, Diagnostic, Module, PrintOptions, SourceMap, print_module};
use phi_runtime::npy;

use phi_dialect::phi_attrs::{self, DataFile};
use phi_dialect::target::Target;

use crate::analysis::sparsity;
use crate::frontend::{self, InputKind, WeightMode};
use crate::passes::{self, Instrumentation, PassContext, Pipeline};

mod build;

pub use crate::failure::Failure;
pub use crate::target::hw_config;

/// The Phi compiler: spiking neural networks to the Phi accelerator.
#[derive(Debug, Parser)]
#[command(
    name = "phic",
    version,
    about = "The Phi compiler: spiking neural networks (ONNX text) to the Phi accelerator",
    long_about = None,
    args_conflicts_with_subcommands = true,
    after_help = "Examples:\n  phic examples/digits_mlp/model.snn -o model.phibin --emulate\n  phic examples/digits_mlp/model.snn -o model.phibin --target bit-sparse --hw my-chip.toml\n  phic examples/digits_mlp/model.snn --emit=isa | less\n  phic examples/digits_mlp/model.snn --emit=snn\n  phic examples/digits_mlp/model.snn --interpret --input examples/digits_mlp/test.npy --labels examples/digits_mlp/test_labels.npy\n  phic model.snn --emit=snn | phic - --emit=snn\n\nExit status: 0 success, 1 compile or run error, 2 usage error."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    compile: CompileArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Train a model's weights with surrogate-gradient BPTT (writes a safetensors file).
    Train(crate::train::cli::TrainArgs),
    /// Pattern-aware fine-tuning of a trained model (fewer Level-2 operations; writes OUT.snn, OUT.safetensors).
    Tune(crate::train::tune_cli::TuneArgs),
}

/// What to print with `--emit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Emit {
    /// The `snn` dialect as the frontend produces it (plus `--quantized` / `--passes`).
    Snn,
    /// The `phi` dialect: after the Phi pipeline (the default one unless `--passes` is given).
    Phi,
    /// The Phi ISA listing of the program compiled for `--target`.
    Isa,
    /// MLIR (generic syntax, with locations) at the level the other options select: `snn`, the
    /// integer `snn` with `--quantized`, `phi` with `--passes`; `mlir-opt` reads it with
    /// `--irdl-file=dialect/irdl/phi.irdl.mlir`.
    Mlir,
    /// The program compiled for `--target` as an `isa`-level MLIR module (`phic` reads it back:
    /// `phic prog.mlir -o prog.phibin`).
    IsaMlir,
}

/// `--nir-reset`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum NirResetArg {
    /// Set the membrane to the node's v_reset (NIR's definition).
    VReset,
    /// Subtract the threshold (snnTorch's Leaky default, Sinabs' MembraneSubtract).
    Subtract,
}

impl From<NirResetArg> for frontend::NirReset {
    fn from(r: NirResetArg) -> Self {
        match r {
            NirResetArg::VReset => frontend::NirReset::VReset,
            NirResetArg::Subtract => frontend::NirReset::Subtract,
        }
    }
}

/// The accelerator to compile for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TargetArg {
    /// Phi: runtime pattern matching, Level-1 PWP and Level-2 ±1 accumulation.
    Phi,
    /// A bit-sparse spike-driven accelerator (Stellar/PTB-like): every spike adds a weight row.
    BitSparse,
    /// A dense accelerator (Eyeriss-like): every weight is multiplied.
    Dense,
}

impl From<TargetArg> for phi_dialect::program::TargetKind {
    fn from(t: TargetArg) -> Self {
        use phi_dialect::program::TargetKind;
        match t {
            TargetArg::Phi => TargetKind::Phi,
            TargetArg::BitSparse => TargetKind::BitSparse,
            TargetArg::Dense => TargetKind::Dense,
        }
    }
}

#[derive(Debug, Args)]
struct CompileArgs {
    /// Model: ONNX text (.snn, .onnxtxt, .onnxtext), a NIR graph (.nir), IR text (.mlir), or - for IR text on stdin.
    #[arg(value_name = "MODEL")]
    model: Option<String>,

    /// Time steps of a .nir model (a NIR graph describes one step).
    #[arg(long, value_name = "T")]
    time_steps: Option<usize>,

    /// The Euler step (seconds) that turns a .nir model's time constants into per-step decays
    /// (beta = 1 − dt/tau); snnTorch exports with 1e-4.
    #[arg(long, value_name = "SECONDS", default_value_t = crate::frontend::nir_import::DEFAULT_DT)]
    nir_dt: f64,

    /// The inputs of a .nir model are spikes (i1) rather than real values (f32).
    #[arg(long)]
    nir_spiking_input: bool,

    /// How a .nir model's LIF, IF and CubaLIF neurons reset on a spike: to the node's v_reset,
    /// as NIR defines it (snnTorch's own NIR import does the same), or by subtracting the
    /// threshold, for graphs exported from tools that subtract (snnTorch's Leaky default).
    #[arg(long, value_enum, value_name = "MODE", default_value = "v-reset")]
    nir_reset: NirResetArg,

    /// Only check that MODEL is valid ONNX textual syntax (any ops and domains).
    #[arg(long, conflicts_with_all = ["emit", "interpret", "quantized", "passes", "report_sparsity"])]
    parse_only: bool,

    /// List the passes with their options, and exit.
    #[arg(long)]
    list_passes: bool,

    /// The pass pipeline, e.g. 'calibrate{samples=256},select-patterns{k=16,q=128,seed=0},phi-split'.
    #[arg(long, value_name = "PIPELINE")]
    passes: Option<String>,

    /// Print the IR after every pass (to stdout, before the final output).
    #[arg(long)]
    print_ir_after_all: bool,

    /// Print the IR after the named pass (repeatable).
    #[arg(long, value_name = "PASS")]
    print_ir_after: Vec<String>,

    /// Verify the module after every pass.
    #[arg(long)]
    verify_each: bool,

    /// Report the wall time of each pass (on stderr).
    #[arg(long)]
    time_passes: bool,

    /// Calibration inputs [N, T, ...] (.npy) for `calibrate`; default: the model's phi.calibration.
    #[arg(long, value_name = "X.npy")]
    calib: Option<PathBuf>,

    /// Print per-layer sparsity and operation counts of the Phi program on the calibration data
    /// and on held-out data (--input, or the model's phi.heldout file).
    #[arg(long)]
    report_sparsity: bool,

    /// Do not print pass remarks.
    #[arg(long, short = 'q')]
    quiet: bool,

    /// Print the IR at this stage.
    #[arg(long, value_enum, value_name = "STAGE")]
    emit: Option<Emit>,

    /// Run the reference interpreter on --input (after the passes, if any).
    #[arg(long, requires = "input", conflicts_with = "emit")]
    interpret: bool,

    /// Quantise to the integer model first (int8 weights, integer membranes).
    #[arg(long)]
    quantized: bool,

    /// Input spikes [N, T, ...] as .npy (uint8/bool 0/1) for --interpret (repeat for models with
    /// several inputs), or held-out data for --report-sparsity.
    #[arg(long, value_name = "X.npy")]
    input: Vec<PathBuf>,

    /// Labels [N] as .npy (with --interpret or --emulate): print the accuracy of the spike-count read-out.
    #[arg(long, value_name = "L.npy")]
    labels: Option<PathBuf>,

    /// Where results go: the program (.phibin; default MODEL.phibin), the text with --emit,
    /// output spikes (.npy, one per model output) with --interpret.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Vec<PathBuf>,

    /// Print op locations in the IR (like MLIR's --mlir-print-debuginfo).
    #[arg(long)]
    print_debuginfo: bool,

    /// Print weight references without their data (the result cannot be executed).
    #[arg(long)]
    elide_weights: bool,

    /// Samples processed at once: by the interpreter (default 256), or by one run of a compiled
    /// program (default: as many as one column tile of partial sums holds).
    #[arg(long, value_name = "N", value_parser = parse_batch)]
    batch: Option<usize>,

    /// The accelerator to compile for.
    #[arg(long, value_enum, default_value = "phi")]
    target: TargetArg,

    /// Hardware configuration (TOML; a missing key keeps the paper's default, see --print-hw-config).
    #[arg(long, value_name = "CONFIG.toml")]
    hw: Option<PathBuf>,

    /// Print the hardware configuration (the defaults, or --hw's) as TOML, and exit.
    #[arg(long)]
    print_hw_config: bool,

    /// Also write the program for the two other targets beside the output (OUT.bit-sparse.phibin, OUT.dense.phibin …).
    #[arg(long)]
    baselines: bool,

    /// After compiling, run the program and both baselines on the emulator (on --input, or the
    /// model's phi.heldout data and labels) and print accuracy, cycles, energy and speedups.
    #[arg(long, conflicts_with_all = ["emit", "interpret", "report_sparsity"])]
    emulate: bool,
}

/// Runs `phic` with the process arguments.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut sources = SourceMap::new();
    let result = match cli.command {
        Some(Command::Train(args)) => crate::train::cli::run(&args, &mut sources),
        Some(Command::Tune(args)) => crate::train::tune_cli::run(&args, &mut sources),
        None => run_compile(&cli.compile, &mut sources),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Diag(d)) => {
            report(&d, &sources);
            ExitCode::from(1)
        }
        Err(Failure::Usage(msg)) => {
            eprintln!("error: {msg}\n\nFor more information, try '--help'.");
            ExitCode::from(2)
        }
    }
}

/// Renders a diagnostic on stderr (in colour on a terminal).
pub fn report(d: &Diagnostic, sources: &SourceMap) {
    let rich = std::io::stderr().is_terminal();
    let mut out = StandardStream::stderr(if rich { ColorChoice::Auto } else { ColorChoice::Never });
    d.emit(sources, &mut out, rich);
    let _ = out.flush();
}

fn write_text(path: Option<&PathBuf>, text: &str) -> DResult<()> {
    match path {
        Some(p) => npy::write_atomic(p, text.as_bytes())
            .map_err(|e| Diagnostic::error(format!("cannot write {}: {e}", p.display()))),
        None => {
            let mut out = std::io::stdout().lock();
            // A closed pipe (e.g. `| head`) is not an error of the compiler.
            let _ = out.write_all(text.as_bytes());
            let _ = out.flush();
            Ok(())
        }
    }
}

/// Loads MODEL into a verified module, keeping its text in `sources` for diagnostics.
pub fn load(
    model: &str,
    sources: &mut SourceMap,
    mode: WeightMode,
    nir: &frontend::ImportOptions,
) -> Result<Module, Failure> {
    let src = frontend::read_source(model)?;
    *sources = src.sources.clone();
    Ok(frontend::load_module_with(&src, mode, nir)?)
}

impl CompileArgs {
    /// The NIR importer's options; they apply to .nir models only.
    fn nir_options(&self, model: &str) -> Result<frontend::ImportOptions, Failure> {
        let set = self.time_steps.is_some()
            || self.nir_spiking_input
            || self.nir_dt != crate::frontend::nir_import::DEFAULT_DT
            || self.nir_reset != NirResetArg::VReset;
        if set && InputKind::of(model) != Some(InputKind::Nir) {
            return Err(Failure::Usage(
                "--time-steps, --nir-dt, --nir-spiking-input and --nir-reset apply to .nir models only".into(),
            ));
        }
        Ok(frontend::ImportOptions {
            time_steps: self.time_steps,
            dt: self.nir_dt,
            spiking_input: self.nir_spiking_input,
            reset: self.nir_reset.into(),
        })
    }
}

fn run_compile(a: &CompileArgs, sources: &mut SourceMap) -> Result<(), Failure> {
    if a.list_passes {
        phi_runtime::out!("{}", passes::list_passes());
        return Ok(());
    }
    if a.print_hw_config {
        phi_runtime::out!("{}", hw_config(a.hw.as_deref(), sources)?.to_toml());
        return Ok(());
    }
    let Some(model) = a.model.as_deref() else {
        return Err(Failure::Usage("a MODEL is required".into()));
    };
    if a.parse_only {
        let src = frontend::read_source(model)?;
        *sources = src.sources.clone();
        if src.kind != InputKind::OnnxText {
            return Err(Failure::Usage("--parse-only checks ONNX text (.snn, .onnxtxt, .onnxtext)".into()));
        }
        frontend::onnx::parse_model(src.file, src.sources.file(src.file).text())?;
        return Ok(());
    }
    if a.labels.is_some() && !a.interpret && !a.emulate {
        return Err(Failure::Usage("--labels goes with --interpret or --emulate".into()));
    }
    if InputKind::of(model) == Some(InputKind::IrText) {
        let src = frontend::read_source(model)?;
        if phi_dialect::isa::mlir::is_program(&src.sources, src.file) {
            *sources = src.sources.clone();
            return build::run_program_text(a, &src);
        }
    }
    if matches!(a.emit, Some(Emit::Isa | Emit::IsaMlir)) || (a.emit.is_none() && !a.interpret && !a.report_sparsity) {
        return build::run(a, model, sources);
    }
    let target = crate::target::target(a.target.into(), a.hw.as_deref(), sources)?;
    let mut m = load(model, sources, WeightMode::Load, &a.nir_options(model)?)?;
    let print =
        PrintOptions { debug_info: a.print_debuginfo || a.emit == Some(Emit::Mlir), elide_weights: a.elide_weights };
    // the same pipeline `-o` runs for this target (`--passes` instead, when given)
    let pipeline = match (&a.passes, a.emit, a.report_sparsity) {
        (Some(p), _, _) => Some(Pipeline::parse(p).map_err(Failure::Usage)?),
        (None, Some(Emit::Phi), _) | (None, _, true) => Some(Pipeline::for_target(target.kind)),
        (None, Some(Emit::Snn | Emit::Mlir | Emit::Isa | Emit::IsaMlir) | None, false) => None,
    };
    let pipeline = match (a.quantized, pipeline) {
        (true, Some(p)) => Some(p.prepend(&passes::quantize::INFO)),
        (true, None) => Some(Pipeline::parse("quantize").map_err(Failure::Usage)?),
        (false, p) => p,
    };
    let src_dir = model_dir(model);
    if let Some(p) = pipeline {
        run_pipeline(a, &mut m, p, &target, &src_dir, true)?;
    }
    if a.emit.is_some() {
        if a.output.len() > 1 {
            return Err(Failure::Usage("--emit writes one file: give -o once".into()));
        }
        write_text(a.output.first(), &print_module(&m, print))?;
    }
    if a.report_sparsity {
        report_sparsity(a, &m, &src_dir)?;
    }
    if a.interpret {
        interpret(a, &m)?;
    }
    Ok(())
}

/// The directory that relative paths in the model's metadata are resolved against.
fn model_dir(model: &str) -> PathBuf {
    match model {
        "-" => PathBuf::from("."),
        path => crate::frontend::external::base_dir(std::path::Path::new(path)),
    }
}

/// Runs `pipeline` for `target` on `m` (`--batch` sets `tile{batch}`); with `instrumented`, as
/// the options ask (IR printing, verification, timing, remarks), otherwise quietly (the
/// baselines `--emulate` compiles on the side).
fn run_pipeline(
    a: &CompileArgs,
    m: &mut Module,
    mut pipeline: Pipeline,
    target: &Target,
    model_dir: &std::path::Path,
    instrumented: bool,
) -> Result<(), Failure> {
    if let Some(b) = a.batch {
        pipeline.set(passes::tile::INFO.name, "batch", b.to_string());
    }
    let mut pm = pipeline.build(target).map_err(Failure::Usage)?;
    if instrumented {
        pm.instrumentation = Instrumentation {
            print_after_all: a.print_ir_after_all,
            print_after: a.print_ir_after.clone(),
            verify_each: a.verify_each,
            time_passes: a.time_passes,
            print: PrintOptions { debug_info: a.print_debuginfo, elide_weights: a.elide_weights },
        };
    }
    let quiet = a.quiet || !instrumented;
    let mut sink = std::io::sink();
    let mut stderr = std::io::stderr();
    let remarks: &mut dyn Write = if quiet { &mut sink } else { &mut stderr };
    let mut cx = PassContext {
        model_dir: model_dir.to_path_buf(),
        calib: a.calib.clone(),
        remarks,
        progress: std::io::stderr().is_terminal() && !quiet,
    };
    let mut stdout = std::io::stdout().lock();
    let timings = pm.run(m, &mut cx, &mut stdout)?;
    if instrumented && a.time_passes {
        eprint!("{}", timings.report());
    }
    Ok(())
}

fn report_sparsity(a: &CompileArgs, m: &Module, model_dir: &std::path::Path) -> Result<(), Failure> {
    let mut sink = std::io::sink();
    let cx =
        PassContext { model_dir: model_dir.to_path_buf(), calib: a.calib.clone(), remarks: &mut sink, progress: false };
    let calib = crate::data::calibration_path(m, &cx.model_dir, cx.calib.as_deref())?;
    let x = crate::data::read_inputs(m, &calib, usize::MAX)?;
    let layers = sparsity::measure(m, &x)?;
    phi_runtime::outln!(
        "{}",
        sparsity::render(
            &format!("Sparsity on the calibration data ({}, {} samples)", calib.display(), x.shape[0]),
            &layers
        )
    );
    // Held-out data: --input, or else the file the model names as `phi.heldout`.
    let heldout: Vec<PathBuf> = if !a.input.is_empty() {
        a.input.clone()
    } else {
        crate::data::model_file(m, &cx.model_dir, DataFile::Heldout).into_iter().collect()
    };
    for path in &heldout {
        let x = crate::data::read_inputs(m, path, usize::MAX)?;
        let layers = sparsity::measure(m, &x)?;
        phi_runtime::outln!(
            "{}",
            sparsity::render(
                &format!("Sparsity on held-out data ({}, {} samples)", path.display(), x.shape[0]),
                &layers
            )
        );
    }
    Ok(())
}

fn interpret(a: &CompileArgs, m: &Module) -> Result<(), Failure> {
    let input_types = model_inputs(m);
    if a.input.len() != input_types.len() {
        return Err(Failure::Usage(format!(
            "the model has {} input(s); give --input once for each ({} given)",
            input_types.len(),
            a.input.len()
        )));
    }
    let mut inputs = Vec::new();
    for (path, (name, elem, scale)) in a.input.iter().zip(&input_types) {
        let arr = npy::read_npy(path).map_err(Diagnostic::error)?;
        let t = phi_runtime::input::tensor(&arr, *elem, *scale)
            .map_err(|e| Diagnostic::error(format!("{}: input `{name}`: {e}", path.display())))?;
        inputs.push(t);
    }
    let opts = phi_runtime::Options { chunk: a.batch.unwrap_or(256), ..phi_runtime::Options::default() };
    let outputs = phi_runtime::run_with(m, &inputs, opts, &mut |_, _, _| {})?;
    if !a.output.is_empty() && a.output.len() != outputs.len() {
        return Err(Failure::Usage(format!("the model has {} output(s); give -o once for each", outputs.len())));
    }
    for (path, t) in a.output.iter().zip(&outputs) {
        npy::write_tensor(path, t).map_err(Diagnostic::error)?;
    }
    let float = m.body().iter().any(|&op| {
        matches!(
            &m.op(op).kind,
            phi_dialect::OpKind::Snn(phi_dialect::SnnOp::Lif(n) | phi_dialect::SnnOp::If(n))
                if matches!(n.params, phi_dialect::ops::snn::NeuronParams::Float { .. })
        )
    });
    let mode = if float { "float32" } else { "integer" };
    let n = outputs.first().map_or(0, |t| t.shape[0]);
    let mut line = format!("interpreted {n} samples ({mode})");
    for (t, (name, _)) in outputs.iter().zip(model_outputs(m)) {
        let spikes = t.as_spikes().map_or(0, |s| s.iter().filter(|&&x| x != 0).count());
        line.push_str(&format!("; output `{name}` {:?}, {spikes} spikes", t.shape));
    }
    phi_runtime::outln!("{line}");
    if let Some(lp) = &a.labels {
        let labels = npy::read_labels(lp).map_err(Diagnostic::error)?;
        let out = outputs.first().ok_or_else(|| Diagnostic::error("the model has no output"))?;
        if labels.len() != n {
            return Err(
                Diagnostic::error(format!("{} holds {} labels for {n} samples", lp.display(), labels.len())).into()
            );
        }
        let ok = phi_runtime::metrics::correct(out, &labels)
            .ok_or_else(|| Diagnostic::error("accuracy needs spike outputs [N, T, classes]"))?;
        phi_runtime::outln!("accuracy {:.2}% ({ok}/{n})", 100.0 * ok as f64 / n.max(1) as f64);
    }
    Ok(())
}

/// The model's inputs by index: name, element type, and the scale of a quantised real-valued
/// input.
pub fn model_inputs(m: &Module) -> Vec<(String, phi_dialect::ElemType, Option<f32>)> {
    let mut v: Vec<(u32, String, phi_dialect::ElemType, Option<f32>)> = Vec::new();
    for &op in m.body() {
        if let phi_dialect::OpKind::Snn(phi_dialect::SnnOp::Input(p)) = &m.op(op).kind {
            v.push((p.index, p.name.clone(), m.ty(m.result(op)).elem, phi_attrs::input_scale(m, op)));
        }
    }
    v.sort_by_key(|x| x.0);
    v.into_iter().map(|(_, n, e, s)| (n, e, s)).collect()
}

/// The model's outputs by index: name and operand type.
pub fn model_outputs(m: &Module) -> Vec<(String, phi_dialect::TensorType)> {
    let mut v: Vec<(u32, String, phi_dialect::TensorType)> = Vec::new();
    for &op in m.body() {
        if let phi_dialect::OpKind::Snn(phi_dialect::SnnOp::Output(p)) = &m.op(op).kind {
            v.push((p.index, p.name.clone(), m.ty(m.op(op).operands[0]).clone()));
        }
    }
    v.sort_by_key(|x| x.0);
    v.into_iter().map(|(_, n, t)| (n, t)).collect()
}

/// `--batch`: a positive sample count (the program format holds up to 65,536).
fn parse_batch(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n @ 1..=65_536) => Ok(n),
        Ok(_) => Err("the batch must be between 1 and 65536 samples".into()),
        Err(e) => Err(format!("not a sample count ({e})")),
    }
}
