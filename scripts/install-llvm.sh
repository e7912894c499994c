#!/usr/bin/env bash
# Installs LLVM 22's lit, FileCheck, not (llvm-22-tools) and MLIR's mlir-opt (mlir-22-tools)
# from Debian's packages into /usr/lib/llvm-22/bin when they are missing (about 4 s when the
# package lists are fresh). The cargo build needs none of them; the lit suite uses them when
# they are there: tests/lit/dialect/irdl.mlir (REQUIRES: mlir-opt) and scripts/llvm-lit.sh.
#
#   scripts/install-llvm.sh --dev   # also the libraries `cargo … -p phi-mlir --features mlir`
#                                   # links (melior, MLIR 22, static; ~230 MB)
set -euo pipefail
LLVM_BIN=/usr/lib/llvm-22/bin
packages="llvm-22-tools mlir-22-tools"
missing=0
for tool in lit FileCheck not mlir-opt; do
  [ -x "$LLVM_BIN/$tool" ] || missing=1
done
if [ "${1:-}" = "--dev" ]; then
  packages="$packages llvm-22-dev libmlir-22-dev libclang-22-dev libpolly-22-dev libzstd-dev"
  [ -f /usr/lib/llvm-22/lib/libMLIRIR.a ] && [ -f /usr/lib/llvm-22/lib/libclang.so ] || missing=1
fi
if [ "$missing" -eq 1 ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi
  $SUDO apt-get update -qq
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $packages >/dev/null
fi
for tool in lit FileCheck not mlir-opt; do
  [ -x "$LLVM_BIN/$tool" ] || { echo "install-llvm: $LLVM_BIN/$tool is missing after the install" >&2; exit 1; }
done
