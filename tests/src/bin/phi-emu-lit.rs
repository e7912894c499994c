//! `phi-emu-lit`: exactly the `phi-emu` command, built inside `phi-tests` so that tests and the
//! lit suite can name its path (`env!("CARGO_BIN_EXE_phi-emu-lit")`); RUN lines call it as
//! `%phi-emu`.

fn main() -> std::process::ExitCode {
    phi_runtime::emu::cli::main()
}
