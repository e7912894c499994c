//! A FileCheck: checks a text (a tool's output) against the directives of a check file, with
//! LLVM FileCheck's semantics, so that the lit tests of this repository also run under LLVM's
//! own `FileCheck`.
//!
//! Supported:
//!
//! | directive | meaning |
//! |---|---|
//! | `CHECK: p` | `p` matches after the previous match |
//! | `CHECK-NEXT: p` | … on the line right after the previous match's line |
//! | `CHECK-SAME: p` | … on the same line as the previous match |
//! | `CHECK-EMPTY:` | the next line is empty |
//! | `CHECK-NOT: p` | `p` does not occur between the surrounding matches (or the input's ends) |
//! | `CHECK-DAG: p` | consecutive `-DAG`s match in any order, without overlapping |
//! | `CHECK-LABEL: p` | matched first, in order, splitting the input into blocks checked separately |
//! | `CHECK-COUNT-n: p` | `p` matches `n` times in a row |
//! | `COM:`, `RUN:` | comment directives: the rest of the line is not searched for directives |
//!
//! Patterns: literal text (runs of spaces and tabs compare equal, leading and trailing
//! whitespace of the pattern is ignored, as with LLVM's defaults), `{{regex}}`, `[[NAME:regex]]`
//! defines a variable, `[[NAME]]` uses it (on later lines, or later on the same line),
//! `[[#NAME:]]`/`[[#%x,NAME:]]` defines a numeric variable, `[[#NAME+1]]` uses one,
//! `[[@LINE]]`/`[[@LINE+n]]`/`[[#@LINE-n]]` is the directive's own line number. `$NAME`s are
//! global under `--enable-var-scope`. Options: see [`Options`].
//!
//! A failure is reported as LLVM reports it: the directive's `file:line:col`, the message
//! (`expected string not found in input`, `CHECK-NEXT: is not on the line after the previous
//! match`, `CHECK-NOT: excluded string found in input`, …), notes pointing into the input
//! ("scanning from here", "possible intended match here", "found here", variable values), and
//! the annotated input dump around the failure.

mod pattern;
mod report;
#[cfg(test)]
mod tests;

use std::fmt;

use pattern::{Compiled, Found, Kind, Origin, Pattern, PatternFlags, Vars};
pub use report::SourceText;
use report::{Mark, Report};

/// When to print the annotated input dump (`--dump-input`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DumpInput {
    /// Only when the check fails (LLVM's default).
    #[default]
    Fail,
    /// Always (to the diagnostic stream).
    Always,
    /// Never.
    Never,
}

/// FileCheck's options (the command line's, by the same names).
#[derive(Clone, Debug)]
pub struct Options {
    /// `--check-prefix`/`--check-prefixes` (empty: `CHECK`).
    pub check_prefixes: Vec<String>,
    /// `--comment-prefixes` (default `COM`, `RUN`).
    pub comment_prefixes: Vec<String>,
    /// `--match-full-lines`: positive matches must cover whole lines.
    pub match_full_lines: bool,
    /// `--strict-whitespace`: no whitespace canonicalisation.
    pub strict_whitespace: bool,
    /// `--ignore-case`.
    pub ignore_case: bool,
    /// `--implicit-check-not`: patterns checked as `CHECK-NOT`s everywhere.
    pub implicit_check_not: Vec<String>,
    /// `--enable-var-scope`: variables not starting with `$` are forgotten at each label.
    pub enable_var_scope: bool,
    /// `-D` definitions (`NAME=VALUE`, `#NAME=N`).
    pub defines: Vec<String>,
    /// `--allow-empty`: an empty input is not an error.
    pub allow_empty: bool,
    /// `--allow-unused-prefixes`: prefixes with no directive are not an error.
    pub allow_unused_prefixes: bool,
    /// `--allow-deprecated-dag-overlap`: `CHECK-DAG` matches may overlap.
    pub allow_deprecated_dag_overlap: bool,
    /// `--dump-input`.
    pub dump_input: DumpInput,
    /// `--dump-input-filter=all` (true) or `error` (false, the default on failure).
    pub dump_input_all: bool,
    /// `--dump-input-context`: lines shown around each error in the dump.
    pub dump_input_context: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            check_prefixes: Vec::new(),
            comment_prefixes: vec!["COM".into(), "RUN".into()],
            match_full_lines: false,
            strict_whitespace: false,
            ignore_case: false,
            implicit_check_not: Vec::new(),
            enable_var_scope: false,
            defines: Vec::new(),
            allow_empty: false,
            allow_unused_prefixes: false,
            allow_deprecated_dag_overlap: false,
            dump_input: DumpInput::Fail,
            dump_input_all: false,
            dump_input_context: 5,
        }
    }
}

