//! `phic MODEL -o OUT.phibin`: compiling to a Phi program, and `--emulate`.
//!
//! The steps: read the hardware configuration (`--hw`, TOML; the paper's defaults otherwise),
//! run the target's pipeline ([`Pipeline::for_target`] built for the target; `--passes` replaces
//! the list of passes, whose hardware options still default to the target's), lower to the ISA
//! ([`crate::backend::lower`]), embed a sample input (the first batch of the model's held-out
//! data, else of its calibration data), and write the `.phibin` atomically. `--emit=isa` prints
//! the listing instead; `--baselines` also writes the bit-sparse and dense programs beside the
//! output; `--emulate` runs the program and both baselines on the held-out data (or `--input`)
//! and prints the accuracy, cycles, energy and Phi's speedup over each baseline.

use std::path::{Path, PathBuf};

use phi_dialect::isa::encode::encode_all;
use phi_dialect::isa::text::listing;
use phi_dialect::phi_attrs::DataFile;
use phi_dialect::phibin;
use phi_dialect::program::{Program, TargetKind};
use phi_dialect::target::Target;
use phi_dialect::{Diagnostic, Module, SourceMap};
use phi_runtime::emu::{self, RunOptions, report};
use phi_runtime::npy;

use super::{CompileArgs, Emit, Failure};
use crate::frontend::WeightMode;
use crate::passes::{PassContext, Pipeline};
use crate::{backend, data};

/// The inputs (and labels, if any) of `--input`/`--labels`, or else of the model's
/// `phi.heldout`/`phi.heldout_labels` metadata (paths relative to the model).
fn heldout(a: &CompileArgs, m: &Module, cx: &PassContext<'_>) -> Result<Option<(PathBuf, Option<PathBuf>)>, Failure> {
    let meta = |file: DataFile| data::model_file(m, &cx.model_dir, file);
    match &a.input[..] {
        [] => match meta(DataFile::Heldout) {
            Some(x) if !x.exists() => Err(Failure::Diag(
                phi_dialect::Diagnostic::error(format!(
                    "the model's held-out data `{}` (metadata `{}`) does not exist",
                    x.display(),
                    DataFile::Heldout.key()
                ))
                .with_help(
                    "metadata paths are relative to the model file; IR printed elsewhere needs --input (and --calib)",
                ),
            )),
            x => Ok(x.map(|x| (x, a.labels.clone().or_else(|| meta(DataFile::HeldoutLabels))))),
        },
        [x] => Ok(Some((x.clone(), a.labels.clone()))),
        [_, _, ..] => Err(Failure::Usage("compiled programs take one input: give --input once".into())),
    }
}

/// Runs the target's pipeline (`--passes` instead, when `instrumented`) on a copy of `m` and
/// lowers it for `target`.
fn compile_for(
    a: &CompileArgs,
    m: &Module,
    target: &Target,
    model_dir: &Path,
    instrumented: bool,
) -> Result<Program, Failure> {
    let mut m = m.clone();
    let pipeline = match (&a.passes, instrumented) {
        (Some(p), true) => Pipeline::parse(p).map_err(Failure::Usage)?,
        (Some(_), false) | (None, _) => Pipeline::for_target(target.kind),
    };
    super::run_pipeline(a, &mut m, pipeline, target, model_dir, instrumented)?;
    Ok(backend::lower(&m, target, None)?)
}

/// The first batch of `path`'s samples as `.npy` bytes, to embed as the default input.
fn sample_bytes(m: &Module, path: &Path, batch: u32) -> Result<Vec<u8>, Failure> {
    let x = data::read_inputs(m, path, batch.max(1) as usize)?;
    Ok(npy::to_npy_bytes(&x).map_err(Diagnostic::error)?)
}

/// Writes a program as `.phibin`.
fn write_program(path: &Path, p: &Program) -> Result<(), Failure> {
    let code = encode_all(&p.code)
        .map_err(|(i, e)| Diagnostic::error(format!("internal error: instruction {i} does not encode: {e}")))?;
    phibin::write_file(path, &p.meta, &code, &p.sections, p.sample.as_deref())
        .map_err(|e| Failure::Diag(Diagnostic::error(e.to_string())))
}

