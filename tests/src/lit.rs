//! A small lit: reads the `RUN:` lines of a test file, substitutes `%s %S %t %phic %phi-emu` (and `%%`),
//! and runs each line with the shell (`set -o pipefail`), with the test tools (`FileCheck`,
//! `not`) first on `PATH` and the test file's directory as working directory. A test passes when
//! every RUN line exits 0.
//!
//! Also understood, as lit does: a RUN line ending in `\` continues on the next `RUN:` line;
//! `XFAIL:` (the test must fail), `UNSUPPORTED:` (skipped) and `REQUIRES:` (skipped unless every
//! feature is available) with comma-separated features (`XFAIL: *`: every configuration). The
//! features are `system-linux`/`system-darwin`/`system-windows`, and `mlir-opt` when MLIR's
//! `mlir-opt` is installed (on `PATH` or in `/usr/lib/llvm-22/bin`); boolean feature
//! expressions are not supported. Suites are discovered by `tests/lit.rs`: every `.mlir`/`.snn`
//! file below `tests/lit`, except under `Inputs/` directories.

use std::fmt::Write as _;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// File extensions of lit tests.
pub const SUFFIXES: &[&str] = &["mlir", "snn"];

/// One RUN line (after joining continuations), with the line it starts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunLine {
    /// 1-based line number of its first `RUN:`.
    pub line: usize,
    /// The command, before substitution.
    pub command: String,
}

/// What a test file asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TestScript {
    /// The RUN lines in order.
    pub runs: Vec<RunLine>,
    /// `XFAIL:` features (the test is expected to fail when one holds).
    pub xfail: Vec<String>,
    /// `UNSUPPORTED:` features.
    pub unsupported: Vec<String>,
    /// `REQUIRES:` features.
    pub requires: Vec<String>,
}

/// Finds `keyword` (e.g. `RUN:`) in `line` where it is not part of a longer word.
fn keyword_at(line: &str, keyword: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(p) = line[from..].find(keyword) {
        let at = from + p;
        let before = line[..at].chars().next_back();
        if !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            return Some(at + keyword.len());
        }
        from = at + keyword.len();
    }
    None
}

fn features(list: &str) -> Vec<String> {
    list.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect()
}

/// Parses the lit keywords of a test file.
pub fn parse_script(text: &str) -> Result<TestScript, String> {
    let mut script = TestScript::default();
    let mut continuing = false;
    for (k, line) in text.lines().enumerate() {
        if let Some(at) = keyword_at(line, "RUN:") {
            let cmd = line[at..].trim_end();
            if continuing {
                let last = script.runs.last_mut().ok_or("RUN continuation without a RUN line")?;
                last.command.pop();
                last.command.push_str(cmd);
            } else {
                script.runs.push(RunLine { line: k + 1, command: cmd.to_string() });
            }
            continuing = script.runs.last().is_some_and(|r| r.command.ends_with('\\'));
            continue;
        }
        if continuing {
            return Err(format!("line {}: RUN line ends in '\\' but the next line is not a RUN line", k + 1));
        }
        for (kw, out) in [
            ("XFAIL:", &mut script.xfail),
            ("UNSUPPORTED:", &mut script.unsupported),
            ("REQUIRES:", &mut script.requires),
        ] {
            if let Some(at) = keyword_at(line, kw) {
                let list = features(&line[at..]);
                if let Some(bad) = list.iter().find(|f| f.contains(['!', '&', '|', '(', ')', ' '])) {
                    return Err(format!("line {}: feature expressions are not supported: '{bad}'", k + 1));
                }
                if kw != "XFAIL:" && list.iter().any(|f| f == "*") {
                    return Err(format!("line {}: '*' is only allowed in XFAIL (as in lit)", k + 1));
                }
                out.extend(list);
            }
        }
    }
    if continuing {
        return Err("the last RUN line ends in '\\'".into());
    }
    Ok(script)
}

/// Where LLVM 22's tools are installed (Debian's `llvm-22-tools` / `mlir-22-tools`).
pub const LLVM_BIN: &str = "/usr/lib/llvm-22/bin";

/// The directory of an MLIR `mlir-opt`: on `PATH`, or in [`LLVM_BIN`].
pub fn mlir_opt_dir() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").into_iter().flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>());
    on_path.chain(std::iter::once(PathBuf::from(LLVM_BIN))).find(|d| d.join("mlir-opt").is_file())
}

/// The features this runner provides: the system, and `mlir-opt` when MLIR's tool is installed
/// (its directory then follows the runner's tools on `PATH`), as `tests/lit/lit.cfg.py` does.
pub fn available_features() -> Vec<String> {
    let os = if cfg!(target_os = "linux") {
        "system-linux"
    } else if cfg!(target_os = "macos") {
        "system-darwin"
    } else if cfg!(windows) {
        "system-windows"
    } else {
        "system-other"
    };
    let mut v = vec![os.to_string()];
    if mlir_opt_dir().is_some() {
        v.push("mlir-opt".to_string());
    }
    v
}

