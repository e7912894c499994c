//! The text listing of programs (`phic --emit=isa`): see `docs/isa.md`.
