//! Diagnostics shared by every stage of the toolchain.
//!
//! A [`Diagnostic`] is a message with labelled source ranges and help notes. Frontends that own
//! source text attach [`Span`]s (byte ranges into a file of a [`SourceMap`]); later stages only
//! know an op's [`Location`] (file:line:col) and attach that instead. Rendering happens once, at
//! the edge (the driver), through `codespan-reporting`: a location whose file is in the source map
//! is shown with an excerpt, otherwise as a plain `file:line:col`.
//!
//! Stages never print; they return diagnostics.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use codespan_reporting::diagnostic as cs;
use codespan_reporting::files::{self, Files};
use codespan_reporting::term;

use crate::location::Location;

/// Index of a file in a [`SourceMap`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId(pub u32);

/// A byte range in one file of a [`SourceMap`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Span {
    /// The file the range is in.
    pub file: FileId,
    /// First byte.
    pub start: u32,
    /// One past the last byte.
    pub end: u32,
}

impl Span {
    /// A span from a byte range.
    pub fn new(file: FileId, range: Range<usize>) -> Self {
        let start = u32::try_from(range.start).unwrap_or(u32::MAX);
        let end = u32::try_from(range.end).unwrap_or(u32::MAX).max(start);
        Span { file, start, end }
    }

    /// The byte range.
    pub fn range(&self) -> Range<usize> {
        self.start as usize..self.end as usize
    }

    /// The smallest span covering both.
    pub fn to(&self, other: Span) -> Span {
        Span { file: self.file, start: self.start.min(other.start), end: self.end.max(other.end) }
    }
}

/// One source file: its display name, its text and the byte offsets of its line starts.
#[derive(Clone, Debug)]
pub struct SourceFile {
    name: Arc<str>,
    text: Arc<str>,
    line_starts: Vec<usize>,
}

impl SourceFile {
    /// The name shown in diagnostics (a path, or `<stdin>`).
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The whole text.
    pub fn text(&self) -> &str {
        &self.text
    }
    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (u32, u32) {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&s| s <= offset).saturating_sub(1);
        let start = self.line_starts[line];
        let col = self.text.get(start..offset).map_or(offset - start, |s| s.chars().count());
        (line as u32 + 1, col as u32 + 1)
    }
    /// Byte offset of a 1-based line and column, clamped into the file.
    pub fn offset_of(&self, line: u32, col: u32) -> usize {
        let line = (line.max(1) - 1) as usize;
        let Some(&start) = self.line_starts.get(line) else {
            return self.text.len();
        };
        let end = self.line_starts.get(line + 1).copied().unwrap_or(self.text.len());
        let line_text = &self.text[start..end];
        let col = (col.max(1) - 1) as usize;
        line_text.char_indices().nth(col).map_or(end, |(i, _)| start + i)
    }
}

/// The files a compilation has read, so that diagnostics can quote them.
#[derive(Clone, Debug, Default)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

impl SourceMap {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a file and returns its id.
    pub fn add(&mut self, name: impl Into<Arc<str>>, text: impl Into<Arc<str>>) -> FileId {
        let text: Arc<str> = text.into();
        let line_starts = files::line_starts(&text).collect();
        let id = FileId(self.files.len() as u32);
        self.files.push(SourceFile { name: name.into(), text, line_starts });
        id
    }

    /// The file behind an id.
    pub fn file(&self, id: FileId) -> &SourceFile {
        &self.files[id.0 as usize]
    }

    /// The id of the (last added) file with this name.
    pub fn find(&self, name: &str) -> Option<FileId> {
        self.files.iter().rposition(|f| &*f.name == name).map(|i| FileId(i as u32))
    }

    /// `name:line:col` for the start of a span.
    pub fn describe(&self, span: Span) -> String {
        let f = self.file(span.file);
        let (l, c) = f.line_col(span.start as usize);
        format!("{}:{}:{}", f.name, l, c)
    }