fn holds(feature: &str, available: &[String]) -> bool {
    feature == "*" || available.iter().any(|a| a == feature)
}

impl TestScript {
    /// Why the test is skipped here, if it is.
    pub fn skip_reason(&self, available: &[String]) -> Option<String> {
        if let Some(f) = self.unsupported.iter().find(|f| holds(f, available)) {
            return Some(format!("UNSUPPORTED: {f}"));
        }
        if let Some(f) = self.requires.iter().find(|f| !holds(f, available)) {
            return Some(format!("REQUIRES: {f} (missing)"));
        }
        None
    }

    /// Whether the test is expected to fail here.
    pub fn expects_failure(&self, available: &[String]) -> bool {
        self.xfail.iter().any(|f| holds(f, available))
    }
}

/// The values of the substitutions for one test.
#[derive(Clone, Debug)]
pub struct Substitutions {
    /// `%s`: the test file (absolute).
    pub source: PathBuf,
    /// `%t`: a temporary path unique to the test.
    pub tmp: PathBuf,
    /// `%phic`: the compiler driver.
    pub phic: PathBuf,
    /// `%phi-emu`: the emulator.
    pub phi_emu: PathBuf,
}

/// Applies `%%`, `%phic`, `%phi-emu`, `%s`, `%S`, `%t` in one left-to-right pass; other `%…`
/// are kept.
pub fn substitute(command: &str, subs: &Substitutions) -> String {
    let dir = subs.source.parent().unwrap_or(Path::new("/"));
    let table: [(&str, String); 6] = [
        ("%%", "%".into()),
        ("%phic", subs.phic.display().to_string()),
        ("%phi-emu", subs.phi_emu.display().to_string()),
        ("%s", subs.source.display().to_string()),
        ("%S", dir.display().to_string()),
        ("%t", subs.tmp.display().to_string()),
    ];
    let mut out = String::with_capacity(command.len());
    let mut rest = command;
    'outer: while let Some(p) = rest.find('%') {
        out.push_str(&rest[..p]);
        rest = &rest[p..];
        for (key, value) in &table {
            if let Some(r) = rest.strip_prefix(key) {
                out.push_str(value);
                rest = r;
                continue 'outer;
            }
        }
        out.push('%');
        rest = &rest[1..];
    }
    out.push_str(rest);
    out
}

/// Where the runner finds its tools.
#[derive(Clone, Debug)]
pub struct Config {
    /// `phic` (here `phic-lit`), for `%phic`.
    pub phic: PathBuf,
    /// `phi-emu` (here `phi-emu-lit`), for `%phi-emu`.
    pub phi_emu: PathBuf,
    /// Directory holding `FileCheck` and `not`, put first on `PATH`.
    pub tools_dir: PathBuf,
    /// Longest a RUN line may take.
    pub timeout: Duration,
    /// Keep each test's temporary directory (and say where it is).
    pub keep_tmp: bool,
}

/// A RUN line that did not exit 0.
#[derive(Debug)]
struct RunFailure {
    line: usize,
    command: String,
    status: String,
    stdout: String,
    stderr: String,
}

fn describe(status: ExitStatus) -> String {
    match status.code() {
        Some(c) => format!("exit status {c}"),
        None => {
            use std::os::unix::process::ExitStatusExt as _;
            match status.signal() {
                Some(s) => format!("killed by signal {s}"),
                None => "terminated abnormally".to_string(),
            }
        }
    }
}

fn shell() -> (&'static str, &'static str) {
    if Path::new("/bin/bash").exists() { ("/bin/bash", "set -o pipefail; ") } else { ("/bin/sh", "set -o pipefail; ") }
}

