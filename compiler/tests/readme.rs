//! The README's quick start is true: its first command (compile and emulate the example) prints
//! what the README shows, its second command is the one CI runs, and its ONNX snippet is valid
//! syntax.

use std::path::Path;
use std::process::Command;

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn readme() -> String {
    std::fs::read_to_string(root().join("README.md")).expect("README.md")
}

/// The fenced blocks after `heading`, as (info string, body).
fn blocks_after(text: &str, heading: &str) -> Vec<(String, String)> {
    let start = text.find(heading).unwrap_or_else(|| panic!("README has no {heading}"));
    let mut out = Vec::new();
    let mut rest = &text[start..];
    while let Some(open) = rest.find("```") {
        let after = &rest[open + 3..];
        let nl = after.find('\n').expect("fence line");
        let info = after[..nl].trim().to_string();
        let body_start = &after[nl + 1..];
        let close = body_start.find("```").expect("closing fence");
        out.push((info, body_start[..close].to_string()));
        rest = &body_start[close + 3..];
    }
    out
}

#[test]
fn quick_start_first_command_prints_what_the_readme_shows() {
    let text = readme();
    let blocks = blocks_after(&text, "## Quick start");
    let (info, commands) = &blocks[0];
    assert_eq!(info, "sh");
    let first = commands.lines().next().expect("a first command");
    let args = first.strip_prefix("cargo run --release --bin phic -- ").expect("the first command runs phic");
    let (info, expected) = &blocks[1];
    assert_eq!(info, "text");
    // the program it writes goes to a temporary directory, not into the source tree
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("model.phibin");
    let args: Vec<&std::ffi::OsStr> = args
        .split_whitespace()
        .map(|a| if a == "model.phibin" { out_path.as_os_str() } else { std::ffi::OsStr::new(a) })
        .collect();
    assert!(args.contains(&out_path.as_os_str()), "the first command writes model.phibin");
    let out = Command::new(env!("CARGO_BIN_EXE_phic")).args(args).current_dir(root()).output().expect("phic runs");
    assert!(out_path.exists(), "the program was written");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), *expected);
}

#[test]
fn quick_start_second_command_is_what_ci_runs() {
    let text = readme();
    let blocks = blocks_after(&text, "## Quick start");
    let second = blocks[0].1.lines().nth(1).expect("a second command").trim().to_string();
    let ci = std::fs::read_to_string(root().join(".ci/run")).expect(".ci/run");
    assert!(ci.lines().any(|l| l.trim() == format!("{second} --locked") || l.trim() == second), "{second}");
}

#[test]
fn onnx_snippet_is_valid_syntax() {
    let text = readme();
    let blocks = blocks_after(&text, "## Writing a spiking network");
    let snippet = &blocks[0].1;
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("net.snn");
    std::fs::write(&f, snippet).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_phic")).arg(&f).arg("--parse-only").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn sparsity_report_is_what_the_readme_shows() {
    let text = readme();
    let blocks = blocks_after(&text, "## The Phi pipeline");
    let (info, command) = &blocks[0];
    assert_eq!(info, "sh");
    let args = command.trim().strip_prefix("cargo run --release --bin phic -- ").expect("runs phic");
    let (info, expected) = &blocks[1];
    assert_eq!(info, "text");
    let out = Command::new(env!("CARGO_BIN_EXE_phic"))
        .args(args.split_whitespace())
        .current_dir(root())
        .output()
        .expect("phic runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), *expected);
}
