#!/usr/bin/env python3
"""Write the legacy fixture `lif_legacy` with nir 1.0.0 (see README.md).

nir 1.0.0 (the version snnTorch-era exports were written with) stores LIF
without `v_reset` (read as 0: the "v_reset" variant resets to 0) and writes every
dataset uncompressed. Outputs as make_fixtures.py: lif_legacy.expected.npy = the
"v_reset" variant, lif_legacy.expected_subtract.npy = the "subtract" variant.
Run it in its own venv:

  python3 -m venv /tmp/nirold && /tmp/nirold/bin/pip install nir==1.0.0 numpy==2.4.6 h5py==3.16.0
  /tmp/nirold/bin/python make_legacy_fixture.py

then run make_fixtures.py (nir 1.0.8), which re-verifies this file too.
"""

import pathlib
import sys

import numpy as np

import nir
sys.dont_write_bytecode = True  # keep tests/nir free of __pycache__
import nir_ref as ref  # noqa: E402

assert nir.version == "1.0.0", f"needs nir 1.0.0, found {nir.version}"

HERE = pathlib.Path(__file__).resolve().parent
SEED, N, T, MARGIN = 20240611, 2, 5, 1e-3
f32, f64 = np.float32, np.float64
name = "lif_legacy"

for attempt in range(500):
    rng = np.random.default_rng([SEED, 1000, attempt])
    tau = np.full(5, ref.DT / (1.0 - 0.9), f32)  # snnTorch export: beta 0.9, r = tau/dt, v_leak 0
    graph = nir.NIRGraph.from_list(
        nir.Input(np.array([4])),
        nir.Affine(weight=rng.normal(0.5, 0.6, (5, 4)).astype(f32), bias=rng.normal(0, 0.1, 5).astype(f32)),
        nir.LIF(tau=tau, r=(tau.astype(f64) / ref.DT).astype(f32), v_leak=np.zeros(5, f32),
                v_threshold=np.ones(5, f32)),
        nir.Output(np.array([5])),
    )
    x = (rng.random((N, T, 4)) < 0.5).astype(f32)
    path = HERE / f"{name}.nir"
    nir.write(str(path), graph)
    g = nir.read(str(path))
    m = ref.Margins()
    out = {v: ref.run_graph(g, x, v, m) for v in ref.VARIANTS}
    differ = not np.array_equal(out["v_reset"], out["subtract"])
    if m.min >= MARGIN and all(0.05 <= r <= 0.95 for r in m.rates) and differ:
        break
else:
    raise RuntimeError("no acceptable draw")

np.save(HERE / f"{name}.input.npy", x)
np.save(HERE / f"{name}.expected.npy", out["v_reset"])
np.save(HERE / f"{name}.expected_subtract.npy", out["subtract"])
print(f"{name}: attempt {attempt}, margin {m.min:.3f}, rates {[round(r, 2) for r in m.rates]}")