/// Runs one command with the shell; `Ok(())` when it exits 0.
fn run_command(cmd: &str, cwd: &Path, scratch: &Path, cfg: &Config) -> Result<(), (String, String, String)> {
    let out_path = scratch.join("run.stdout");
    let err_path = scratch.join("run.stderr");
    let io = |e: std::io::Error| (format!("could not run the shell: {e}"), String::new(), String::new());
    let out = File::create(&out_path).map_err(io)?;
    let err = File::create(&err_path).map_err(io)?;
    let path = match std::env::var_os("PATH") {
        Some(p) => {
            let mut v = vec![cfg.tools_dir.clone()];
            v.extend(std::env::split_paths(&p));
            v.extend(mlir_opt_dir());
            std::env::join_paths(v).map_err(|e| (format!("bad PATH: {e}"), String::new(), String::new()))?
        }
        None => cfg.tools_dir.clone().into_os_string(),
    };
    let (sh, preamble) = shell();
    let mut command = Command::new(sh);
    command
        .arg("-c")
        .arg(format!("{preamble}{cmd}"))
        .current_dir(cwd)
        .env("PATH", path)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
    {
        use std::os::unix::process::CommandExt as _;
        command.process_group(0);
    }
    let mut child = command.spawn().map_err(io)?;
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Ok(status),
            Ok(None) if started.elapsed() > cfg.timeout => {
                // Kill the whole process group the shell leads, then reap the shell.
                let _ = Command::new("kill")
                    .args(["-KILL", "--", &format!("-{}", child.id())])
                    .stderr(Stdio::null())
                    .status();
                let _ = child.kill();
                let _ = child.wait();
                break Err(format!("timed out after {} s", cfg.timeout.as_secs()));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => break Err(format!("could not wait for the shell: {e}")),
        }
    };
    let read = |p: &Path| {
        let bytes = std::fs::read(p).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    match status {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err((describe(s), read(&out_path), read(&err_path))),
        Err(e) => Err((e, read(&out_path), read(&err_path))),
    }
}

/// Runs the test file `path` (absolute); `name` is how the report names it. `Ok(note)` when it
/// passes (the note says how, e.g. that it was an expected failure), `Err(report)` otherwise.
pub fn run_test(path: &Path, name: &str, cfg: &Config) -> Result<Option<String>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{name}: cannot read the test: {e}"))?;
    let script = parse_script(&text).map_err(|e| format!("{name}: {e}"))?;
    let available = available_features();
    if let Some(reason) = script.skip_reason(&available) {
        return Ok(Some(format!("skipped ({reason})")));
    }
    if script.runs.is_empty() {
        return Err(format!("{name}: UNRESOLVED: the test has no 'RUN:' line"));
    }
    let dir = tempfile::Builder::new().prefix("phi-lit-").tempdir().map_err(|e| format!("{name}: temp dir: {e}"))?;
    let file_name = path.file_name().map_or("test".into(), |f| f.to_string_lossy().into_owned());
    let scratch = dir.path().join(".runner");
    std::fs::create_dir_all(&scratch).map_err(|e| format!("{name}: temp dir: {e}"))?;
    let subs = Substitutions {
        source: path.to_path_buf(),
        tmp: dir.path().join(format!("{file_name}.tmp")),
        phic: cfg.phic.clone(),
        phi_emu: cfg.phi_emu.clone(),
    };
    let cwd = path.parent().unwrap_or(Path::new("/"));
    let mut failure = None;
    for run in &script.runs {
        let command = substitute(run.command.trim(), &subs);
        if let Err((status, stdout, stderr)) = run_command(&command, cwd, &scratch, cfg) {
            failure = Some(RunFailure { line: run.line, command, status, stdout, stderr });
            break;
        }
    }
    let kept = if cfg.keep_tmp {
        let p = dir.keep();
        format!("\n(temporary files kept in {})", p.display())
    } else {
        String::new()
    };
    let expected = script.expects_failure(&available);
    match (failure, expected) {
        (None, false) => Ok(None),
        (Some(f), true) => Ok(Some(format!("expected failure (XFAIL): RUN at line {} failed ({})", f.line, f.status))),
        (None, true) => Err(format!("{name}: XPASS: the test is marked XFAIL but every RUN line passed{kept}")),
        (Some(f), false) => {
            let mut r = String::new();
            let _ = writeln!(r, "lit test failed: {name} ({})", path.display());
            let _ = writeln!(r, "RUN at line {}: {}", f.line, f.command);
            let _ = writeln!(r, "{}", f.status);
            for (what, s) in [("stdout", &f.stdout), ("stderr", &f.stderr)] {
                if !s.is_empty() {
                    let _ = writeln!(r, "--- {what} ---");
                    r.push_str(s);
                    if !s.ends_with('\n') {
                        r.push('\n');
                    }
                }
            }
            let _ = writeln!(r, "---{kept}");
            Err(r)
        }
    }
}

