//! Binary encoding of instructions (128 bits each): see `docs/isa.md`.