/// `OUT.phibin` → `OUT.bit-sparse.phibin`.
fn baseline_path(out: &Path, target: TargetKind) -> PathBuf {
    let stem = out.file_stem().map_or_else(|| "model".into(), |s| s.to_string_lossy().into_owned());
    out.with_file_name(format!("{stem}.{}.phibin", target.name()))
}

/// The output path: `-o`, or `MODEL.phibin` in the working directory.
fn output_path(a: &CompileArgs, model: &str) -> Result<PathBuf, Failure> {
    match &a.output[..] {
        [o] => Ok(o.clone()),
        [] if model == "-" => Err(Failure::Usage("reading stdin: give -o OUT.phibin".into())),
        [] => {
            let stem =
                Path::new(model).file_stem().map_or_else(|| "model".into(), |s| s.to_string_lossy().into_owned());
            Ok(PathBuf::from(format!("{stem}.phibin")))
        }
        [_, _, ..] => Err(Failure::Usage("a program is one file: give -o once".into())),
    }
}

/// `phic MODEL [-o OUT.phibin | --emit=isa] [--target T] [--hw CONFIG.toml] [--baselines] [--emulate]`.
pub fn run(a: &CompileArgs, model: &str, sources: &mut SourceMap) -> Result<(), Failure> {
    let target = crate::target::target(a.target.into(), a.hw.as_deref(), sources)?;
    if a.quantized {
        return Err(Failure::Usage(
            "--quantized is for --emit=snn and --interpret: compiling to a program always quantises".into(),
        ));
    }
    let m0 = super::load(model, sources, WeightMode::Load, &a.nir_options(model)?)?;
    let model_dir = super::model_dir(model);
    let mut sink = std::io::sink();
    let cx = PassContext { model_dir: model_dir.clone(), calib: a.calib.clone(), remarks: &mut sink, progress: false };
    let held = heldout(a, &m0, &cx)?;
    let mut program = compile_for(a, &m0, &target, &model_dir, true)?;
    if a.emit == Some(Emit::Isa) {
        if a.output.len() > 1 {
            return Err(Failure::Usage("--emit writes one file: give -o once".into()));
        }
        return Ok(super::write_text(a.output.first(), &listing(&program.code))?);
    }
    // The default input: the first batch of the held-out data, else of the calibration data.
    let sample_src = match &held {
        Some((x, _)) => Some(x.clone()),
        None => data::calibration_path(&m0, &cx.model_dir, cx.calib.as_deref()).ok(),
    };
    if let Some(p) = &sample_src {
        program.sample = Some(sample_bytes(&m0, p, program.meta.batch)?);
    }
    if a.emit == Some(Emit::IsaMlir) {
        if a.output.len() > 1 {
            return Err(Failure::Usage("--emit writes one file: give -o once".into()));
        }
        return Ok(super::write_text(a.output.first(), &phi_dialect::isa::mlir::print(&program))?);
    }
    let out = output_path(a, model)?;
    write_program(&out, &program)?;
    let mut others = Vec::new();
    if a.baselines || a.emulate {
        for kind in TargetKind::ALL {
            if kind == target.kind {
                continue;
            }
            let mut p = compile_for(a, &m0, &target.with_kind(kind), &model_dir, false)?;
            p.sample.clone_from(&program.sample);
            if a.baselines {
                write_program(&baseline_path(&out, kind), &p)?;
            }
            others.push(p);
        }
    }
    if !a.quiet {
        let wrote = std::iter::once(out.clone())
            .chain(others.iter().filter(|_| a.baselines).map(|p| baseline_path(&out, p.meta.target)))
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ");
        eprintln!(
            "phic: wrote {wrote} ({} instructions, {} layers, batch {})",
            program.code.len(),
            program.meta.layers.len(),
            program.meta.batch
        );
    }
    if a.emulate {
        let Some((x, labels)) = held else {
            return Err(Diagnostic::error("--emulate needs inputs")
                .with_help(format!("give --input X.npy, or name a file in the model's {}", DataFile::Heldout.example()))
                .into());
        };
        emulate(&m0, &program, &others, &x, labels.as_deref())?;
    }
    Ok(())
}

