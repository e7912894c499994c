"""Export the trained digits CNN (model.snn + weights.safetensors) to NIR, as snnTorch would.

Writes model.nir with the real `nir` package (PyPI `nir`, which needs only numpy and h5py):

    python3 -m venv /tmp/nirenv && /tmp/nirenv/bin/pip install nir==1.0.8 numpy h5py
    /tmp/nirenv/bin/python examples/digits_cnn/export_nir.py

The graph is the one of model.snn, node for node: Input [1, 8, 8] → Conv2d → LIF → Conv2d → LIF
→ Flatten → Affine → LIF → Output. Parameters follow snnTorch's `export_to_nir` convention with
dt = 1e-4: `tau = dt / (1 − beta)`, `r = tau / dt`, `v_leak = 0`, `v_reset = 0`, stored as float32
like snnTorch's tensors. The model subtracts the threshold on a spike, which NIR cannot state
(NIR resets to `v_reset`); like snnTorch's exporter this writes `v_reset = 0`, so the file is
imported with `phic model.nir --nir-reset subtract`. Affine's weight is `[out, in]` (PyTorch), the transpose of the ONNX
Gemm weight. The safetensors file is read with the standard library and numpy (its format is an
8-byte header length, a JSON header, then the raw little-endian data), so no other package is
needed. The output is deterministic (nir writes no timestamps).
"""

import json
import os
import struct
import sys

import nir
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DT = 1e-4
BETA = 0.9
THRESHOLD = 1.0
T = 8  # time steps: not part of a NIR graph; `phic model.nir --time-steps 8`


def read_safetensors(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for key, meta in header.items():
        if key == "__metadata__":
            continue
        assert meta["dtype"] == "F32", (key, meta["dtype"])
        a, b = meta["data_offsets"]
        out[key] = np.frombuffer(data[a:b], dtype="<f4").reshape(meta["shape"]).copy()
    return out


def lif(shape):
    beta = np.full(shape, BETA, dtype=np.float32)
    tau = (DT / (1.0 - beta)).astype(np.float32)
    return nir.LIF(
        tau=tau,
        r=(tau / DT).astype(np.float32),
        v_leak=np.zeros(shape, np.float32),
        v_threshold=np.full(shape, THRESHOLD, np.float32),
        v_reset=np.zeros(shape, np.float32),
    )


def main(out_path):
    w = read_safetensors(os.path.join(HERE, "weights.safetensors"))
    nodes = {
        "input": nir.Input(input_type=np.array([1, 8, 8])),
        "conv1": nir.Conv2d(
            input_shape=(8, 8),
            weight=w["conv1.weight"],
            stride=1,
            padding=1,
            dilation=1,
            groups=1,
            bias=w["conv1.bias"],
        ),
        "lif1": lif((16, 8, 8)),
        "conv2": nir.Conv2d(
            input_shape=(8, 8),
            weight=w["conv2.weight"],
            stride=2,
            padding=1,
            dilation=1,
            groups=1,
            bias=w["conv2.bias"],
        ),
        "lif2": lif((32, 4, 4)),
        "flatten": nir.Flatten(input_type={"input": np.array([32, 4, 4])}, start_dim=0, end_dim=-1),
        "fc": nir.Affine(weight=np.ascontiguousarray(w["fc.weight"].T), bias=w["fc.bias"]),
        "lif3": lif((10,)),
        "output": nir.Output(output_type=np.array([10])),
    }
    chain = ["input", "conv1", "lif1", "conv2", "lif2", "flatten", "fc", "lif3", "output"]
    edges = list(zip(chain[:-1], chain[1:]))
    graph = nir.NIRGraph(nodes=nodes, edges=edges)
    nir.write(out_path, graph)
    back = nir.read(out_path)
    assert sorted(back.nodes) == sorted(nodes), "nir reads back what it wrote"
    print(f"wrote {out_path} (nir {nir.__version__}, {len(nodes)} nodes; import with --time-steps {T})")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "model.nir"))
