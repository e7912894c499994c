//! How FileCheck shows a failure: LLVM-style `file:line:col: error: …` diagnostics with the
//! source line and a caret, and the annotated input dump (`Input was: <<<<<< … >>>>>>`) that
//! marks every match (`^~~`), unexpected match (`!~~`), failed search range (`X~~`) and fuzzy
//! "possible intended match" (`?`) under the input lines they concern.

use std::fmt::Write as _;

/// Longest line shown whole; longer lines (weight blobs) are shown as a window around the caret.
const MAX_SHOWN: usize = 200;

/// A named text (check file, input, command-line pattern) with line lookup.
#[derive(Clone, Debug)]
pub struct SourceText {
    /// The name shown in diagnostics (`<stdin>`, a path, `command line`).
    pub name: String,
    /// The (canonicalised) text.
    pub text: String,
    line_starts: Vec<usize>,
}

impl SourceText {
    /// Wraps `text` under `name`.
    pub fn new(name: &str, text: String) -> SourceText {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        SourceText { name: name.to_string(), text, line_starts }
    }

    /// 0-based line index holding byte `pos`.
    pub fn line_index(&self, pos: usize) -> usize {
        self.line_starts.partition_point(|&s| s <= pos).saturating_sub(1)
    }

    /// 1-based (line, column) of byte `pos`; the column counts bytes, as LLVM's does.
    pub fn line_col(&self, pos: usize) -> (usize, usize) {
        let l = self.line_index(pos);
        (l + 1, pos - self.line_starts[l] + 1)
    }

    /// Byte range of line `l` (0-based), without its newline.
    pub fn line_range(&self, l: usize) -> (usize, usize) {
        let start = self.line_starts[l];
        let end = self.line_starts.get(l + 1).map_or(self.text.len(), |&n| n - 1);
        (start, end)
    }

    /// Number of lines (a final newline does not start a new line unless text follows it).
    pub fn num_lines(&self) -> usize {
        let n = self.line_starts.len();
        if n > 1 && self.line_starts[n - 1] == self.text.len() { n - 1 } else { n }
    }
}

/// The visible part of a line of text and the byte range of the line it shows.
fn window(line: &str, from: usize, to: usize) -> (String, usize, usize) {
    if line.len() <= MAX_SHOWN {
        return (line.to_string(), 0, line.len());
    }
    let floor = |mut i: usize| {
        i = i.min(line.len());
        while !line.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    let start = floor(from.saturating_sub(60));
    let end = floor((start + MAX_SHOWN).max(to.min(start + 2 * MAX_SHOWN)));
    let mut s = String::new();
    if start > 0 {
        s.push_str("...");
    }
    s.push_str(&line[start..end]);
    if end < line.len() {
        s.push_str("...");
    }
    (s, start, end)
}

/// Whitespace that lines a caret up under byte `upto` of `shown` (tabs kept as tabs).
fn spacer(shown: &str, upto: usize) -> String {
    shown[..upto.min(shown.len())].chars().map(|c| if c == '\t' { '\t' } else { ' ' }).collect()
}

/// How an annotation marks its range in the input dump.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mark {
    /// `^~~`: a match.
    Good,
    /// `!~~`: a match that is an error (excluded string, wrong line).
    Bad,
    /// `X~~`: the search range of a pattern that was not found.
    NotFound,
    /// `?`: a fuzzy "possible intended match".
    Fuzzy,
}

impl Mark {
    fn head(self) -> char {
        match self {
            Mark::Good => '^',
            Mark::Bad => '!',
            Mark::NotFound => 'X',
            Mark::Fuzzy => '?',
        }
    }

    fn is_error(self) -> bool {
        match self {
            Mark::Good | Mark::Fuzzy => false,
            Mark::Bad | Mark::NotFound => true,
        }
    }
}

/// One annotation of the input dump.
#[derive(Clone, Debug)]
pub struct Annotation {
    /// `check:12`, `next:5`, …
    pub label: String,
    /// Byte range in the input.
    pub start: usize,
    /// End of the byte range.
    pub end: usize,
    /// The marker.
    pub mark: Mark,
    /// Text after the marker (`error: no match found`).
    pub note: String,
}

/// Everything a check run reports.
#[derive(Debug, Default)]
pub struct Report {
    /// The rendered diagnostics, in order.
    pub text: String,
    /// The error messages alone (`CHECK-NEXT: is not on the line after the previous match`).
    pub errors: Vec<String>,
    /// Annotations for the input dump.
    pub annotations: Vec<Annotation>,
}

impl Report {
    /// Appends `name:line:col: level: message`, the source line and a caret (with `~` under the
    /// rest of `len` bytes on the same line).
    pub fn diag(&mut self, src: &SourceText, pos: usize, len: usize, level: &str, message: &str) {
        if level == "error" {
            self.errors.push(message.to_string());
        }
        let pos = pos.min(src.text.len());
        let (line, col) = src.line_col(pos);
        let _ = writeln!(self.text, "{}:{line}:{col}: {level}: {message}", src.name);
        let (ls, le) = src.line_range(line - 1);
        let text = &src.text[ls..le];
        let off = pos - ls;
        let end = (off + len).min(text.len()).max(off);
        let (shown, ws, _) = window(text, off, end);
        let lead = if ws > 0 { 3 } else { 0 };
        let caret_at = off - ws + lead;
        let tildes = (end - off).saturating_sub(1);
        let _ = writeln!(self.text, "{shown}");
        let _ = writeln!(self.text, "{}^{}", spacer(&shown, caret_at), "~".repeat(tildes.min(MAX_SHOWN)));
    }

