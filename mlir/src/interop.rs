//! The melior side: a context with our dialects, and the conversions.

use std::cell::RefCell;
use std::rc::Rc;

use melior::Context;
use melior::dialect::DialectRegistry;
use melior::ir::Module as MlirModule;
use melior::ir::operation::{OperationLike as _, OperationPrintingFlags};
use melior::utility::{load_irdl_dialects, register_all_dialects};
use phi_dialect::program::Program;
use phi_dialect::{Module, SourceMap};

/// The IRDL definitions of `snn`, `phi` and `isa` (`dialect/irdl/phi.irdl.mlir`).
pub const IRDL: &str = include_str!("../../dialect/irdl/phi.irdl.mlir");

/// A failed conversion: what MLIR or our parser said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    /// The message, with MLIR's diagnostics (one per line) when MLIR reported any.
    pub message: String,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// An MLIR context with the `snn`, `phi` and `isa` dialects registered from IRDL, collecting
/// MLIR's diagnostics for the errors it returns.
///
/// MLIR keeps `dense_resource` keys unique per context: a second module whose blob key is
/// already taken (by different data) gets it renamed (`w` → `w_1`). Convert each module in its
/// own `Interop` when names must survive unchanged, as the round-trip test does.
pub struct Interop {
    context: Context,
    diagnostics: Rc<RefCell<Vec<String>>>,
}

impl Interop {
    /// A context with MLIR's dialects and ours (loaded from [`IRDL`]).
    pub fn new() -> Result<Interop, Error> {
        let registry = DialectRegistry::new();
        register_all_dialects(&registry);
        let context = Context::new();
        context.append_dialect_registry(&registry);
        context.load_all_available_dialects();
        let diagnostics = Rc::new(RefCell::new(Vec::new()));
        let sink = Rc::clone(&diagnostics);
        context.attach_diagnostic_handler(move |d| {
            sink.borrow_mut().push(format!("{}: {}", d.location(), d));
            true
        });
        let this = Interop { context, diagnostics };
        let irdl =
            MlirModule::parse(&this.context, IRDL).ok_or_else(|| this.error("the IRDL definitions do not parse"))?;
        if !load_irdl_dialects(&irdl) {
            return Err(this.error("MLIR refused the IRDL definitions"));
        }
        Ok(this)
    }

    /// The MLIR context.
    pub fn context(&self) -> &Context {
        &self.context
    }

    fn error(&self, what: &str) -> Error {
        let diags = std::mem::take(&mut *self.diagnostics.borrow_mut());
        let message = if diags.is_empty() { what.to_string() } else { format!("{what}:\n{}", diags.join("\n")) };
        Error { message }
    }

    /// Parses MLIR text into a verified MLIR module.
    pub fn parse<'c>(&'c self, text: &str) -> Result<MlirModule<'c>, Error> {
        self.diagnostics.borrow_mut().clear();
        let m = MlirModule::parse(&self.context, text).ok_or_else(|| self.error("MLIR cannot parse the module"))?;
        if !m.as_operation().verify() {
            return Err(self.error("MLIR's verifier rejects the module"));
        }
        Ok(m)
    }

    /// Prints an MLIR module as MLIR does, generic form with locations (what our parser reads).
    pub fn print(&self, m: &MlirModule<'_>) -> Result<String, Error> {
        let flags = OperationPrintingFlags::new().enable_debug_info(true, false).print_generic_operation_form();
        m.as_operation().to_string_with_flags(flags).map_err(|e| Error { message: format!("MLIR cannot print: {e}") })
    }

    /// Our module as a verified MLIR module.
    pub fn to_mlir<'c>(&'c self, m: &Module) -> Result<MlirModule<'c>, Error> {
        let opts = phi_dialect::print::PrintOptions { debug_info: true, elide_weights: false };
        self.parse(&phi_dialect::print::print_module(m, opts))
    }

    /// An MLIR module (at the `snn` or `phi` level) back as ours.
    pub fn from_mlir(&self, m: &MlirModule<'_>) -> Result<Module, Error> {
        let text = self.print(m)?;
        let mut sources = SourceMap::new();
        let file = sources.add("<mlir>", text);
        phi_dialect::parse_module(&sources, file).map_err(|d| Error { message: d.render(&sources) })
    }

    /// A compiled program as a verified MLIR module at the `isa` level.
    pub fn program_to_mlir<'c>(&'c self, p: &Program) -> Result<MlirModule<'c>, Error> {
        self.parse(&phi_dialect::isa::mlir::print(p))
    }

    /// An `isa`-level MLIR module back as a program.
    pub fn program_from_mlir(&self, m: &MlirModule<'_>) -> Result<Program, Error> {
        let text = self.print(m)?;
        let mut sources = SourceMap::new();
        let file = sources.add("<mlir>", text);
        phi_dialect::isa::mlir::parse(&sources, file).map_err(|d| Error { message: d.render(&sources) })
    }
}
