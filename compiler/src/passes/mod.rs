//! The pass manager and the registry of passes.
//!
//! A pass is a type implementing [`Pass`], in its own file, registered by one line in
//! [`REGISTRY`] (name, one-line summary, options with defaults, constructor). Pipelines are
//! text, as in MLIR: `canonicalize,calibrate{samples=256},select-patterns{k=16,q=128,seed=0}`.
//! [`PassManager`] runs a pipeline with MLIR-style instrumentation: printing the IR after every
//! pass or after named ones, verifying after each pass, and timing.
//!
//! Passes receive everything they need through [`PassContext`] (model directory, calibration
//! file, remark sink); there is no global state.
//!
//! Adding a pass: see `docs/ARCHITECTURE.md`, "How to add a pass".

pub mod calibrate;
pub mod canonicalize;
pub mod conv_to_gemm;
pub mod phi_split;
pub mod pipeline;
pub mod quantize;
pub mod select_patterns;
pub mod tile;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use phi_dialect::{DResult, Diagnostic, Module, PrintOptions, print_module, verify};

pub use pipeline::{PassSpec, parse_pipeline};

/// A transformation of a module.
pub trait Pass {
    /// The registered name.
    fn name(&self) -> &'static str;
    /// Transforms the module in place.
    fn run(&mut self, m: &mut Module, cx: &mut PassContext<'_>) -> DResult<()>;
}

/// One option of a pass.
#[derive(Clone, Copy, Debug)]
pub struct OptionSpec {
    /// Name as written in a pipeline.
    pub name: &'static str,
    /// Default value (as text).
    pub default: &'static str,
    /// One line of help.
    pub help: &'static str,
}

/// A registry entry.
pub struct PassInfo {
    /// Name as written in a pipeline.
    pub name: &'static str,
    /// One-line description.
    pub summary: &'static str,
    /// Options with their defaults.
    pub options: &'static [OptionSpec],
    /// Builds the pass from its options.
    pub create: fn(&PassOptions) -> Result<Box<dyn Pass>, String>,
}

/// Every pass, in the order of the default pipeline.
pub static REGISTRY: &[&PassInfo] = &[
    &canonicalize::INFO,
    &conv_to_gemm::INFO,
    &quantize::INFO,
    &calibrate::INFO,
    &select_patterns::INFO,
    &phi_split::INFO,
    &tile::INFO,
];

/// The pipeline run when none is given (ONNX text → `phi` dialect).
pub const DEFAULT_PIPELINE: &str = "canonicalize,conv-to-gemm,quantize,calibrate,select-patterns,phi-split,tile";

/// Looks a pass up by name.
pub fn lookup(name: &str) -> Option<&'static PassInfo> {
    REGISTRY.iter().copied().find(|p| p.name == name)
}

/// The options given to one pass, with the registry's defaults filled in.
#[derive(Clone, Debug)]
pub struct PassOptions {
    pass: &'static str,
    values: BTreeMap<&'static str, String>,
}

impl PassOptions {
    /// Options from a spec's `key=value` list, checked against the pass's option names.
    pub fn new(info: &PassInfo, given: &[(String, String)]) -> Result<PassOptions, String> {
        let mut values: BTreeMap<&'static str, String> =
            info.options.iter().map(|o| (o.name, o.default.to_string())).collect();
        for (k, v) in given {
            let Some(o) = info.options.iter().find(|o| o.name == k) else {
                let names: Vec<&str> = info.options.iter().map(|o| o.name).collect();
                return Err(if names.is_empty() {
                    format!("pass `{}` has no options, `{k}` given", info.name)
                } else {
                    format!("pass `{}` has no option `{k}`; its options are: {}", info.name, names.join(", "))
                });
            };
            values.insert(o.name, v.clone());
        }
        Ok(PassOptions { pass: info.name, values })
    }

    fn raw(&self, name: &str) -> &str {
        self.values.get(name).map_or("", String::as_str)
    }

    /// A string option.
    pub fn string(&self, name: &str) -> String {
        self.raw(name).to_string()
    }

    /// An unsigned integer option within `range`.
    pub fn uint(&self, name: &str, range: std::ops::RangeInclusive<u64>) -> Result<u64, String> {
        let v = self.raw(name);
        let n: u64 =
            v.parse().map_err(|_| format!("option `{name}` of `{}` must be an integer, found `{v}`", self.pass))?;
        if !range.contains(&n) {
            return Err(format!(
                "option `{name}` of `{}` is {n}, outside {}..={}",
                self.pass,
                range.start(),
                range.end()
            ));
        }
        Ok(n)
    }

    /// One of a fixed set of words.
    pub fn choice(&self, name: &str, choices: &[&str]) -> Result<String, String> {
        let v = self.raw(name);
        if choices.contains(&v) {
            Ok(v.to_string())
        } else {
            Err(format!("option `{name}` of `{}` is `{v}`; choose one of: {}", self.pass, choices.join(", ")))
        }
    }
}

/// What passes may use besides the module.
pub struct PassContext<'a> {
    /// Directory relative paths in the model (e.g. `phi.calibration`) resolve against.
    pub model_dir: PathBuf,
    /// Calibration inputs given on the command line (`--calib`), overriding the model's.
    pub calib: Option<PathBuf>,
    /// Where remarks go (stderr for the driver, a buffer in tests).
    pub remarks: &'a mut dyn Write,
    /// Whether to draw progress bars (only on a terminal).
    pub progress: bool,
}