/// What went wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// The check file, the options or the input could not be used (LLVM exits 2).
    Setup,
    /// A directive failed (LLVM exits 1).
    Check,
}

/// A failed FileCheck run: the rendered report and the bare error messages.
#[derive(Clone, Debug)]
pub struct Failure {
    /// Setup or check failure.
    pub kind: FailureKind,
    /// Every error message, without location (e.g. `CHECK: expected string not found in input`).
    pub errors: Vec<String>,
    /// The full report: diagnostics with locations and excerpts, then the input dump.
    pub report: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.report)
    }
}

impl std::error::Error for Failure {}

fn setup_error(message: String) -> Failure {
    Failure { kind: FailureKind::Setup, report: format!("{message}\n"), errors: vec![message] }
}

/// A positive directive with the `CHECK-NOT`s and `CHECK-DAG`s that precede it.
#[derive(Debug)]
struct CheckString {
    pat: Pattern,
    dag_not: Vec<Pattern>,
}

/// A parsed check file, ready to check inputs.
#[derive(Debug)]
pub struct FileCheck {
    opts: Options,
    /// Source 0 is the check file, the others the `--implicit-check-not` patterns.
    sources: Vec<SourceText>,
    strings: Vec<CheckString>,
    globals: Vars,
}

/// Replaces `\r\n` by `\n` and, unless `strict`, each run of spaces and tabs by one space.
pub fn canonicalize(text: &str, strict: bool) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' if chars.peek() == Some(&'\n') => {}
            ' ' | '\t' if !strict => {
                out.push(' ');
                while matches!(chars.peek(), Some(' ' | '\t')) {
                    chars.next();
                }
            }
            _ => out.push(c),
        }
    }
    out
}

