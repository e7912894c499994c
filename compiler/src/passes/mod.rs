//! The pass manager and the registry of passes.
//!
//! A pass is a type implementing [`Pass`], in its own file, registered by one line in
//! [`REGISTRY`] (name, one-line summary, options with defaults, constructor). A [`Pipeline`] is
//! a list of registered passes with the options written for them; [`Pipeline::for_target`] is
//! the pipeline of an accelerator kind, and pipelines are also written as text, as in MLIR:
//! `canonicalize,calibrate{samples=256},select-patterns{k=16,q=128,seed=0}`.
//!
//! Passes are built for one [`Target`] (accelerator kind + hardware configuration): an option
//! whose default is a hardware parameter ([`OptDefault::Hw`]: the partition width `k`, the
//! pattern count `q`, the tile sizes `m` and `n`) takes the target's value unless the pipeline
//! gives one, and a pass that needs more of the hardware (`tile`: the buffers) keeps the target.
//! The hardware is never written into pipeline text and parsed back.
//!
//! [`PassManager`] runs a pipeline with MLIR-style instrumentation: printing the IR after every
//! pass or after named ones, verifying after each pass, and timing. Passes receive everything
//! else they need through [`PassContext`] (model directory, calibration file, remark sink);
//! there is no global state.
//!
//! Adding a pass: see `docs/ARCHITECTURE.md`, "How to add a pass".

pub mod add_to_gemm;
pub mod calibrate;
pub mod canonicalize;
pub mod conv_to_gemm;
pub mod phi_split;
pub mod pipeline;
pub mod pool_to_gemm;
pub mod quantize;
pub mod select_patterns;
pub mod tile;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use phi_dialect::hw::HwConfig;
use phi_dialect::program::TargetKind;
use phi_dialect::target::Target;
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
    /// Its value when the pipeline gives none.
    pub default: OptDefault,
    /// One line of help.
    pub help: &'static str,
}

/// Where an option's value comes from when the pipeline gives none.
#[derive(Clone, Copy, Debug)]
pub enum OptDefault {
    /// A fixed value (as it would be written).
    Value(&'static str),
    /// A parameter of the target's hardware configuration.
    Hw(HwParam),
}

/// A hardware parameter that is also a pass option's default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HwParam {
    /// Partition width `k`.
    K,
    /// Patterns per partition `q`.
    Q,
    /// Rows per tile `m`.
    M,
    /// Columns per tile `n`.
    N,
}

impl HwParam {
    /// The key in the hardware configuration.
    pub fn key(self) -> &'static str {
        match self {
            HwParam::K => "k",
            HwParam::Q => "q",
            HwParam::M => "m",
            HwParam::N => "n",
        }
    }

    /// Its value in `hw`.
    pub fn of(self, hw: &HwConfig) -> u64 {
        match self {
            HwParam::K => hw.k as u64,
            HwParam::Q => hw.q as u64,
            HwParam::M => hw.m as u64,
            HwParam::N => hw.n as u64,
        }
    }
}

/// A registry entry.
pub struct PassInfo {
    /// Name as written in a pipeline.
    pub name: &'static str,
    /// One-line description.
    pub summary: &'static str,
    /// Options with their defaults.
    pub options: &'static [OptionSpec],
    /// Builds the pass from its options for a target.
    pub create: Constructor,
}

/// How a registry entry builds its pass: from the options and the target.
pub type Constructor = fn(&PassOptions, &Target) -> Result<Box<dyn Pass>, String>;

/// Every pass: today, exactly the Phi pipeline, in its order.
pub static REGISTRY: &[&PassInfo] = PHI_PASSES;

/// The passes that prepare a module for Phi (ONNX text → `phi` dialect, tiled).
const PHI_PASSES: &[&PassInfo] = &[
    &canonicalize::INFO,
    &conv_to_gemm::INFO,
    &quantize::INFO,
    &pool_to_gemm::INFO,
    &add_to_gemm::INFO,
    &calibrate::INFO,
    &select_patterns::INFO,
    &phi_split::INFO,
    &tile::INFO,
];

