//! `phic`, the Phi compiler driver.
fn main() {}