fn valid_prefix(p: &str) -> bool {
    let mut chars = p.chars();
    // LLVM 19 accepts `[A-Za-z0-9_-]+`.
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn is_word_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// What follows a prefix: the directive kind, its count and the length of the suffix with `:`.
enum Suffix {
    Directive(Kind, usize, usize),
    Comment,
    Error(String),
    None,
}

fn parse_suffix(rest: &str, prefix: &str, comment: bool) -> Suffix {
    if rest.starts_with(':') {
        return if comment { Suffix::Comment } else { Suffix::Directive(Kind::Plain, 1, 1) };
    }
    if comment {
        return Suffix::None;
    }
    for combo in ["-DAG-NOT:", "-NOT-DAG:", "-NEXT-NOT:", "-NOT-NEXT:", "-SAME-NOT:", "-NOT-SAME:"] {
        if rest.starts_with(combo) {
            return Suffix::Error(format!("unsupported -NOT combo on prefix '{prefix}'"));
        }
    }
    for (s, k) in [
        ("-NEXT:", Kind::Next),
        ("-SAME:", Kind::Same),
        ("-NOT:", Kind::Not),
        ("-DAG:", Kind::Dag),
        ("-LABEL:", Kind::Label),
        ("-EMPTY:", Kind::Empty),
    ] {
        if rest.starts_with(s) {
            return Suffix::Directive(k, 1, s.len());
        }
    }
    if let Some(r) = rest.strip_prefix("-COUNT-") {
        let digits = r.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 && r[digits..].starts_with(':') {
            return match r[..digits].parse::<usize>() {
                Ok(n) if n > 0 => Suffix::Directive(Kind::Plain, n, "-COUNT-".len() + digits + 1),
                Ok(_) | Err(_) => Suffix::Error(format!("invalid count in -COUNT specification on prefix '{prefix}'")),
            };
        }
    }
    Suffix::None
}

impl FileCheck {
    /// Parses a check file (`name` is shown in diagnostics).
    pub fn new(name: &str, check_text: &str, opts: &Options) -> Result<FileCheck, Failure> {
        let prefixes: Vec<String> =
            if opts.check_prefixes.is_empty() { vec!["CHECK".into()] } else { opts.check_prefixes.clone() };
        let mut all: Vec<&String> = Vec::new();
        for p in prefixes.iter().chain(&opts.comment_prefixes) {
            if !valid_prefix(p) {
                return Err(setup_error(format!(
                    "error: supplied check prefix must contain only alphanumeric characters, hyphens, and \
                     underscores: '{p}'"
                )));
            }
            if all.contains(&p) {
                return Err(setup_error(format!(
                    "error: supplied check prefix must be unique among check and comment prefixes: '{p}'"
                )));
            }
            all.push(p);
        }
        // Longest first, so that `CHECK-A` wins over `CHECK` where both would match.
        let mut candidates: Vec<(&str, bool)> = prefixes
            .iter()
            .map(|p| (p.as_str(), false))
            .chain(opts.comment_prefixes.iter().map(|p| (p.as_str(), true)))
            .collect();
        candidates.sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));

        let flags = PatternFlags {
            match_full_lines: opts.match_full_lines,
            strict_whitespace: opts.strict_whitespace,
            ignore_case: opts.ignore_case,
        };
        let check = SourceText::new(name, canonicalize(check_text, opts.strict_whitespace));
        let mut sources = vec![check];
        let mut implicit = Vec::new();
        for (k, p) in opts.implicit_check_not.iter().enumerate() {
            let shown = format!("-implicit-check-not='{p}'");
            let start = "-implicit-check-not='".len();
            let src = SourceText::new("command line", canonicalize(&shown, opts.strict_whitespace));
            let text = canonicalize(p, opts.strict_whitespace);
            let text = if opts.strict_whitespace { text.as_str() } else { text.trim_matches(' ') };
            let pat =
                Pattern::parse(text, Kind::Not, 1, "IMPLICIT-CHECK", Origin { src: k + 1, loc: start, line: 1 }, flags)
                    .map_err(|(off, msg)| Self::parse_error(&src, start + off, &msg))?;
            sources.push(src);
            implicit.push(pat);
        }

        let mut globals = Vars::new();
        for d in &opts.defines {
            let (name, value) = pattern::parse_define(d).map_err(|e| setup_error(format!("error: {e}")))?;
            globals.insert(name, value);
        }

        let src = &sources[0];
        let text = src.text.as_str();
        let bytes = text.as_bytes();
        let mut strings: Vec<CheckString> = Vec::new();
        let mut dag_not: Vec<Pattern> = implicit.clone();
        let mut used: Vec<&str> = Vec::new();
        let mut line_start = 0;
        let mut line_no = 0;
        while line_start <= text.len() {
            line_no += 1;
            let line_end = text[line_start..].find('\n').map_or(text.len(), |p| line_start + p);
            let mut i = line_start;
            'scan: while i < line_end {
                if !text.is_char_boundary(i) || (i > line_start && is_word_char(bytes[i - 1])) {
                    i += 1;
                    continue;
                }
                for &(p, comment) in &candidates {
                    if !text[i..line_end].starts_with(p) {
                        continue;
                    }
                    match parse_suffix(&text[i + p.len()..line_end], p, comment) {
                        Suffix::None => continue,
                        Suffix::Comment => break 'scan,
                        Suffix::Error(msg) => return Err(Self::parse_error(src, i + p.len() + 1, &msg)),
                        Suffix::Directive(kind, count, slen) => {
                            if !used.contains(&p) {
                                used.push(p);
                            }
                            let mut pstart = i + p.len() + slen;
                            let mut pend = line_end;
                            if !(opts.strict_whitespace && opts.match_full_lines) {
                                while pstart < pend && matches!(bytes[pstart], b' ' | b'\t') {
                                    pstart += 1;
                                }
                                while pend > pstart && matches!(bytes[pend - 1], b' ' | b'\t') {
                                    pend -= 1;
                                }
                            }
                            let ptext = &text[pstart..pend];
                            if ptext.is_empty() && kind != Kind::Empty {
                                return Err(Self::parse_error(
                                    src,
                                    pstart,
                                    &format!("found empty check string with prefix '{p}:'"),
                                ));
                            }
                            if !ptext.is_empty() && kind == Kind::Empty {
                                return Err(Self::parse_error(
                                    src,
                                    pstart,
                                    &format!("found non-empty check string for empty check with prefix '{p}:'"),
                                ));
                            }
                            if matches!(kind, Kind::Next | Kind::Same | Kind::Empty) && strings.is_empty() {
                                let what = format!("{p}{}", kind.suffix(1));
                                return Err(Self::parse_error(
                                    src,
                                    i,
                                    &format!("found '{what}' without previous '{p}: line"),
                                ));
                            }
                            let pat = if kind == Kind::Empty {
                                Pattern::special(Kind::Empty, p, Origin { src: 0, loc: pstart, line: line_no })
                            } else {
                                Pattern::parse(
                                    ptext,
                                    kind,
                                    count,
                                    p,
                                    Origin { src: 0, loc: pstart, line: line_no },
                                    flags,
                                )
                                .map_err(|(off, msg)| Self::parse_error(src, pstart + off, &msg))?
                            };
                            if kind == Kind::Label && pat.has_variables() {
                                let msg = format!("found '{p}-LABEL:' with variable definition or use");
                                return Err(Self::parse_error(src, i, &msg));
                            }
                            match kind {
                                Kind::Not | Kind::Dag => dag_not.push(pat),
                                Kind::Plain | Kind::Next | Kind::Same | Kind::Label | Kind::Empty | Kind::Eof => {
                                    strings.push(CheckString {
                                        pat,
                                        dag_not: std::mem::replace(&mut dag_not, implicit.clone()),
                                    });
                                }
                            }
                            break 'scan;
                        }
                    }
                }
                i += 1;
            }
            line_start = line_end + 1;
        }
        if !dag_not.is_empty() {
            let eof = Pattern::special(Kind::Eof, &prefixes[0], Origin { src: 0, loc: text.len(), line: line_no });
            strings.push(CheckString { pat: eof, dag_not });
        }
        // As LLVM: every prefix must be used (unless --allow-unused-prefixes), and at least one
        // must be, except when only --implicit-check-not patterns are given.
        let unused: Vec<&String> = prefixes.iter().filter(|p| !used.contains(&p.as_str())).collect();
        let none_used = unused.len() == prefixes.len();
        let some_unused = !opts.allow_unused_prefixes && !unused.is_empty();
        let implicit_only = opts.check_prefixes.is_empty() && !opts.implicit_check_not.is_empty();
        if (none_used || some_unused) && !implicit_only {
            let names: Vec<String> = unused.iter().map(|p| format!("'{p}:'")).collect();
            let plural = if names.len() > 1 { "es" } else { "" };
            return Err(setup_error(format!("error: no check strings found with prefix{plural} {}", names.join(", "))));
        }
        Ok(FileCheck { opts: opts.clone(), sources, strings, globals })
    }

    fn parse_error(src: &SourceText, pos: usize, msg: &str) -> Failure {
        let mut r = Report::default();
        r.diag(src, pos, 0, "error", msg);
        Failure { kind: FailureKind::Setup, errors: r.errors, report: r.text }
    }

    /// Checks `input` (named `input_name` in diagnostics, e.g. `<stdin>`).
    pub fn check(&self, input_name: &str, input: &str) -> Result<(), Failure> {
        self.check_with_dump(input_name, input).map(|_| ())
    }

    /// Checks `input` and also returns the report (the input dump under `--dump-input=always`).
    pub fn check_with_dump(&self, input_name: &str, input: &str) -> Result<String, Failure> {
        if input.is_empty() && !self.opts.allow_empty {
            return Err(setup_error(format!("FileCheck error: '{input_name}' is empty.")));
        }
        let input = SourceText::new(input_name, canonicalize(input, self.opts.strict_whitespace));
        let mut run = Run { fc: self, input: &input, vars: self.globals.clone(), report: Report::default() };
        let ok = run.run();
        let mut report = std::mem::take(&mut run.report);
        let dump = match self.opts.dump_input {
            DumpInput::Always => true,
            DumpInput::Fail => !ok,
            DumpInput::Never => false,
        };
        if dump {
            let all = self.opts.dump_input_all || (ok && self.opts.dump_input == DumpInput::Always);
            report.text.push_str(&format!("\nInput file: {}\nCheck file: {}\n\n", input.name, self.sources[0].name));
            report.text.push_str("-dump-input=help explains the following input dump.\n\n");
            report.text.push_str("Input was:\n");
            report.text.push_str(&report.dump(&input, all, self.opts.dump_input_context));
        }
        if ok {
            Ok(report.text)
        } else {
            Err(Failure { kind: FailureKind::Check, errors: report.errors, report: report.text })
        }
    }
}

