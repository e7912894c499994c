//! Execution of Phi programs: the reference interpreter of the `snn` dialect.
