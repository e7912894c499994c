# Configuration for LLVM's own lit, so that this suite also runs under the real lit and
# FileCheck (the in-tree runner, tests/tests/lit.rs, does not read this file):
#
#   PATH=/usr/lib/llvm-19/bin:$PATH PHIC=$PWD/target/debug/phic lit -v tests/lit
#
# FileCheck and not come from PATH, %phic from the PHIC environment variable.

import os

import lit.formats

config.name = "phi"
config.test_format = lit.formats.ShTest(execute_external=False)
config.suffixes = [".mlir", ".snn"]
config.excludes = ["Inputs"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(os.environ.get("TMPDIR", "/tmp"), "phi-lit-output")
config.substitutions.append(("%phic", os.environ.get("PHIC", "phic")))
config.environment["PATH"] = os.environ.get("PATH", "")
config.available_features.add("system-" + {"linux": "linux", "darwin": "darwin"}.get(os.uname().sysname.lower(), "other"))
