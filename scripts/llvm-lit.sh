#!/usr/bin/env bash
# Runs the lit suite (tests/lit) under LLVM's own lit and FileCheck (LLVM 22), as issue 6 asks:
# the same files our in-tree harness (cargo test --test lit) runs must pass unchanged.
#
#   scripts/llvm-lit.sh            # installs LLVM 22's tools through apt if they are missing
#   scripts/llvm-lit.sh --no-build # uses phic-lit / phi-emu-lit as `cargo test` left them
#
# LLVM's tools come from Debian (bookworm-security ships LLVM 22): /usr/lib/llvm-22/bin holds
# lit, FileCheck and not. %phic and %phi-emu are the test copies of the tools built here.
set -euo pipefail
cd "$(dirname "$0")/.."

LLVM_BIN=/usr/lib/llvm-22/bin
bash scripts/install-llvm.sh

if [ "${1:-}" != "--no-build" ]; then
  cargo build -p phi-tests --bins --locked
fi
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
PATH="$LLVM_BIN:$PATH" PHIC="$target_dir/debug/phic-lit" PHI_EMU="$target_dir/debug/phi-emu-lit" \
  "$LLVM_BIN/lit" -sv tests/lit