impl PassContext<'_> {
    /// Emits a remark line, `remark: [pass] message`.
    pub fn remark(&mut self, pass: &str, msg: impl AsRef<str>) {
        // Remarks are informative: a closed stderr is not an error of the pass.
        let _ = writeln!(self.remarks, "remark: [{pass}] {}", msg.as_ref());
    }
}

/// Instrumentation of a pipeline run, as MLIR's pass manager options.
#[derive(Clone, Debug, Default)]
pub struct Instrumentation {
    /// Print the IR after every pass.
    pub print_after_all: bool,
    /// Print the IR after these passes.
    pub print_after: Vec<String>,
    /// Verify the module after every pass (it is always verified at the end).
    pub verify_each: bool,
    /// Collect the wall time of each pass.
    pub time_passes: bool,
    /// How printed IR looks.
    pub print: PrintOptions,
}

/// A parsed, constructed pipeline.
pub struct PassManager {
    passes: Vec<Box<dyn Pass>>,
    /// What to instrument.
    pub instrumentation: Instrumentation,
}

/// Wall time per pass, in run order.
#[derive(Clone, Debug, Default)]
pub struct Timings {
    /// `(pass, time)`.
    pub passes: Vec<(&'static str, Duration)>,
}

impl Timings {
    /// MLIR-like `--time-passes` report.
    pub fn report(&self) -> String {
        let total: Duration = self.passes.iter().map(|(_, d)| *d).sum();
        let mut out = String::from("===-------------------------------------------------------------------------===\n");
        out.push_str("                         ... Pass execution timing report ...\n");
        out.push_str("===-------------------------------------------------------------------------===\n");
        let _ = writeln!(out, "  Total Execution Time: {:.4} seconds\n", total.as_secs_f64());
        out.push_str("  ----Wall Time----  ----Name----\n");
        for (name, d) in &self.passes {
            let pct = if total.is_zero() { 0.0 } else { 100.0 * d.as_secs_f64() / total.as_secs_f64() };
            let _ = writeln!(out, "  {:.4} ({pct:5.1}%)  {name}", d.as_secs_f64());
        }
        let _ = writeln!(out, "  {:.4} (100.0%)  Total", total.as_secs_f64());
        out
    }
}

impl PassManager {
    /// Builds the passes of a pipeline text.
    pub fn parse(pipeline: &str) -> Result<PassManager, String> {
        let specs = parse_pipeline(pipeline)?;
        let mut passes = Vec::new();
        for s in specs {
            let info = lookup(&s.name).ok_or_else(|| {
                let names: Vec<&str> = REGISTRY.iter().map(|p| p.name).collect();
                format!("unknown pass `{}`; available passes: {}", s.name, names.join(", "))
            })?;
            let opts = PassOptions::new(info, &s.options)?;
            passes.push((info.create)(&opts)?);
        }
        Ok(PassManager { passes, instrumentation: Instrumentation::default() })
    }

    /// The names of the passes, in order.
    pub fn names(&self) -> Vec<&'static str> {
        self.passes.iter().map(|p| p.name()).collect()
    }

    /// Runs every pass; printed IR goes to `out`. Returns the timings.
    pub fn run(&mut self, m: &mut Module, cx: &mut PassContext<'_>, out: &mut dyn Write) -> DResult<Timings> {
        let mut timings = Timings::default();
        let known: Vec<&str> = REGISTRY.iter().map(|p| p.name).collect();
        if let Some(bad) = self.instrumentation.print_after.iter().find(|n| !known.contains(&n.as_str())) {
            return Err(Diagnostic::error(format!("--print-ir-after names an unknown pass `{bad}`"))
                .with_help(format!("available passes: {}", known.join(", "))));
        }
        for p in &mut self.passes {
            let start = Instant::now();
            p.run(m, cx).map_err(|d| d.with_note(format!("in pass `{}`", p.name())))?;
            timings.passes.push((p.name(), start.elapsed()));
            if self.instrumentation.verify_each {
                verify(m).map_err(|d| d.with_note(format!("the module does not verify after pass `{}`", p.name())))?;
            }
            let inst = &self.instrumentation;
            if inst.print_after_all || inst.print_after.iter().any(|n| n == p.name()) {
                let _ = writeln!(out, "// -----// IR Dump After {} //----- //", p.name());
                let _ = out.write_all(print_module(m, inst.print).as_bytes());
            }
        }
        verify(m)?;
        Ok(timings)
    }
}

/// `--list-passes`: name, summary and options of every pass.
pub fn list_passes() -> String {
    let mut out = String::from("Passes (default pipeline: ");
    out.push_str(DEFAULT_PIPELINE);
    out.push_str(")\n");
    for p in REGISTRY {
        let _ = writeln!(out, "  {:<16} {}", p.name, p.summary);
        for o in p.options {
            let _ = writeln!(out, "      {:<12} = {:<10} {}", o.name, o.default, o.help);
        }
    }
    out
}

/// Reads a `.npy` input file for a pass, relative paths against the model directory.
pub fn resolve(cx: &PassContext<'_>, path: &std::path::Path) -> PathBuf {
    if path.is_absolute() { path.to_path_buf() } else { cx.model_dir.join(path) }
}
