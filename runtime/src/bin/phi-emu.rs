//! `phi-emu`, the instruction-level emulator of the Phi accelerator (see `phi_runtime::emu::cli`).

fn main() -> std::process::ExitCode {
    phi_runtime::emu::cli::main()
}