    /// Records an annotation for the input dump.
    pub fn annotate(&mut self, label: String, start: usize, end: usize, mark: Mark, note: &str) {
        self.annotations.push(Annotation { label, start, end: end.max(start), mark, note: note.to_string() });
    }

    /// Renders the annotated input dump. `all`: every line; otherwise only lines within
    /// `context` lines of an error annotation.
    pub fn dump(&self, input: &SourceText, all: bool, context: usize) -> String {
        // Number labels that occur more than once: check:3'0, check:3'1, …
        let mut labels: Vec<String> = Vec::with_capacity(self.annotations.len());
        for (i, a) in self.annotations.iter().enumerate() {
            let total = self.annotations.iter().filter(|b| b.label == a.label).count();
            if total > 1 {
                let nth = self.annotations[..i].iter().filter(|b| b.label == a.label).count();
                labels.push(format!("{}'{nth}", a.label));
            } else {
                labels.push(a.label.clone());
            }
        }
        let nlines = input.num_lines().max(
            self.annotations.iter().map(|a| input.line_index(a.start.min(input.text.len())) + 1).max().unwrap_or(0),
        );
        let num_w = nlines.to_string().len();
        let label_w = labels.iter().map(String::len).max().unwrap_or(0);
        let gutter = label_w.max(num_w + 2) + 1;

        let mut per_line: Vec<Vec<usize>> = vec![Vec::new(); nlines];
        let mut error_lines = Vec::new();
        for (k, a) in self.annotations.iter().enumerate() {
            let first = input.line_index(a.start.min(input.text.len()));
            let last = input.line_index(a.end.saturating_sub(1).max(a.start).min(input.text.len()));
            for anns in per_line.iter_mut().take(last + 1).skip(first) {
                anns.push(k);
            }
            if a.mark.is_error() {
                error_lines.push(first);
            }
        }
        let shown = |l: usize| all || error_lines.iter().any(|&e| l + context >= e && l <= e + context);

        let mut out = String::new();
        let _ = writeln!(out, "<<<<<<");
        let mut elided = false;
        for (l, anns) in per_line.iter().enumerate() {
            if !shown(l) {
                if !elided {
                    for _ in 0..3 {
                        let _ = writeln!(out, "{:>w$}", ".", w = gutter - 2);
                    }
                    elided = true;
                }
                continue;
            }
            elided = false;
            let (ls, le) = input.line_range(l);
            let text = &input.text[ls..le];
            let (view, ws, we) = window(text, 0, 0);
            let lead = if ws > 0 { 3 } else { 0 };
            let _ = writeln!(out, "{:>w$}: {view}", l + 1, w = gutter - 2);
            for &k in anns {
                let a = &self.annotations[k];
                let first_line = input.line_index(a.start.min(input.text.len())) == l;
                let from = if first_line { a.start - ls } else { 0 };
                let to = if a.end > le { text.len() } else { a.end.saturating_sub(ls) };
                let (from_v, to_v) = (from.clamp(ws, we) - ws + lead, to.clamp(ws, we) - ws + lead);
                let mut marker = String::new();
                if first_line {
                    marker.push(a.mark.head());
                    marker.push_str(&"~".repeat(to_v.saturating_sub(from_v + 1)));
                } else {
                    marker.push_str(&"~".repeat(to_v.saturating_sub(from_v).max(1)));
                }
                let note = if first_line && !a.note.is_empty() { format!(" {}", a.note) } else { String::new() };
                let _ = writeln!(out, "{:<gutter$}{}{marker}{note}", labels[k], spacer(&view, from_v));
            }
        }
        let _ = writeln!(out, ">>>>>>");
        out
    }
}

/// LLVM's guess at a near miss: the position in the first 4096 bytes of the search range whose
/// text (up to its line's end) is closest by edit distance to `example`, with a penalty of 1/100
/// per line further on; ties go to the earliest. None when that is the search start itself.
pub fn fuzzy_match(text: &str, start: usize, end: usize, example: &str) -> Option<usize> {
    if example.is_empty() {
        return None;
    }
    let hay = text.as_bytes();
    let ex = example.as_bytes();
    let limit = end.min(start + 4096);
    let mut best: Option<(f64, usize)> = None;
    let mut lines_forward = 0usize;
    for i in start..limit {
        if hay[i] == b'\n' {
            lines_forward += 1;
        }
        if matches!(hay[i], b' ' | b'\t') || !text.is_char_boundary(i) {
            continue;
        }
        let cand = &hay[i..(i + ex.len()).min(end)];
        let cand = cand.split(|&b| b == b'\n').next().unwrap_or(cand);
        let quality = edit_distance(cand, ex) as f64 + lines_forward as f64 / 100.0;
        if best.is_none_or(|(q, _)| quality < q) {
            best = Some((quality, i));
        }
    }
    best.filter(|&(q, i)| q < 50.0 && i != start).map(|(_, i)| i)
}

fn edit_distance(a: &[u8], b: &[u8]) -> usize {
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, &ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let subst = prev[j] + usize::from(ca != cb);
            cur[j + 1] = subst.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}