    /// Turns a location into a span when its file is known here: one character wide at the
    /// location's line and column.
    pub fn span_of(&self, loc: &Location) -> Option<Span> {
        match loc {
            Location::FileLineCol { file, line, col } => {
                let id = self.find(file)?;
                let f = self.file(id);
                let start = f.offset_of(*line, *col);
                let end = f.text[start..].chars().next().map_or(start, |c| start + c.len_utf8());
                Some(Span::new(id, start..end))
            }
            Location::Fused(locs) => locs.iter().find_map(|l| self.span_of(l)),
            Location::Unknown => None,
        }
    }
}

impl<'a> Files<'a> for SourceMap {
    type FileId = FileId;
    type Name = &'a str;
    type Source = &'a str;

    fn name(&'a self, id: FileId) -> Result<&'a str, files::Error> {
        self.files.get(id.0 as usize).map(|f| &*f.name).ok_or(files::Error::FileMissing)
    }
    fn source(&'a self, id: FileId) -> Result<&'a str, files::Error> {
        self.files.get(id.0 as usize).map(|f| &*f.text).ok_or(files::Error::FileMissing)
    }
    fn line_index(&'a self, id: FileId, byte_index: usize) -> Result<usize, files::Error> {
        let f = self.files.get(id.0 as usize).ok_or(files::Error::FileMissing)?;
        Ok(f.line_starts.partition_point(|&s| s <= byte_index).saturating_sub(1))
    }
    fn line_range(&'a self, id: FileId, line_index: usize) -> Result<Range<usize>, files::Error> {
        let f = self.files.get(id.0 as usize).ok_or(files::Error::FileMissing)?;
        let start = *f
            .line_starts
            .get(line_index)
            .ok_or(files::Error::LineTooLarge { given: line_index, max: f.line_starts.len() - 1 })?;
        let end = f.line_starts.get(line_index + 1).copied().unwrap_or(f.text.len());
        Ok(start..end)
    }
}

/// How bad a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// Compilation cannot continue.
    Error,
    /// Worth knowing; compilation continues.
    Warning,
    /// Extra information.
    Note,
}

/// Where a label points.
#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    /// A byte range of a file in the source map.
    Span(Span),
    /// An op location; quoted when its file is in the source map.
    Loc(Location),
}

/// A labelled place in the source.
#[derive(Clone, Debug, PartialEq)]
pub struct Label {
    /// Where.
    pub target: Target,
    /// What to say there (may be empty).
    pub message: String,
    /// The primary label is the place of the error; secondary ones give context.
    pub primary: bool,
}

/// An error, warning or note with labels and help.
#[derive(Clone, Debug, PartialEq)]
pub struct Diagnostic {
    /// How bad.
    pub severity: Severity,
    /// One line saying what is wrong.
    pub message: String,
    /// Places in the source.
    pub labels: Vec<Label>,
    /// Further notes; by convention a fix starts with `help: `.
    pub notes: Vec<String>,
}

impl Diagnostic {
    /// An error with no label yet.
    pub fn error(message: impl Into<String>) -> Self {
        Diagnostic { severity: Severity::Error, message: message.into(), labels: Vec::new(), notes: Vec::new() }
    }

    /// A warning with no label yet.
    pub fn warning(message: impl Into<String>) -> Self {
        Diagnostic { severity: Severity::Warning, ..Diagnostic::error(message) }
    }

    /// Adds the primary label at a span.
    pub fn with_span(mut self, span: Span, message: impl Into<String>) -> Self {
        self.labels.push(Label { target: Target::Span(span), message: message.into(), primary: true });
        self
    }

    /// Adds a secondary label at a span.
    pub fn with_secondary(mut self, span: Span, message: impl Into<String>) -> Self {
        self.labels.push(Label { target: Target::Span(span), message: message.into(), primary: false });
        self
    }

    /// Adds the primary label at an op location (no-op for an unknown location).
    pub fn with_loc(mut self, loc: &Location, message: impl Into<String>) -> Self {
        if !matches!(loc, Location::Unknown) {
            self.labels.push(Label { target: Target::Loc(loc.clone()), message: message.into(), primary: true });
        }
        self
    }

