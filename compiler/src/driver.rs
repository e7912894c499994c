//! The `phic` driver: command line, actions, diagnostics at the edge.
//!
//! `phic MODEL [options]` reads a model (ONNX text `.snn`/`.onnxtxt`/`.onnxtext`, IR text
//! `.mlir`, or IR text on stdin with `-`), then does what the options ask:
//!
//! - `--parse-only`: check the ONNX textual syntax only (any ops, any domains);
//! - `--emit=snn`: print the IR (to `-o FILE` or stdout);
//! - `--interpret --input X.npy [-o Y.npy] [--labels L.npy]`: run the reference interpreter;
//! - `--quantized`: quantise first (integer mode).
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

use crate::frontend::{self, InputKind, WeightMode};
use crate::passes::quantize::quantize;

/// The Phi compiler: spiking neural networks to the Phi accelerator.
#[derive(Debug, Parser)]
#[command(
    name = "phic",
    version,
    about = "The Phi compiler: spiking neural networks (ONNX text) to the Phi accelerator",
    long_about = None,
    args_conflicts_with_subcommands = true,
    after_help = "Examples:\n  phic examples/digits_mlp/model.snn --emit=snn\n  phic examples/digits_mlp/model.snn --interpret --input examples/digits_mlp/test.npy --labels examples/digits_mlp/test_labels.npy\n  phic model.snn --emit=snn | phic - --emit=snn\n\nExit status: 0 success, 1 compile or run error, 2 usage error."
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
}

/// What to print with `--emit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Emit {
    /// The `snn` dialect (MLIR generic syntax).
    Snn,
}

#[derive(Debug, Args)]
struct CompileArgs {
    /// Model: ONNX text (.snn, .onnxtxt, .onnxtext), IR text (.mlir), or - for IR text on stdin.
    #[arg(value_name = "MODEL")]
    model: Option<String>,

    /// Only check that MODEL is valid ONNX textual syntax (any ops and domains).
    #[arg(long, conflicts_with_all = ["emit", "interpret", "quantized"])]
    parse_only: bool,

    /// Print the IR at this stage.
    #[arg(long, value_enum, value_name = "STAGE")]
    emit: Option<Emit>,

    /// Run the reference interpreter on --input.
    #[arg(long, requires = "input", conflicts_with = "emit")]
    interpret: bool,

    /// Quantise to the integer model first (int8 weights, integer membranes).
    #[arg(long)]
    quantized: bool,

    /// Input spikes [N, T, ...] as .npy (uint8/bool 0/1); repeat for models with several inputs.
    #[arg(long, value_name = "X.npy")]
    input: Vec<PathBuf>,

    /// Labels [N] as .npy: print the accuracy of the spike-count read-out.
    #[arg(long, value_name = "L.npy", requires = "interpret")]
    labels: Option<PathBuf>,

    /// Where results go: the IR text with --emit, output spikes (.npy, one per model output) with --interpret.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Vec<PathBuf>,

    /// Print op locations in the IR (like MLIR's --mlir-print-debuginfo).
    #[arg(long)]
    print_debuginfo: bool,

    /// Print weight references without their data (the result cannot be executed).
    #[arg(long)]
    elide_weights: bool,

    /// Samples the interpreter runs at once.
    #[arg(long, default_value_t = 256, value_name = "N")]
    batch: usize,
}

/// Runs `phic` with the process arguments.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut sources = SourceMap::new();
    let result = match cli.command {
        Some(Command::Train(args)) => crate::train::cli::run(&args, &mut sources),
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

/// Why a command failed.
#[derive(Debug)]
pub enum Failure {
    /// A compile or run error.
    Diag(Diagnostic),
    /// A usage error (exit code 2).
    Usage(String),
}

impl From<Diagnostic> for Failure {
    fn from(d: Diagnostic) -> Self {
        Failure::Diag(d)
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
pub fn load(model: &str, sources: &mut SourceMap, mode: WeightMode) -> Result<Module, Failure> {
    let src = frontend::read_source(model)?;
    *sources = src.sources.clone();
    Ok(frontend::load_module(&src, mode)?)
}

fn run_compile(a: &CompileArgs, sources: &mut SourceMap) -> Result<(), Failure> {
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
    if a.emit.is_none() && !a.interpret {
        return Err(Failure::Usage(
            "nothing to do: choose --emit=snn, --interpret or --parse-only (compiling to .phibin arrives with the backend)"
                .into(),
        ));
    }
    let mut m = load(model, sources, WeightMode::Load)?;
    if a.quantized {
        quantize(&mut m)?;
    }
    if let Some(Emit::Snn) = a.emit {
        if a.output.len() > 1 {
            return Err(Failure::Usage("--emit writes one file: give -o once".into()));
        }
        let text = print_module(&m, PrintOptions { debug_info: a.print_debuginfo, elide_weights: a.elide_weights });
        write_text(a.output.first(), &text)?;
    }
    if a.interpret {
        interpret(a, &m)?;
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
    for (path, (name, elem)) in a.input.iter().zip(&input_types) {
        let arr = npy::read_npy(path).map_err(Diagnostic::error)?;
        let t = npy::to_tensor(&arr, *elem)
            .map_err(|e| Diagnostic::error(format!("{}: input `{name}`: {e}", path.display())))?;
        inputs.push(t);
    }
    let opts = phi_runtime::Options { chunk: a.batch.max(1), ..phi_runtime::Options::default() };
    let outputs = phi_runtime::run_with(m, &inputs, opts, &mut |_, _, _| {})?;
    if !a.output.is_empty() && a.output.len() != outputs.len() {
        return Err(Failure::Usage(format!("the model has {} output(s); give -o once for each", outputs.len())));
    }
    for (path, t) in a.output.iter().zip(&outputs) {
        npy::write_tensor(path, t).map_err(Diagnostic::error)?;
    }
    let mode = if a.quantized { "integer" } else { "float32" };
    let n = outputs.first().map_or(0, |t| t.shape[0]);
    let mut line = format!("interpreted {n} samples ({mode})");
    for (t, (name, _)) in outputs.iter().zip(model_outputs(m)) {
        let spikes = t.as_spikes().map_or(0, |s| s.iter().filter(|&&x| x != 0).count());
        line.push_str(&format!("; output `{name}` {:?}, {spikes} spikes", t.shape));
    }
    println!("{line}");
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
        println!("accuracy {:.2}% ({ok}/{n})", 100.0 * ok as f64 / n.max(1) as f64);
    }
    Ok(())
}

/// The model's inputs by index: name and element type.
pub fn model_inputs(m: &Module) -> Vec<(String, phi_dialect::ElemType)> {
    let mut v: Vec<(u32, String, phi_dialect::ElemType)> = Vec::new();
    for &op in m.body() {
        if let phi_dialect::OpKind::Snn(phi_dialect::SnnOp::Input(p)) = &m.op(op).kind {
            v.push((p.index, p.name.clone(), m.ty(m.result(op)).elem));
        }
    }
    v.sort_by_key(|x| x.0);
    v.into_iter().map(|(_, n, e)| (n, e)).collect()
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
