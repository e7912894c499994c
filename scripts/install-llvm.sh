#!/usr/bin/env bash
# Installs LLVM 22's lit, FileCheck, not (llvm-22-tools) and MLIR's mlir-opt (mlir-22-tools)
# from Debian's packages into /usr/lib/llvm-22/bin when they are missing (about 4 s when the
# package lists are fresh). The cargo build needs none of them; the lit suite uses them when
# they are there: tests/lit/dialect/irdl.mlir (REQUIRES: mlir-opt) and scripts/llvm-lit.sh.
set -euo pipefail
LLVM_BIN=/usr/lib/llvm-22/bin
missing=0
for tool in lit FileCheck not mlir-opt; do
  [ -x "$LLVM_BIN/$tool" ] || missing=1
done
if [ "$missing" -eq 1 ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends llvm-22-tools mlir-22-tools >/dev/null
fi
for tool in lit FileCheck not mlir-opt; do
  [ -x "$LLVM_BIN/$tool" ] || { echo "install-llvm: $LLVM_BIN/$tool is missing after the install" >&2; exit 1; }
done
