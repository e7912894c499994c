# Configuration for LLVM's own lit, so that this suite also runs under the real lit and
# FileCheck (the in-tree runner, tests/tests/lit.rs, does not read this file):
#
#   cargo build -p phi-tests --bins
#   PATH=/usr/lib/llvm-22/bin:$PATH PHIC=$PWD/target/debug/phic-lit \
#     PHI_EMU=$PWD/target/debug/phi-emu-lit lit -v tests/lit
#
# FileCheck and not come from PATH, %phic and %phi-emu from the PHIC and PHI_EMU environment
# variables. They are inserted before lit's own substitutions, so that `%p` (lit's spelling of
# `%S`) does not eat the `%p` of `%phic` / `%phi-emu`.

import os
import shutil

import lit.formats

config.name = "phi"
config.test_format = lit.formats.ShTest(execute_external=False)
config.suffixes = [".mlir", ".snn"]
config.excludes = ["Inputs"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(os.environ.get("TMPDIR", "/tmp"), "phi-lit-output")
config.substitutions.insert(0, ("%phi-emu", os.environ.get("PHI_EMU", "phi-emu")))
config.substitutions.insert(0, ("%phic", os.environ.get("PHIC", "phic")))
config.environment["PATH"] = os.environ.get("PATH", "")
config.available_features.add("system-" + {"linux": "linux", "darwin": "darwin"}.get(os.uname().sysname.lower(), "other"))
# MLIR's mlir-opt (Debian's mlir-22-tools), for the tests that verify our IR with the IRDL
# definitions of dialect/irdl/phi.irdl.mlir; the in-tree runner looks for it the same way.
if shutil.which("mlir-opt", path=config.environment["PATH"]) or os.path.isfile("/usr/lib/llvm-22/bin/mlir-opt"):
    config.available_features.add("mlir-opt")
    config.environment["PATH"] = config.environment["PATH"] + os.pathsep + "/usr/lib/llvm-22/bin"
