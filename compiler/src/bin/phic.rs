//! `phic`, the Phi compiler driver (see `phi_compiler::driver`).

fn main() -> std::process::ExitCode {
    phi_compiler::driver::main()
}