/// How the input dump labels a directive's annotations: `check:12`, `next:13`, …
fn label(p: &Pattern) -> String {
    format!("{}:{}", p.kind.dump_name(p.count), p.line)
}

/// One check of one input.
struct Run<'a> {
    fc: &'a FileCheck,
    input: &'a SourceText,
    vars: Vars,
    report: Report,
}

impl Run<'_> {
    /// LLVM's `checkInput`: find each label in turn, then check the directives of the block
    /// ending at it; a failed label stops everything, a failed block moves on to the next one.
    fn run(&mut self) -> bool {
        let fc = self.fc;
        let strings = &fc.strings;
        let end = self.input.text.len();
        let mut ok = true;
        let (mut i, mut j) = (0, 0);
        let mut buf_start = 0;
        loop {
            let region_end;
            if j == strings.len() {
                region_end = end;
            } else {
                if strings[j].pat.kind != Kind::Label {
                    j += 1;
                    continue;
                }
                match self.check_string(&strings[j], buf_start, end, true) {
                    Some((pos, len)) => {
                        region_end = pos + len;
                        j += 1;
                    }
                    None => return false,
                }
            }
            if i != 0 && self.fc.opts.enable_var_scope {
                self.vars.retain(|k, _| k.starts_with('$'));
            }
            let mut cur = buf_start;
            while i < j {
                match self.check_string(&strings[i], cur, region_end, false) {
                    Some((pos, len)) => cur = pos + len,
                    None => {
                        ok = false;
                        i = j;
                        break;
                    }
                }
                i += 1;
            }
            buf_start = region_end;
            if j == strings.len() {
                break;
            }
        }
        ok
    }

    /// Compiles `p` with the current variables; a use of an undefined variable is an error at
    /// the use (as LLVM reports it), annotated over the search range.
    fn compile(&mut self, p: &Pattern, search_from: usize, end: usize) -> Option<Compiled> {
        match p.compile(&self.vars) {
            Ok(c) => Some(c),
            Err(pattern::Undefined(uses)) => {
                for (name, at) in uses {
                    self.report.diag(&self.fc.sources[p.src], at, 0, "error", &format!("undefined variable: {name}"));
                }
                let note = "error: match failed for invalid pattern";
                self.report.annotate(label(p), search_from, end, Mark::NotFound, note);
                self.fuzzy(p, search_from, end);
                None
            }
        }
    }

    fn record(&mut self, f: &Found) {
        for (k, v, _) in &f.defs {
            self.vars.insert(k.clone(), v.clone());
        }
    }

    fn var_notes(&mut self, p: &Pattern, at: usize) {
        for (name, value) in p.used_values(&self.vars) {
            self.report.diag(self.input, at, 0, "note", &format!("with \"{name}\" equal to \"{value}\""));
        }
    }

    fn no_match(&mut self, p: &Pattern, from: usize, end: usize, nth: usize) {
        let mut msg = format!("{}: expected string not found in input", p.directive());
        if p.count > 1 {
            msg.push_str(&format!(" ({nth} out of {})", p.count));
        }
        self.report.diag(&self.fc.sources[p.src], p.loc, 0, "error", &msg);
        let at = from.min(end);
        self.report.diag(self.input, at, 0, "note", "scanning from here");
        self.var_notes(p, at);
        self.report.annotate(label(p), from, end, Mark::NotFound, "error: no match found");
        self.fuzzy(p, from, end);
    }

    fn fuzzy(&mut self, p: &Pattern, from: usize, end: usize) {
        if let Some(fz) = report::fuzzy_match(&self.input.text, from, end, &p.example()) {
            self.report.diag(self.input, fz, 0, "note", "possible intended match here");
            self.report.annotate(label(p), fz, fz, Mark::Fuzzy, "possible intended match");
        }
    }

    /// LLVM's `FileCheckString::Check`: the `-DAG`/`-NOT`s, then the directive itself (`count`
    /// times), then the line and `-NOT` conditions on the text skipped to reach it. Returns the
    /// match's start and length. `scan`: only locating a label (no `-DAG`/`-NOT`/line checks).
    fn check_string(&mut self, cs: &CheckString, start: usize, end: usize, scan: bool) -> Option<(usize, usize)> {
        let input = self.input;
        let text = &input.text;
        let mut last = start;
        let mut nots: Vec<&Pattern> = Vec::new();
        if !scan {
            last = self.check_dag(cs, start, end, &mut nots)?;
        }
        let p = &cs.pat;
        let compiled = self.compile(p, last, end)?;
        let mut match_end = last;
        let mut first = last;
        for nth in 1..=p.count {
            match p.find(&compiled, text, match_end, end) {
                None => {
                    self.no_match(p, match_end, end, nth);
                    return None;
                }
                Some(f) => {
                    if nth == 1 {
                        first = f.pos;
                    }
                    match_end = f.pos + f.len;
                    self.record(&f);
                    if !scan && p.kind != Kind::Eof {
                        self.report.annotate(label(p), f.pos, f.pos + f.len, Mark::Good, "");
                    }
                }
            }
        }
        if !scan {
            let skipped = &text[last..first];
            let newlines = skipped.bytes().filter(|&b| b == b'\n').count();
            match p.kind {
                Kind::Next | Kind::Empty if newlines != 1 => {
                    let msg = if newlines == 0 {
                        format!("{}: is on the same line as previous match", p.directive())
                    } else {
                        format!("{}: is not on the line after the previous match", p.directive())
                    };
                    self.report.diag(&self.fc.sources[p.src], p.loc, 0, "error", &msg);
                    self.report.diag(self.input, first, match_end - first, "note", "'next' match was here");
                    self.report.diag(self.input, last, 0, "note", "previous match ended here");
                    if newlines > 1 {
                        let nl = last + skipped.find('\n').unwrap_or(0) + 1;
                        self.report.diag(self.input, nl, 0, "note", "non-matching line after previous match is here");
                    }
                    self.mark_wrong_line(p, first, match_end);
                    return None;
                }
                Kind::Same if newlines != 0 => {
                    let msg = format!("{}: is not on the same line as the previous match", p.directive());
                    self.report.diag(&self.fc.sources[p.src], p.loc, 0, "error", &msg);
                    self.report.diag(self.input, first, match_end - first, "note", "'next' match was here");
                    self.report.diag(self.input, last, 0, "note", "previous match ended here");
                    self.mark_wrong_line(p, first, match_end);
                    return None;
                }
                Kind::Plain
                | Kind::Next
                | Kind::Same
                | Kind::Not
                | Kind::Dag
                | Kind::Label
                | Kind::Empty
                | Kind::Eof => {}
            }
            if !self.check_not(&nots, last, first) {
                return None;
            }
        }
        Some((first, match_end - first))
    }

    fn mark_wrong_line(&mut self, p: &Pattern, from: usize, to: usize) {
        // Replace the "good" annotation just recorded for this match by a "bad" one.
        if let Some(a) = self.report.annotations.last_mut().filter(|a| a.mark == Mark::Good && a.start == from) {
            a.mark = Mark::Bad;
            a.note = "error: match on wrong line".into();
            return;
        }
        self.report.annotate(label(p), from, to, Mark::Bad, "error: match on wrong line");
    }

    /// `CHECK-NOT`s: none may match in `[from, to)`.
    fn check_not(&mut self, nots: &[&Pattern], from: usize, to: usize) -> bool {
        let mut ok = true;
        for p in nots {
            let Some(compiled) = self.compile(p, from, to) else {
                ok = false;
                continue;
            };
            if let Some(f) = p.find(&compiled, &self.input.text, from, to) {
                let msg = format!("{}: excluded string found in input", p.directive());
                self.report.diag(&self.fc.sources[p.src], p.loc, 0, "error", &msg);
                self.report.diag(self.input, f.pos, f.len, "note", "found here");
                self.var_notes(p, f.pos);
                for (name, _, (s, e)) in &f.defs {
                    self.report.diag(self.input, *s, e - s, "note", &format!("captured var \"{name}\""));
                }
                self.report.annotate(label(p), f.pos, f.pos + f.len, Mark::Bad, "error: no match expected");
                ok = false;
            }
        }
        ok
    }

    /// LLVM's `CheckDag`: each group of consecutive `-DAG`s matches in any order without
    /// overlapping; `-NOT`s between groups are checked between them. Returns where the next
    /// search starts and leaves the trailing `-NOT`s in `nots`.
    fn check_dag<'p>(
        &mut self,
        cs: &'p CheckString,
        start: usize,
        end: usize,
        nots: &mut Vec<&'p Pattern>,
    ) -> Option<usize> {
        let mut start_pos = start;
        let mut ranges: Vec<(usize, usize)> = Vec::new();
        for (idx, p) in cs.dag_not.iter().enumerate() {
            if p.kind == Kind::Not {
                nots.push(p);
                continue;
            }
            let compiled = self.compile(p, start_pos, end)?;
            let mut pos = start_pos;
            let mut mi = 0;
            loop {
                let Some(f) = p.find(&compiled, &self.input.text, pos, end) else {
                    self.no_match(p, pos, end, 1);
                    return None;
                };
                let m = (f.pos, f.pos + f.len);
                if self.fc.opts.allow_deprecated_dag_overlap {
                    let at = ranges.partition_point(|r| r.0 <= m.0);
                    ranges.insert(at, m);
                    self.record(&f);
                    self.report.annotate(label(p), m.0, m.1, Mark::Good, "");
                    break;
                }
                while mi < ranges.len() && m.0 >= ranges[mi].1 {
                    mi += 1;
                }
                let overlap = mi < ranges.len() && ranges[mi].0 < m.1;
                if !overlap {
                    ranges.insert(mi, m);
                    self.record(&f);
                    self.report.annotate(label(p), m.0, m.1, Mark::Good, "");
                    break;
                }
                pos = ranges[mi].1;
                mi += 1;
            }
            let group_ends = cs.dag_not.get(idx + 1).is_none_or(|n| n.kind == Kind::Not);
            if group_ends {
                if !nots.is_empty() {
                    let first = ranges.first().map_or(start_pos, |r| r.0);
                    if !self.check_not(nots, start_pos, first) {
                        return None;
                    }
                    nots.clear();
                }
                start_pos = ranges.iter().map(|r| r.1).max().unwrap_or(start_pos);
                ranges.clear();
            }
        }
        Some(start_pos)
    }
}
