//! lit's `not`: `not CMD ARGS…` runs the command and inverts its result (exit 0 when it failed,
//! 1 when it succeeded); a crash (killed by a signal, or a Rust panic's exit status 101) is not
//! a failure it inverts. `not --crash CMD…` exits 0 only when the command crashed.

use std::process::{Command, ExitCode};

/// The exit status of a Rust program that panicked.
const PANIC_STATUS: i32 = 101;

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let expect_crash = args.first().is_some_and(|a| a == "--crash");
    if expect_crash {
        args.remove(0);
    }
    let Some((program, rest)) = args.split_first() else {
        eprintln!("not: usage: not [--crash] COMMAND [ARGS...]");
        return ExitCode::FAILURE;
    };
    let status = match Command::new(program).args(rest).status() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("not: cannot run '{program}': {e}");
            return ExitCode::FAILURE;
        }
    };
    let crashed = match status.code() {
        Some(c) => c == PANIC_STATUS,
        None => true,
    };
    let ok = if expect_crash { crashed } else { !crashed && !status.success() };
    if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
