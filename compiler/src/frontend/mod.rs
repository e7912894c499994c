//! Frontends: readers of model formats that produce the `snn` dialect.
//!
//! - [`onnx`]: the ONNX textual syntax (logos lexer, lalrpop grammar, syntax tree);
//! - [`lower`]: ONNX syntax tree → `snn` dialect, with shape inference;
//! - [`external`]: initializer data (inline, safetensors, npy, raw external data);
//! - [`nir`]: NIR files (HDF5) read into typed nodes; [`nir_import`]: NIR graph → `snn` dialect;
//! - IR text (`.mlir`, or `-` for stdin) is read by [`phi_dialect::parse`].
//!
//! [`read_source`] and [`load_module`] are what the driver calls: a path in, a verified module
//! out, every problem a diagnostic.

pub mod external;
pub mod lower;
pub mod nir;
pub mod nir_import;
pub mod onnx;

use std::io::Read;
use std::path::{Path, PathBuf};

use phi_dialect::{DResult, Diagnostic, FileId, Module, SourceMap};

pub use lower::WeightMode;
pub use nir_import::{ImportOptions, NirReset};

/// What a model file holds, by its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputKind {
    /// ONNX textual syntax (`.snn`, `.onnxtxt`, `.onnxtext`).
    OnnxText,
    /// The toolchain's own IR text (`.mlir`, or `-` for stdin).
    IrText,
    /// A NIR graph (`.nir`, HDF5).
    Nir,
}

/// Largest model text accepted (bytes).
pub const MAX_SOURCE_BYTES: u64 = 1 << 30;

impl InputKind {
    /// The kind of a path given on the command line.
    pub fn of(path: &str) -> Option<InputKind> {
        if path == "-" {
            return Some(InputKind::IrText);
        }
        let ext = Path::new(path).extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "snn" | "onnxtxt" | "onnxtext" => Some(InputKind::OnnxText),
            "mlir" => Some(InputKind::IrText),
            "nir" => Some(InputKind::Nir),
            _ => None,
        }
    }
}

/// A model source read into a source map.
pub struct Source {
    /// The source map holding the text (diagnostics quote it).
    pub sources: SourceMap,
    /// The file in the map.
    pub file: FileId,
    /// The path on disk (`None` for stdin).
    pub path: Option<PathBuf>,
    /// What it holds.
    pub kind: InputKind,
}

/// Reads a model file (or stdin for `-`).
pub fn read_source(path: &str) -> DResult<Source> {
    let kind = InputKind::of(path).ok_or_else(|| {
        Diagnostic::error(format!("`{path}`: unknown model file type"))
            .with_help("ONNX text ends in .snn, .onnxtxt or .onnxtext; IR text in .mlir; NIR graphs in .nir; `-` reads IR text from stdin")
    })?;
    if kind == InputKind::Nir {
        // binary: read by the NIR reader; the map holds the name for diagnostics
        let mut sources = SourceMap::new();
        let file = sources.add(path.to_string(), String::new());
        return Ok(Source { sources, file, path: Some(PathBuf::from(path)), kind });
    }
    let mut text = String::new();
    let (name, disk) = if path == "-" {
        // stdin can be read once: keep its text for later readers in this process
        static STDIN: std::sync::OnceLock<Result<String, String>> = std::sync::OnceLock::new();
        let read = STDIN.get_or_init(|| {
            let mut t = String::new();
            std::io::stdin().take(MAX_SOURCE_BYTES + 1).read_to_string(&mut t).map(|_| t).map_err(|e| e.to_string())
        });
        text = read.clone().map_err(|e| Diagnostic::error(format!("cannot read stdin: {e}")))?;
        ("<stdin>".to_string(), None)
    } else {
        let f = std::fs::File::open(path).map_err(|e| Diagnostic::error(format!("cannot read `{path}`: {e}")))?;
        f.take(MAX_SOURCE_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(|e| Diagnostic::error(format!("cannot read `{path}`: {e}")))?;
        (path.to_string(), Some(PathBuf::from(path)))
    };
    if text.len() as u64 > MAX_SOURCE_BYTES {
        return Err(Diagnostic::error(format!("`{name}` is larger than 1 GiB")));
    }
    let mut sources = SourceMap::new();
    let file = sources.add(name, text);
    Ok(Source { sources, file, path: disk, kind })
}

/// Parses (and for ONNX text, lowers) a source into a verified `snn` module.
pub fn load_module(src: &Source, mode: WeightMode) -> DResult<Module> {
    load_module_with(src, mode, &ImportOptions::default())
}

/// [`load_module`] with the options of the NIR importer.
pub fn load_module_with(src: &Source, mode: WeightMode, nir_opts: &ImportOptions) -> DResult<Module> {
    match src.kind {
        InputKind::Nir => {
            let path = src.path.as_deref().expect("a NIR source is a file");
            let file = nir::read(path)?;
            nir_import::import(&file, &path.display().to_string(), nir_opts)
        }
        InputKind::IrText => {
            let m = phi_dialect::parse_module(&src.sources, src.file)?;
            phi_dialect::verify(&m)?;
            Ok(m)
        }
        InputKind::OnnxText => {
            let text = src.sources.file(src.file).text();
            let model = onnx::parse_model(src.file, text)?;
            let base = src.path.as_deref().map_or_else(|| PathBuf::from("."), external::base_dir);
            let mut loader = external::Loader::new(base);
            lower::lower_model(&model, &src.sources, &mut loader, mode)
        }
    }
}
