//! `phic-lit`: exactly the `phic` driver, built inside `phi-tests` so that the lit suite can name
//! its path (`env!("CARGO_BIN_EXE_phic-lit")`); RUN lines call it as `%phic`.

fn main() -> std::process::ExitCode {
    phi_compiler::driver::main()
}