/// Every test file below `root` (sorted), skipping `Inputs` directories.
pub fn discover(root: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let path = entry.path();
            let ty = entry.file_type()?;
            if ty.is_dir() {
                if entry.file_name() != "Inputs" {
                    stack.push(path);
                }
            } else if path.extension().and_then(|e| e.to_str()).is_some_and(|e| SUFFIXES.contains(&e)) {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_lines_and_continuations() {
        let s = parse_script("// RUN: a %s \\\n// RUN:   | b\n// CHECK: x\n# RUN: c\n// XRUN: not this\n// XFAIL: *\n")
            .unwrap();
        assert_eq!(
            s.runs,
            vec![RunLine { line: 1, command: " a %s    | b".into() }, RunLine { line: 4, command: " c".into() }]
        );
        assert!(s.expects_failure(&available_features()));
        assert!(parse_script("// RUN: a \\\n// CHECK: b\n").is_err());
        assert!(parse_script("// RUN: a \\\n").is_err());
    }

    #[test]
    fn features_gate_tests() {
        assert!(parse_script("// UNSUPPORTED: *\n").is_err());
        let s = parse_script("// UNSUPPORTED: system-linux, system-darwin\n// RUN: true\n").unwrap();
        let linux = vec!["system-linux".to_string()];
        assert!(s.skip_reason(&linux).is_some());
        assert!(s.skip_reason(&[]).is_none());
        let s = parse_script("// REQUIRES: system-linux\n").unwrap();
        assert!(s.skip_reason(&linux).is_none());
        assert!(s.skip_reason(&[]).is_some());
        assert!(parse_script("// XFAIL: !system-linux\n").is_err());
    }

    fn config(timeout: u64) -> Config {
        Config {
            phic: PathBuf::from("/nonexistent/phic"),
            phi_emu: PathBuf::from("/nonexistent/phi-emu"),
            tools_dir: PathBuf::from("/nonexistent"),
            timeout: Duration::from_secs(timeout),
            keep_tmp: false,
        }
    }

    fn run_file(name: &str, text: &str, cfg: &Config) -> Result<Option<String>, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        run_test(&path, name, cfg)
    }

    #[test]
    fn failure_report_names_the_run_line_status_and_output() {
        let text = "// RUN: true\n// RUN: echo to-stdout; echo to-stderr >&2; exit 3\n// RUN: echo never\n";
        let err = run_file("t.mlir", text, &config(60)).unwrap_err();
        assert!(err.starts_with("lit test failed: t.mlir ("), "{err}");
        assert!(err.contains("\nRUN at line 2: echo to-stdout; echo to-stderr >&2; exit 3\nexit status 3\n"), "{err}");
        assert!(err.contains("--- stdout ---\nto-stdout\n--- stderr ---\nto-stderr\n"), "{err}");
    }

    #[test]
    fn substitutions_reach_the_shell() {
        let text = "// RUN: test \"%s\" = \"$PWD/t.mlir\" && echo hi > %t && grep -q hi %t\n// RUN: test -d %S\n";
        assert_eq!(run_file("t.mlir", text, &config(60)), Ok(None));
    }

    #[test]
    fn pipelines_fail_when_any_command_fails() {
        let err = run_file("t.mlir", "// RUN: false | cat\n", &config(60)).unwrap_err();
        assert!(err.contains("exit status 1"), "{err}");
    }

    #[test]
    fn xfail_xpass_and_missing_run_lines() {
        let ok = run_file("t.mlir", "// XFAIL: *\n// RUN: false\n", &config(60)).unwrap();
        assert!(ok.is_some_and(|n| n.contains("XFAIL")));
        let err = run_file("t.mlir", "// XFAIL: *\n// RUN: true\n", &config(60)).unwrap_err();
        assert!(err.contains("XPASS"), "{err}");
        let err = run_file("t.mlir", "// CHECK: x\n", &config(60)).unwrap_err();
        assert!(err.contains("UNRESOLVED: the test has no 'RUN:' line"), "{err}");
    }

    #[test]
    fn a_hanging_command_times_out() {
        let started = Instant::now();
        let err = run_file("t.mlir", "// RUN: sleep 30 | cat\n", &config(1)).unwrap_err();
        assert!(err.contains("timed out after 1 s"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(20));
    }

    #[test]
    fn discovery_skips_inputs_and_other_files() {
        let dir = tempfile::tempdir().unwrap();
        for f in ["b/x.mlir", "a.snn", "Inputs/h.mlir", "b/Inputs/h.mlir", "c.txt", "lit.cfg.py"] {
            let p = dir.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "").unwrap();
        }
        let found: Vec<_> =
            discover(dir.path()).unwrap().iter().map(|p| p.strip_prefix(dir.path()).unwrap().to_path_buf()).collect();
        assert_eq!(found, vec![PathBuf::from("a.snn"), PathBuf::from("b/x.mlir")]);
    }

    #[test]
    fn substitutions() {
        let subs = Substitutions {
            source: PathBuf::from("/d/x.mlir"),
            tmp: PathBuf::from("/tmp/q/x.mlir.tmp"),
            phic: PathBuf::from("/bin/phic-lit"),
            phi_emu: PathBuf::from("/bin/phi-emu-lit"),
        };
        assert_eq!(
            substitute("%phic %s -o %t.out; %phi-emu %t.out; cd %S; echo 100%% %q %", &subs),
            "/bin/phic-lit /d/x.mlir -o /tmp/q/x.mlir.tmp.out; /bin/phi-emu-lit /tmp/q/x.mlir.tmp.out; cd /d; echo 100% %q %"
        );
    }
}