    /// Adds a `help:` note that says how to fix the problem.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.notes.push(format!("help: {}", help.into()));
        self
    }

    /// Adds a plain note.
    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    /// The primary place as `file:line:col`, when there is one.
    pub fn primary_location(&self, sources: &SourceMap) -> Option<String> {
        let label = self.labels.iter().find(|l| l.primary).or(self.labels.first())?;
        match &label.target {
            Target::Span(s) => Some(sources.describe(*s)),
            Target::Loc(loc) => match sources.span_of(loc) {
                Some(s) => Some(sources.describe(s)),
                None => Some(loc.to_string()),
            },
        }
    }

    /// Renders the diagnostic as text (no colours) with source excerpts.
    pub fn render(&self, sources: &SourceMap) -> String {
        let mut buf = term::termcolor::NoColor::new(Vec::new());
        self.emit(sources, &mut buf, false);
        String::from_utf8_lossy(&buf.into_inner()).into_owned()
    }

    /// Writes the diagnostic to a terminal-like writer.
    pub fn emit(&self, sources: &SourceMap, out: &mut dyn term::termcolor::WriteColor, rich: bool) {
        let severity = match self.severity {
            Severity::Error => cs::Severity::Error,
            Severity::Warning => cs::Severity::Warning,
            Severity::Note => cs::Severity::Note,
        };
        let mut notes = Vec::new();
        let mut labels = Vec::new();
        for l in &self.labels {
            let span = match &l.target {
                Target::Span(s) => Some(*s),
                Target::Loc(loc) => sources.span_of(loc),
            };
            match span {
                Some(s) => {
                    let style = if l.primary { cs::LabelStyle::Primary } else { cs::LabelStyle::Secondary };
                    labels.push(cs::Label::new(style, s.file, s.range()).with_message(l.message.clone()));
                }
                None => {
                    // No source text to quote: name the place in a note instead.
                    if let Target::Loc(loc) = &l.target {
                        let msg = if l.message.is_empty() { String::new() } else { format!(": {}", l.message) };
                        notes.push(format!("at {loc}{msg}"));
                    }
                }
            }
        }
        notes.extend(self.notes.iter().cloned());
        let d = cs::Diagnostic::new(severity).with_message(self.message.clone()).with_labels(labels).with_notes(notes);
        let mut config = term::Config::default();
        if !rich {
            config.chars = term::Chars::ascii();
        }
        // Writing to an in-memory or stderr writer; a failure to write is not actionable.
        let _ = term::emit_to_write_style(out, &config, sources, &d);
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        };
        write!(f, "{sev}: {}", self.message)
    }
}

impl std::error::Error for Diagnostic {}

/// Shorthand for results that fail with one diagnostic.
pub type DResult<T> = Result<T, Diagnostic>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_round_trip() {
        let mut sm = SourceMap::new();
        let id = sm.add("a.snn", "ab\ncdé\nf");
        let f = sm.file(id);
        assert_eq!(f.line_col(0), (1, 1));
        assert_eq!(f.line_col(3), (2, 1));
        assert_eq!(f.line_col(5), (2, 3));
        assert_eq!(f.offset_of(2, 3), 5);
        assert_eq!(f.offset_of(3, 1), 8);
        assert_eq!(f.offset_of(9, 9), f.text().len());
    }

    #[test]
    fn render_quotes_the_source() {
        let mut sm = SourceMap::new();
        let id = sm.add("m.snn", "x = Foo(y)\n");
        let d = Diagnostic::error("unknown op `Foo`").with_span(Span::new(id, 4..7), "not an op").with_help("use Gemm");
        let text = d.render(&sm);
        assert!(text.contains("m.snn:1:5"), "{text}");
        assert!(text.contains("not an op"));
        assert!(text.contains("help: use Gemm"));
        assert_eq!(d.primary_location(&sm).as_deref(), Some("m.snn:1:5"));
    }

    #[test]
    fn location_without_source_becomes_a_note() {
        let sm = SourceMap::new();
        let loc = Location::FileLineCol { file: "gone.mlir".into(), line: 3, col: 7 };
        let d = Diagnostic::error("bad").with_loc(&loc, "here");
        assert!(d.render(&sm).contains("at gone.mlir:3:7: here"));
    }
}