/// The passes that prepare a module for a baseline (integer `snn`, tiled).
const BASELINE_PASSES: &[&PassInfo] =
    &[&canonicalize::INFO, &conv_to_gemm::INFO, &quantize::INFO, &pool_to_gemm::INFO, &add_to_gemm::INFO, &tile::INFO];

/// Looks a pass up by name.
pub fn lookup(name: &str) -> Option<&'static PassInfo> {
    REGISTRY.iter().copied().find(|p| p.name == name)
}

/// The options given to one pass, with the defaults filled in: the registry's fixed ones, and
/// the target's hardware parameters.
#[derive(Clone, Debug)]
pub struct PassOptions {
    pass: &'static str,
    values: BTreeMap<&'static str, OptValue>,
}

/// An option's value: as written, or a hardware parameter of the target.
#[derive(Clone, Debug)]
enum OptValue {
    Text(String),
    Hw(HwParam, u64),
}

impl PassOptions {
    /// Options from a spec's `key=value` list, checked against the pass's option names, with
    /// hardware defaults from `hw`.
    pub fn new(info: &PassInfo, given: &[(String, String)], hw: &HwConfig) -> Result<PassOptions, String> {
        let mut values: BTreeMap<&'static str, OptValue> = info
            .options
            .iter()
            .map(|o| {
                let v = match o.default {
                    OptDefault::Value(v) => OptValue::Text(v.to_string()),
                    OptDefault::Hw(p) => OptValue::Hw(p, p.of(hw)),
                };
                (o.name, v)
            })
            .collect();
        for (k, v) in given {
            let Some(o) = info.options.iter().find(|o| o.name == k) else {
                let names: Vec<&str> = info.options.iter().map(|o| o.name).collect();
                return Err(if names.is_empty() {
                    format!("pass `{}` has no options, `{k}` given", info.name)
                } else {
                    format!("pass `{}` has no option `{k}`; its options are: {}", info.name, names.join(", "))
                });
            };
            values.insert(o.name, OptValue::Text(v.clone()));
        }
        Ok(PassOptions { pass: info.name, values })
    }

    fn text(&self, name: &str) -> Option<&str> {
        match self.values.get(name) {
            Some(OptValue::Text(v)) => Some(v),
            Some(OptValue::Hw(..)) | None => None,
        }
    }

    /// A string option.
    pub fn string(&self, name: &str) -> String {
        self.text(name).unwrap_or("").to_string()
    }

    /// An unsigned integer option within `range`.
    pub fn uint(&self, name: &str, range: std::ops::RangeInclusive<u64>) -> Result<u64, String> {
        let (n, from) = match self.values.get(name) {
            Some(OptValue::Hw(p, n)) => (*n, Some(*p)),
            Some(OptValue::Text(v)) => (
                v.parse().map_err(|_| format!("option `{name}` of `{}` must be an integer, found `{v}`", self.pass))?,
                None,
            ),
            None => return Err(format!("internal error: pass `{}` has no option `{name}`", self.pass)),
        };
        if !range.contains(&n) {
            let source = from.map_or(String::new(), |p| format!(" (the hardware configuration's `{}`)", p.key()));
            return Err(format!(
                "option `{name}` of `{}` is {n}{source}, outside {}..={}",
                self.pass,
                range.start(),
                range.end()
            ));
        }
        Ok(n)
    }

    /// One of a fixed set of words.
    pub fn choice(&self, name: &str, choices: &[&str]) -> Result<String, String> {
        let v = self.text(name).unwrap_or("");
        if choices.contains(&v) {
            Ok(v.to_string())
        } else {
            Err(format!("option `{name}` of `{}` is `{v}`; choose one of: {}", self.pass, choices.join(", ")))
        }
    }
}

/// A pipeline: registered passes in order, each with the options written for it.
#[derive(Clone)]
pub struct Pipeline {
    passes: Vec<(&'static PassInfo, Vec<(String, String)>)>,
}

impl Pipeline {
    /// The pipeline that prepares a module for `kind`: the Phi passes (through `tile`), or, for
    /// a baseline, quantisation and `tile`. Hardware-dependent options come from the target the
    /// pipeline is built for ([`Pipeline::build`]).
    pub fn for_target(kind: TargetKind) -> Pipeline {
        let passes = match kind {
            TargetKind::Phi => PHI_PASSES,
            TargetKind::BitSparse | TargetKind::Dense => BASELINE_PASSES,
        };
        Pipeline { passes: passes.iter().map(|&p| (p, Vec::new())).collect() }
    }