/// Runs `program` and `others` on the emulator, checks that they compute the same spikes, and
/// prints the summary of the first and the comparison.
fn emulate(m: &Module, program: &Program, others: &[Program], x: &Path, labels: Option<&Path>) -> Result<(), Failure> {
    let input = data::read_inputs(m, x, usize::MAX)?;
    let labels = labels.map(npy::read_labels).transpose().map_err(Diagnostic::error)?;
    let run = |p: &Program| -> Result<(emu::Report, report::Accuracy), Failure> {
        let r = emu::run(p, std::slice::from_ref(&input), RunOptions::default())
            .map_err(|e| Diagnostic::error(format!("the emulator stopped ({} program): {e}", p.meta.target.name())))?;
        let acc = match (&labels, r.outputs.first()) {
            (Some(l), Some(out)) if l.len() == r.samples => {
                phi_runtime::metrics::correct(out, l).map(|ok| (ok, l.len()))
            }
            (Some(l), _) => {
                return Err(Diagnostic::error(format!("{} labels for {} samples", l.len(), r.samples)).into());
            }
            (None, _) => None,
        };
        Ok((r, acc))
    };
    let (r, acc) = run(program)?;
    phi_runtime::outln!("inputs: {} ({} samples)", x.display(), r.samples);
    phi_runtime::out!("{}", report::summary(&program.meta, &r, acc));
    let mut rows = vec![(&program.meta, r, acc)];
    for p in others {
        let (rb, ab) = run(p)?;
        if rb.outputs != rows[0].1.outputs {
            return Err(Diagnostic::error(format!(
                "internal error: the {} and {} programs compute different spikes",
                program.meta.target.name(),
                p.meta.target.name()
            ))
            .into());
        }
        rows.push((&p.meta, rb, ab));
    }
    if rows.len() > 1 {
        let view: Vec<_> = rows.iter().map(|(m, r, a)| (*m, r, *a)).collect();
        phi_runtime::outln!("\n{}", report::comparison(&view));
        let first = &rows[0].1;
        let parts: Vec<String> = rows[1..]
            .iter()
            .map(|(m, r, _)| {
                format!(
                    "{:.2}× faster and {:.2}× the energy efficiency of {}",
                    r.cycles as f64 / first.cycles.max(1) as f64,
                    r.energy_pj / first.energy_pj.max(1e-9),
                    m.target.name()
                )
            })
            .collect();
        phi_runtime::outln!("{}: {}", program.meta.target.name(), parts.join("; "));
    }
    Ok(())
}

/// `phic PROGRAM.mlir …` for an `isa`-level module (what `--emit=isa-mlir` prints): the program
/// is read back as it stands and written as a `.phibin` (`-o`, default: the input's name with
/// `.phibin`), listed (`--emit=isa`) or printed again (`--emit=isa-mlir`).
pub fn run_program_text(a: &CompileArgs, src: &crate::frontend::Source) -> Result<(), Failure> {
    let program = phi_dialect::isa::mlir::parse(&src.sources, src.file)?;
    match a.emit {
        Some(Emit::Isa) => Ok(super::write_text(a.output.first(), &listing(&program.code))?),
        Some(Emit::IsaMlir) => Ok(super::write_text(a.output.first(), &phi_dialect::isa::mlir::print(&program))?),
        Some(Emit::Snn | Emit::Phi | Emit::Mlir) => Err(Failure::Usage(
            "this file is a compiled program (`isa` level): it can be written as a .phibin, listed (--emit=isa) or printed (--emit=isa-mlir)".into(),
        )),
        None => {
            let model = src.path.as_ref().map_or("-".to_string(), |p| p.display().to_string());
            let out = output_path(a, &model)?;
            write_program(&out, &program)?;
            if !a.quiet {
                eprintln!("wrote {}", out.display());
            }
            Ok(())
        }
    }
}
