//! The lit suite: every `tests/lit/**/*.mlir` and `*.snn` file (not under `Inputs/`) is a test
//! named by its path below `tests/lit`, run by `phi_tests::lit` (RUN lines with `%s %S %t
//! %phic %phi-emu`, `FileCheck` and `not` on `PATH`). Run one file or a directory with a filter:
//! `cargo test -p phi-tests --test lit -- selftest/` (see `docs/testing.md`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use libtest_mimic::{Arguments, Failed, Trial};
use phi_tests::lit::{Config, available_features, discover, parse_script, run_test};

fn main() -> std::process::ExitCode {
    let args = Arguments::from_args();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("lit");
    let file_check = PathBuf::from(env!("CARGO_BIN_EXE_FileCheck"));
    let tools_dir = file_check.parent().map(Path::to_path_buf).unwrap_or_default();
    let timeout = std::env::var("PHI_LIT_TIMEOUT").ok().and_then(|s| s.parse().ok()).unwrap_or(300);
    let config = Config {
        phic: PathBuf::from(env!("CARGO_BIN_EXE_phic-lit")),
        phi_emu: PathBuf::from(env!("CARGO_BIN_EXE_phi-emu-lit")),
        tools_dir,
        timeout: Duration::from_secs(timeout),
        keep_tmp: std::env::var_os("PHI_LIT_KEEP_TMP").is_some_and(|v| !v.is_empty() && v != "0"),
    };
    let files = match discover(&root) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("cannot list {}: {e}", root.display());
            return std::process::ExitCode::FAILURE;
        }
    };
    let trials = files
        .into_iter()
        .map(|path| {
            let name = path.strip_prefix(&root).unwrap_or(&path).to_string_lossy().replace('\\', "/");
            let config = config.clone();
            let test_name = name.clone();
            // UNSUPPORTED/REQUIRES: shown as ignored (a malformed script fails when run).
            let skipped = std::fs::read_to_string(&path)
                .ok()
                .and_then(|t| parse_script(&t).ok())
                .and_then(|s| s.skip_reason(&available_features()))
                .is_some();
            Trial::test(name, move || match run_test(&path, &test_name, &config) {
                Ok(_) => Ok(()),
                Err(report) => Err(Failed::from(report)),
            })
            .with_kind("lit")
            .with_ignored_flag(skipped)
        })
        .collect();
    libtest_mimic::run(&args, trials).exit_code()
}