    /// A pipeline written as text; unknown passes are rejected with the list of known ones.
    pub fn parse(text: &str) -> Result<Pipeline, String> {
        let mut passes = Vec::new();
        for s in parse_pipeline(text)? {
            let info = lookup(&s.name).ok_or_else(|| {
                let names: Vec<&str> = REGISTRY.iter().map(|p| p.name).collect();
                format!("unknown pass `{}`; available passes: {}", s.name, names.join(", "))
            })?;
            passes.push((info, s.options));
        }
        Ok(Pipeline { passes })
    }

    /// The names of the passes, in order.
    pub fn names(&self) -> Vec<&'static str> {
        self.passes.iter().map(|(p, _)| p.name).collect()
    }

    /// Whether the pipeline runs `pass`.
    pub fn contains(&self, pass: &str) -> bool {
        self.passes.iter().any(|(p, _)| p.name == pass)
    }

    /// Sets option `key` of every occurrence of `pass` (the command line's `--batch` sets
    /// `tile{batch}`); a pass the pipeline does not run is left alone.
    pub fn set(&mut self, pass: &str, key: &str, value: impl Into<String>) {
        let value = value.into();
        for (p, opts) in self.passes.iter_mut().filter(|(p, _)| p.name == pass) {
            debug_assert!(p.options.iter().any(|o| o.name == key), "pass `{pass}` has no option `{key}`");
            match opts.iter_mut().find(|(k, _)| k == key) {
                Some(slot) => slot.1.clone_from(&value),
                None => opts.push((key.to_string(), value.clone())),
            }
        }
    }

    /// The pipeline with `pass` run first.
    pub fn prepend(mut self, pass: &'static PassInfo) -> Pipeline {
        self.passes.insert(0, (pass, Vec::new()));
        self
    }

    /// The passes up to and including the first `pass`, if the pipeline runs it.
    pub fn through(&self, pass: &str) -> Option<Pipeline> {
        let end = self.passes.iter().position(|(p, _)| p.name == pass)?;
        Some(Pipeline { passes: self.passes[..=end].to_vec() })
    }

    /// Builds the passes for `target`.
    pub fn build(&self, target: &Target) -> Result<PassManager, String> {
        let mut passes = Vec::new();
        for (info, given) in &self.passes {
            let opts = PassOptions::new(info, given, &target.hw)?;
            passes.push((info.create)(&opts, target)?);
        }
        Ok(PassManager { passes, instrumentation: Instrumentation::default() })
    }
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pipeline({self})")
    }
}

impl std::fmt::Display for Pipeline {
    /// The text form (what [`Pipeline::parse`] reads).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, (p, opts)) in self.passes.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(p.name)?;
            if !opts.is_empty() {
                let o: Vec<String> = opts.iter().map(|(k, v)| format!("{k}={v}")).collect();
                write!(f, "{{{}}}", o.join(","))?;
            }
        }
        Ok(())
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
    /// Builds the passes of a pipeline text for `target`.
    pub fn parse(pipeline: &str, target: &Target) -> Result<PassManager, String> {
        Pipeline::parse(pipeline)?.build(target)
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

/// `--list-passes`: the pipeline of each target, and the name, summary and options of every
/// pass (a hardware default shows as `hw.KEY`).
pub fn list_passes() -> String {
    let mut out = String::new();
    for kind in TargetKind::ALL {
        let _ = writeln!(out, "Pipeline for --target {}: {}", kind.name(), Pipeline::for_target(kind));
    }
    out.push_str("Passes:\n");
    for p in REGISTRY {
        let _ = writeln!(out, "  {:<16} {}", p.name, p.summary);
        for o in p.options {
            let default = match o.default {
                OptDefault::Value(v) => v.to_string(),
                OptDefault::Hw(h) => format!("hw.{}", h.key()),
            };
            let _ = writeln!(out, "      {:<12} = {:<10} {}", o.name, default, o.help);
        }
    }
    out
}
