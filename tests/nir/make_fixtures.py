#!/usr/bin/env python3
"""Write the NIR import test fixtures of tests/nir/ (see README.md).

Every fixture `<name>` is
  <name>.nir                    written by the real `nir` package (nir.write)
  <name>.input.npy              float32 [N, T, *input_shape]
  <name>.expected.npy           float32 [N, T, *output_shape], "v_reset" reset variant
                                (NIR's definition: a spiking neuron resets to v_reset)
  <name>.expected_subtract.npy  only for graphs with LIF / IF / CubaLIF: same, with the
                                "subtract" variant (snnTorch Leaky(reset_delay=False) default)
The expected outputs come from nir_ref.py (numpy only), evaluated on the graph as
read back from the written file with nir.read.

Usage (from this directory, with the venv of README.md):
  python make_fixtures.py           regenerate everything written by nir 1.0.8, then verify
  python make_fixtures.py --check   only verify the committed files (all *.nir here)
The legacy fixture (lif_legacy, nir 1.0.0) is written by make_legacy_fixture.py.
"""

import pathlib
import re
import sys

import h5py
import numpy as np

import nir
sys.dont_write_bytecode = True  # keep tests/nir free of __pycache__
import nir_ref as ref  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
SEED = 20240611
N, T = 2, 5
MARGIN = 1e-3  # min |membrane - threshold| / max(1, |threshold|) at every spike decision
DT = ref.DT
f32, f64 = np.float32, np.float64

FIXTURES = []


def fixture(name, *, spiking_input=False, compression=None, differ=False):
    """Register a builder `fn(rng) -> (graph, input)`.

    differ: require the two reset variants ("v_reset" and "subtract") to give different
    outputs (so the fixture pins down which one an implementation follows).
    """

    def deco(fn):
        FIXTURES.append(
            dict(name=name, build=fn, spiking_input=spiking_input, compression=compression, differ=differ)
        )
        return fn

    return deco


# ------------------------------------------------------------------ helpers


def spikes(rng, shape, p):
    return (rng.random((N, T) + tuple(shape)) < p).astype(f32)


def uniform(rng, shape, lo, hi, dtype=f32):
    return rng.uniform(lo, hi, tuple(shape)).astype(dtype)


def normal(rng, shape, sd=1.0, mu=0.0, dtype=f32):
    return rng.normal(mu, sd, tuple(shape)).astype(dtype)


def arr(values, dtype):
    return np.asarray(values, dtype=dtype)


def chain(in_shape, *nodes, out_shape, type_check=True):
    return nir.NIRGraph.from_list(
        nir.Input(arr(in_shape, np.int64)), *nodes, nir.Output(arr(out_shape, np.int64)), type_check=type_check
    )


def named_chain(in_shape, named_nodes, out_shape, type_check=True):
    """Like chain, with explicit node names: named_nodes = [(name, node), ...]."""
    nodes = {"input": nir.Input(arr(in_shape, np.int64)), **dict(named_nodes),
             "output": nir.Output(arr(out_shape, np.int64))}
    names = list(nodes)
    return nir.NIRGraph(nodes=nodes, edges=list(zip(names, names[1:])), type_check=type_check)


def dyadic(rng, shape, sd, q):
    """Normal(0, sd) weights rounded to multiples of q = 2^-k (exact float32 sums in any order)."""
    return (np.round(rng.normal(0.0, sd, tuple(shape)) / q) * q).astype(f32)


def dyadic_bias(rng, n, q):
    """Biases (j + f)*q, j in -2..1, f in {1/8, 3/8, 5/8, 7/8}: with weights multiples of q,
    integer layer inputs and thresholds multiples of q, a membrane after t < 8 steps since
    its last reset has fractional part t*f*q mod q != 0, so it is >= q/8 from any threshold."""
    return ((rng.integers(-2, 2, n) + rng.choice([1, 3, 5, 7], n) / 8.0) * q).astype(f32)


def tau_of(beta):
    """tau such that beta = 1 - dt/tau (snnTorch export: tau = dt / (1 - beta))."""
    return DT / (1.0 - np.asarray(beta, f64))


def snntorch_lif(beta, thr, dtype=f32):
    """LIF exactly as snnTorch's export writes it: r = tau/dt (input scale 1), v_leak = 0."""
    tau = tau_of(beta).astype(dtype)
    return nir.LIF(
        tau=tau,
        r=(tau.astype(f64) / DT).astype(dtype),
        v_leak=np.zeros_like(tau),
        v_threshold=arr(thr, dtype),
    )


# ------------------------------------------------------------------ single-node fixtures


@fixture("affine")
def _(rng):
    W, b = normal(rng, (4, 5), 0.5), normal(rng, (4,), 0.3)
    return chain([5], nir.Affine(weight=W, bias=b), out_shape=[4]), normal(rng, (N, T, 5))


@fixture("linear")
def _(rng):
    W = normal(rng, (3, 6), 0.5, dtype=f64)
    return chain([6], nir.Linear(weight=W), out_shape=[3]), normal(rng, (N, T, 6))


@fixture("scale")
def _(rng):
    s = normal(rng, (2, 3), 1.0)
    return chain([2, 3], nir.Scale(scale=s), out_shape=[2, 3]), normal(rng, (N, T, 2, 3))


@fixture("conv1d")
def _(rng):
    c = nir.Conv1d(
        input_shape=8, weight=normal(rng, (3, 2, 3), 0.5), stride=1, padding=1, dilation=1, groups=1,
        bias=normal(rng, (3,), 0.2),
    )
    return chain([2, 8], c, out_shape=[3, 8]), normal(rng, (N, T, 2, 8))


@fixture("conv1d_stride_dilation_groups")
def _(rng):
    # L_out = floor((9 + 2*2 - 2*(3-1) - 1) / 2 + 1) = 5; 2 groups of 2 -> 3 channels
    c = nir.Conv1d(
        input_shape=None,  # nir infers 9; passing it trips nir's groups-unaware input_type (see README)
        weight=normal(rng, (6, 2, 3), 0.5, dtype=f64), stride=2, padding=2, dilation=2,
        groups=2, bias=normal(rng, (6,), 0.2, dtype=f32),
    )
    return chain([4, 9], c, out_shape=[6, 5]), normal(rng, (N, T, 4, 9))


@fixture("conv1d_same")
def _(rng):
    # even kernel: total pad 3 -> 1 before, 2 after (PyTorch)
    c = nir.Conv1d(
        input_shape=7, weight=normal(rng, (2, 2, 4), 0.5), stride=1, padding="same", dilation=1, groups=1,
        bias=normal(rng, (2,), 0.2),
    )
    return chain([2, 7], c, out_shape=[2, 7]), normal(rng, (N, T, 2, 7))


@fixture("conv1d_valid")
def _(rng):
    c = nir.Conv1d(
        input_shape=8, weight=normal(rng, (3, 1, 3), 0.5), stride=1, padding="valid", dilation=2, groups=1,
        bias=normal(rng, (3,), 0.2),
    )
    return chain([1, 8], c, out_shape=[3, 4]), normal(rng, (N, T, 1, 8))


@fixture("conv2d_stride_dilation_groups")
def _(rng):
    # H: (7 + 2 - 2 - 1)//2 + 1 = 4 ; W: (6 + 0 - 2*1 - 1)//1 + 1 = 4
    c = nir.Conv2d(
        input_shape=(7, 6), weight=normal(rng, (6, 2, 3, 2), 0.4, dtype=f64), stride=(2, 1), padding=(1, 0),
        dilation=(1, 2), groups=2, bias=normal(rng, (6,), 0.2, dtype=f32),
    )
    # nir 1.0.8 cannot type-check this node (groups, non-square kernel): see README
    return chain([4, 7, 6], c, out_shape=[6, 4, 4], type_check=False), normal(rng, (N, T, 4, 7, 6))


@fixture("conv2d_same")
def _(rng):
    # kernel (2, 3), dilation (1, 2): total pad H 1 -> (0, 1), W 4 -> (2, 2)
    c = nir.Conv2d(
        input_shape=(5, 6), weight=normal(rng, (4, 1, 2, 3), 0.4), stride=1, padding="same", dilation=(1, 2),
        groups=2, bias=normal(rng, (4,), 0.2),
    )
    return chain([2, 5, 6], c, out_shape=[4, 5, 6], type_check=False), normal(rng, (N, T, 2, 5, 6))


@fixture("conv2d_valid")
def _(rng):
    c = nir.Conv2d(
        input_shape=(7, 7), weight=normal(rng, (2, 3, 3, 3), 0.4), stride=2, padding="valid", dilation=1,
        groups=1, bias=normal(rng, (2,), 0.2),
    )
    return chain([3, 7, 7], c, out_shape=[2, 3, 3]), normal(rng, (N, T, 3, 7, 7))


@fixture("sumpool2d", spiking_input=True)
def _(rng):
    # (the unpadded 2x2/2 case is inside conv_if_pool_flatten_affine_lif)
    p = nir.SumPool2d(kernel_size=arr([3, 3], np.int64), stride=arr([2, 2], np.int64), padding=arr([1, 1], np.int64))
    return chain([2, 5, 5], p, out_shape=[2, 3, 3]), spikes(rng, (2, 5, 5), 0.4)


@fixture("avgpool2d")
def _(rng):
    # padded: count_include_pad=True, i.e. always divided by 3*3
    p = nir.AvgPool2d(kernel_size=arr([3, 3], np.int64), stride=arr([2, 2], np.int64), padding=arr([1, 1], np.int64))
    return chain([2, 5, 5], p, out_shape=[2, 3, 3]), normal(rng, (N, T, 2, 5, 5))


@fixture("flatten")
def _(rng):
    # NIR dims exclude batch/time: [2, 3, 4, 2] with dims 1..2 -> [2, 12, 2]
    # (the full 0..-1 flatten is inside conv_if_pool_flatten_affine_lif)
    f = nir.Flatten(input_type={"input": arr([2, 3, 4, 2], np.int64)}, start_dim=1, end_dim=2)
    return chain([2, 3, 4, 2], f, out_shape=[2, 12, 2]), normal(rng, (N, T, 2, 3, 4, 2))


@fixture("lif", differ=True, compression="gzip")
def _(rng):
    beta = [0.5, 0.7, 0.8, 0.9, 0.95, 0.6]
    thr = arr([1.0, 0.8, 1.2, 0.5, 1.0, 2.0], f32)
    x = (thr * rng.uniform(-0.5, 2.5, (N, T, 6))).astype(f32)
    return chain([6], snntorch_lif(beta, thr), out_shape=[6]), x


@fixture("lif_general")
def _(rng):
    # r != tau/dt (input scale != 1), v_leak != 0, 2-D shape, float64 tau/r with float32 v_leak/threshold
    shape = (2, 3)
    tau = uniform(rng, shape, 2e-4, 2e-3, f64)
    gain = uniform(rng, shape, 0.5, 2.0, f64)
    lif = nir.LIF(
        tau=tau,
        r=gain * tau / DT,
        v_leak=uniform(rng, shape, -0.3, 0.5, f32),
        v_threshold=uniform(rng, shape, 0.5, 1.5, f32),
    )
    return chain(list(shape), lif, out_shape=list(shape)), uniform(rng, (N, T) + shape, -0.3, 1.2)


@fixture("if")
def _(rng):
    node = nir.IF(r=arr([1.0, 1.0, 0.5, 2.0, 1.0], f32), v_threshold=arr([1.0, 0.5, 1.0, 1.5, 0.8], f32))
    return chain([5], node, out_shape=[5]), uniform(rng, (N, T, 5), -0.3, 1.0)


@fixture("li")
def _(rng):
    beta = arr([0.6, 0.8, 0.9, 0.95], f64)
    node = nir.LI(
        tau=tau_of(beta),  # float64
        r=(arr([1.0, 0.5, 1.5, 2.0], f64) / (1.0 - beta)).astype(f32),  # input scale r*dt/tau = 1, .5, 1.5, 2
        v_leak=arr([0.0, 0.5, -0.3, 0.1], f32),
    )
    return chain([4], node, out_shape=[4]), normal(rng, (N, T, 4))


@fixture("cubalif")
def _(rng):
    alpha = arr([0.3, 0.5, 0.6, 0.8, 0.5], f64)
    beta = arr([0.7, 0.9, 0.8, 0.95, 0.85], f64)
    tau_mem = tau_of(beta).astype(f32)
    node = nir.CubaLIF(
        tau_syn=tau_of(alpha).astype(f32),
        tau_mem=tau_mem,
        r=(tau_mem.astype(f64) / DT).astype(f32),
        v_leak=np.zeros(5, f32),
        v_threshold=arr([1.0, 1.0, 1.5, 2.0, 1.0], f32),
        w_in=uniform(rng, (5,), 0.5, 1.5, f64),
    )
    return chain([5], node, out_shape=[5]), uniform(rng, (N, T, 5), -0.2, 0.8)


@fixture("threshold")
def _(rng):
    node = nir.Threshold(threshold=uniform(rng, (2, 3), -0.5, 0.5, f32))
    return chain([2, 3], node, out_shape=[2, 3]), normal(rng, (N, T, 2, 3))


# ------------------------------------------------------------------ combined graphs


@fixture("affine_lif_affine_lif", spiking_input=True)
def _(rng):
    g = chain(
        [8],
        nir.Affine(weight=normal(rng, (6, 8), 0.6, 0.3, f64), bias=normal(rng, (6,), 0.1, dtype=f32)),
        snntorch_lif([0.9] * 6, [1.0] * 6, f32),
        nir.Affine(weight=normal(rng, (4, 6), 0.8, 0.4, f32), bias=normal(rng, (4,), 0.1, dtype=f64)),
        snntorch_lif([0.8] * 4, [1.0] * 4, f64),
        out_shape=[4],
    )
    return g, spikes(rng, (8,), 0.4)


@fixture("conv_if_pool_flatten_affine_lif", spiking_input=True, compression="gzip")
def _(rng):
    g = chain(
        [2, 6, 6],
        nir.Conv2d(
            input_shape=(6, 6), weight=normal(rng, (4, 2, 3, 3), 0.5, 0.25, f32), stride=1, padding=1,
            dilation=1, groups=1, bias=normal(rng, (4,), 0.1, dtype=f64),
        ),
        nir.IF(r=np.ones((4, 6, 6), f32), v_threshold=np.ones((4, 6, 6), f32)),
        nir.SumPool2d(kernel_size=arr([2, 2], np.int64), stride=arr([2, 2], np.int64), padding=arr([0, 0], np.int64)),
        nir.Flatten(input_type={"input": arr([4, 3, 3], np.int64)}, start_dim=0, end_dim=-1),
        nir.Affine(weight=normal(rng, (5, 36), 0.25, -0.02, f64), bias=normal(rng, (5,), 0.1, dtype=f64)),
        snntorch_lif([0.9] * 5, [1.0] * 5, f32),
        out_shape=[5],
    )
    return g, spikes(rng, (2, 6, 6), 0.3)


@fixture("nested_graph")
def _(rng):
    sub = nir.NIRGraph(
        nodes={
            "input": nir.Input(arr([6], np.int64)),
            "lif": snntorch_lif([0.85] * 6, [1.0] * 6, f32),
            "linear": nir.Linear(weight=normal(rng, (3, 6), 0.8, 0.3, f32)),
            "output": nir.Output(arr([3], np.int64)),
        },
        edges=[("input", "lif"), ("lif", "linear"), ("linear", "output")],
    )
    li_beta = arr([0.9, 0.8, 0.7], f64)
    g = nir.NIRGraph(
        nodes={
            "input": nir.Input(arr([4], np.int64)),
            "affine": nir.Affine(weight=normal(rng, (6, 4), 0.8, 0.4, f32), bias=normal(rng, (6,), 0.1, dtype=f32)),
            "sub": sub,
            "li": nir.LI(tau=tau_of(li_beta), r=tau_of(li_beta) / DT, v_leak=np.zeros(3, f64)),
            "output": nir.Output(arr([3], np.int64)),
        },
        edges=[("input", "affine"), ("affine", "sub"), ("sub", "li"), ("li", "output")],
    )
    return g, uniform(rng, (N, T, 4), 0.0, 1.0)


@fixture("sinabs_cnn", spiking_input=True, differ=True)
def _(rng):
    # The NIR paper's Sinabs N-MNIST CNN, scaled down: IF as Sinabs exports its IAF (r = 1,
    # v_threshold = 1, v_reset = 0, node-shaped arrays). With ~2200 IF neurons x N x T decisions,
    # continuous weights almost never keep every membrane 1e-3 away from the threshold, so the
    # weights are dyadic (multiples of q = 2^-5) and the biases sit at odd eighths of q (see
    # dyadic_bias): every membrane is then exact in float32 and >= q/8 = 2^-8 from threshold.
    q = 2.0**-5

    def if_(*shape):
        return nir.IF(r=np.ones(shape, f32), v_threshold=np.ones(shape, f32), v_reset=np.zeros(shape, f32))

    def conv(hw, c_out, c_in, k, stride, sd):
        return nir.Conv2d(
            input_shape=hw, weight=dyadic(rng, (c_out, c_in, k, k), sd, q), stride=stride, padding=1,
            dilation=1, groups=1, bias=dyadic_bias(rng, c_out, q),
        )

    def pool():
        return nir.SumPool2d(kernel_size=arr([2, 2], np.int64), stride=arr([2, 2], np.int64),
                             padding=arr([0, 0], np.int64))

    g = named_chain([2, 18, 18], [
        ("conv1", conv((18, 18), 16, 2, 5, 2, 0.4)),  # (18 + 2 - 5)//2 + 1 = 8
        ("if1", if_(16, 8, 8)),
        ("conv2", conv((8, 8), 16, 16, 3, 1, 0.25)),
        ("if2", if_(16, 8, 8)),
        ("pool1", pool()),
        ("conv3", conv((4, 4), 8, 16, 3, 1, 0.2)),
        ("if3", if_(8, 4, 4)),
        ("pool2", pool()),
        ("flat", nir.Flatten(input_type={"input": arr([8, 2, 2], np.int64)}, start_dim=0, end_dim=-1)),
        ("fc1", nir.Affine(weight=dyadic(rng, (16, 32), 0.3, q), bias=dyadic_bias(rng, 16, q))),
        ("if4", if_(16)),
        ("fc2", nir.Affine(weight=dyadic(rng, (10, 16), 0.5, q), bias=dyadic_bias(rng, 10, q))),
        ("if5", if_(10)),
    ], out_shape=[10])
    return g, spikes(rng, (2, 18, 18), 0.25)


# ------------------------------------------------------------------ generation / checks


def evaluate(path, x):
    """Read `path` with nir and run the numpy reference; returns ({variant: y}, margins)."""
    try:
        g = nir.read(str(path))
    except ValueError:
        # nir 1.0.8's Conv input_type is [weight.shape[1], ...] (ignores groups) and its
        # Conv2d shape inference uses weight.shape[2] for both kernel dims, so grouped or
        # non-square-kernel convolutions fail nir's own type check on read (see README)
        g = nir.read(str(path), type_check=False)
        assert any(
            int(getattr(n, "groups", 1)) > 1 or (k == "Conv2d" and n.weight.shape[2] != n.weight.shape[3])
            for n in g.nodes.values()
            for k in [type(n).__name__]
        ), path.name
    out, margins = {}, ref.Margins()
    for variant in ref.VARIANTS:
        out[variant] = ref.run_graph(g, x, variant, margins)
    (oname,) = [k for k, n in g.nodes.items() if type(n).__name__ == "Output"]
    oshape = tuple(int(i) for i in np.asarray(g.nodes[oname].output_type["output"]))
    for y in out.values():
        assert y.dtype == f32 and y.shape == (N, T) + oshape, (path.name, y.shape, oshape)
    return g, out, margins


def check_neurons(graph, name):
    """Fixture rules for LIF / IF / CubaLIF: thresholds > 0 (the importer refuses a reset to 0
    at a threshold <= 0) and v_reset = 0 or absent (it refuses a nonzero v_reset for now)."""
    for node in graph.nodes.values():
        k = type(node).__name__
        if k == "NIRGraph":
            check_neurons(node, name)
        elif k in ref.SPIKING:
            assert np.all(ref.p64(node.v_threshold) > 0), f"{name}: {k} threshold <= 0"
            vr = getattr(node, "v_reset", None)
            assert vr is None or not np.any(ref.p64(vr)), f"{name}: {k} v_reset != 0"


def generate(index, fx):
    name = fx["name"]
    path = HERE / f"{name}.nir"
    for attempt in range(500):
        rng = np.random.default_rng([SEED, index, attempt])
        graph, x = fx["build"](rng)
        assert x.dtype == f32 and x.shape[:2] == (N, T)
        assert not fx["spiking_input"] or set(np.unique(x)) <= {0.0, 1.0}, name
        if fx["compression"] == "gzip":
            nir.write(str(path), graph)  # nir's default: gzip level 4 on every array dataset
        else:
            nir.write(str(path), graph, compression=None)  # contiguous datasets
        g, out, m = evaluate(path, x)
        check_neurons(g, name)
        why = []
        if m.min < MARGIN:
            why.append(f"margin {m.min:.2e}")
        if any(not 0.05 <= r <= 0.95 for r in m.rates):
            why.append(f"rates {m.rates}")
        same = np.array_equal(out["v_reset"], out["subtract"])
        if fx["differ"] and same:
            why.append("reset variants agree")
        if not why:
            break
    else:
        raise RuntimeError(f"{name}: no acceptable draw ({why})")
    np.save(HERE / f"{name}.input.npy", x)
    np.save(HERE / f"{name}.expected.npy", out["v_reset"])
    if ref.has_spiking(g):
        np.save(HERE / f"{name}.expected_subtract.npy", out["subtract"])
    print(f"{name:34s} attempt {attempt:3d}  margin {m.min:.3f}  rates {[round(r, 2) for r in m.rates]}"
          f"  variants {'agree' if same else 'DIFFER'}")


def _items(f):
    out = []
    f.visititems(lambda n, o: out.append((n, o)))
    return out


def storage(path):
    with h5py.File(path, "r") as f:
        ds = [o for _, o in _items(f) if isinstance(o, h5py.Dataset)]
        return "gzip" if any(o.compression for o in ds) else "contiguous"


def verify(path):
    """Check one committed fixture: HDF5 layout basics, nir.read, expected outputs reproduce exactly."""
    name = path.name[: -len(".nir")]
    with h5py.File(path, "r") as f:
        assert "version" in f and "node" in f, name
        assert f["node/type"][()] == b"NIRGraph", name
        version = f["version"][()].decode()
        objs = [f] + [o for _, o in _items(f)]
        assert not any(len(o.attrs) for o in objs), f"{name}: HDF5 attributes present"
    x = np.load(HERE / f"{name}.input.npy")
    exp = np.load(HERE / f"{name}.expected.npy")
    assert x.dtype == f32 and exp.dtype == f32 and x.shape[:2] == exp.shape[:2] == (N, T), name
    g, out, m = evaluate(path, x)
    check_neurons(g, name)
    assert np.array_equal(out["v_reset"], exp), f"{name}: expected.npy does not reproduce"
    sub = HERE / f"{name}.expected_subtract.npy"
    assert sub.exists() == ref.has_spiking(g), name
    if sub.exists():
        assert np.array_equal(out["subtract"], np.load(sub)), f"{name}: expected_subtract.npy does not reproduce"
    assert not (HERE / f"{name}.expected_snntorch.npy").exists(), f"{name}: stale expected_snntorch.npy"
    assert m.min >= MARGIN, (name, m.min)
    return name, version, g, x, exp


# ------------------------------------------------------------------ README sections


def _dt(a):
    a = np.asarray(a)
    return {np.dtype(f32): "f32", np.dtype(f64): "f64"}.get(a.dtype, str(a.dtype))


PARAMS = {
    "Affine": ["weight", "bias"], "Linear": ["weight"], "Scale": ["scale"], "Conv1d": ["weight", "bias"],
    "Conv2d": ["weight", "bias"], "LIF": ["tau", "r", "v_leak", "v_threshold"], "IF": ["r", "v_threshold"],
    "LI": ["tau", "r", "v_leak"], "CubaLIF": ["tau_syn", "tau_mem", "r", "v_leak", "v_threshold", "w_in"],
    "Threshold": ["threshold"],
}


def describe(g):
    order, _ = ref.topo_order(g)
    parts = []
    for n in order:
        node = g.nodes[n]
        k = type(node).__name__
        if k in ("Input", "Output"):
            continue
        if k == "NIRGraph":
            parts.append("NIRGraph{" + describe(node) + "}")
            continue
        ps = [getattr(node, p) for p in PARAMS.get(k, [])]
        dts = sorted({_dt(p) for p in ps})
        extra = ""
        if k in ("Conv1d", "Conv2d"):
            pad = node.padding if isinstance(node.padding, str) else np.asarray(node.padding).tolist()
            extra = (f" s={np.asarray(node.stride).tolist()} p={pad!r} d={np.asarray(node.dilation).tolist()}"
                     f" g={int(node.groups)}")
        if k in ("SumPool2d", "AvgPool2d"):
            extra = (f" k={np.asarray(node.kernel_size).tolist()} s={np.asarray(node.stride).tolist()}"
                     f" p={np.asarray(node.padding).tolist()}")
        if k == "Flatten":
            extra = f" {int(node.start_dim)}..{int(node.end_dim)}"
        parts.append(f"{k}{extra}" + (f" ({'+'.join(dts)})" if dts else ""))
    return " → ".join(parts)


def fixture_table(rows):
    lines = [
        "| fixture | nir | storage | nodes (param dtypes) | input | output | spiking input | subtract vs v_reset |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, version, g, x, exp in rows:
        spk = "yes" if set(np.unique(x)) <= {0.0, 1.0} else "no"
        sub = HERE / f"{name}.expected_subtract.npy"
        if sub.exists():
            s = "differs" if not np.array_equal(np.load(sub), exp) else "same"
        else:
            s = "—"
        lines.append(
            f"| `{name}` | {version} | {storage(HERE / f'{name}.nir')} | {describe(g)} | {list(x.shape)} | {list(exp.shape)} | {spk} | {s} |"
        )
    return "\n".join(lines)


def h5_tree(path):
    """Group/dataset tree with dtypes and storage details (h5py low-level API)."""
    out = []
    with h5py.File(path, "r") as f:
        sb = f.id.get_create_plist().get_version()
        out.append(f"{path.name}: HDF5 superblock v{sb[0]}, free-space v{sb[1]}, symbol-table v{sb[2]}, "
                   f"shared-header v{sb[3]} (h5py default libver 'earliest')")

        def line(name, obj):
            depth = name.count("/")
            label = "  " * depth + name.split("/")[-1]
            if isinstance(obj, h5py.Group):
                out.append(f"{label}/")
                return
            dt = obj.dtype
            sinfo = h5py.check_string_dtype(dt)
            if sinfo is not None:
                tdesc = f"string (vlen, {sinfo.encoding})" if sinfo.length is None else f"string[{sinfo.length}]"
            else:
                tdesc = f"{dt.name} ({dt.str})"
            shape = "scalar" if obj.shape == () else str(obj.shape)
            plist = obj.id.get_create_plist()
            layout = {0: "compact", 1: "contiguous", 2: "chunked"}[plist.get_layout()]
            if layout == "chunked":
                layout += f" {obj.chunks}"
            filt = [plist.get_filter(i) for i in range(plist.get_nfilters())]
            if filt:
                layout += " " + ",".join(f"{fl[3].decode()}({','.join(map(str, fl[2]))})" for fl in filt)
            val = obj[()]
            if sinfo is not None and obj.shape == ():
                sval = repr(val.decode())
            elif sinfo is not None:
                sval = str([[v.decode() for v in row] for row in val])
            else:
                a = np.asarray(val).ravel()
                sval = np.array2string(a[:6], precision=6, max_line_width=200)
                if a.size > 6:
                    sval = sval[:-1] + f" ... ({a.size} values)]"
            out.append(f"{label:22s} {shape:8s} {tdesc:22s} {layout:28s} = {sval}")

        line("version", f["version"])
        out.append("node/")
        f["node"].visititems(lambda n, o: line("node/" + n, o))
    return "\n".join(out)


def dataset_summary(paths):
    """Per node type: every dataset seen in the fixtures with its dtype / rank / layout."""
    seen = {}
    for path in paths:
        with h5py.File(path, "r") as f:
            for name, obj in _items(f):
                if not isinstance(obj, h5py.Dataset) or name == "version":
                    continue
                grp = obj.parent
                typ = grp["type"][()].decode() if "type" in grp else "?"
                key = name.split("/")[-1]
                sinfo = h5py.check_string_dtype(obj.dtype)
                dt = "vlen utf-8 string" if sinfo is not None else obj.dtype.name
                rank = "scalar" if obj.shape == () else f"{len(obj.shape)}-D"
                lay = {0: "compact", 1: "contiguous", 2: "chunked+deflate" if obj.compression else "chunked"}[
                    obj.id.get_create_plist().get_layout()
                ]
                seen.setdefault((typ, key), set()).add((dt, rank, lay))
    lines = ["| node `type` | dataset | dtype · rank · layout (all variants seen) |", "|---|---|---|"]
    for (typ, key), v in sorted(seen.items()):
        lines.append(f"| {typ} | `{key}` | " + "; ".join(" · ".join(x) for x in sorted(v)) + " |")
    return "\n".join(lines)


def update_readme(sections):
    readme = HERE / "README.md"
    if not readme.exists():
        return
    text = readme.read_text()
    for key, body in sections.items():
        pat = re.compile(rf"(<!-- {key}:begin -->\n).*?(<!-- {key}:end -->)", re.S)
        assert pat.search(text), f"README.md lacks the {key} markers"
        text = pat.sub(lambda m: m.group(1) + body + "\n" + m.group(2), text)
    readme.write_text(text)


def main(argv):
    ref.selftest()
    if "--check" not in argv:
        print(f"nir {nir.__version__}, numpy {np.__version__}, h5py {h5py.__version__}")
        for i, fx in enumerate(FIXTURES):
            generate(i, fx)
    rows = []
    for path in sorted(HERE.glob("*.nir")):
        rows.append(verify(path))
    print(f"verified {len(rows)} fixtures: " + ", ".join(r[0] for r in rows))
    if "--check" in argv:
        return
    versions = (
        f"Generated with Python {sys.version.split()[0]}, nir {nir.__version__}, numpy {np.__version__}, "
        f"h5py {h5py.__version__} (HDF5 {h5py.version.hdf5_version})."
    )
    trees = "```text\n" + h5_tree(HERE / "lif.nir") + "\n```"
    if (HERE / "lif_legacy.nir").exists():
        trees += "\n\nThe legacy file (nir 1.0.0: no `v_reset`, no compression):\n\n```text\n"
        trees += h5_tree(HERE / "lif_legacy.nir") + "\n```"
    update_readme({
        "versions": versions,
        "fixtures": fixture_table(rows),
        "layout": trees,
        "datasets": dataset_summary(sorted(HERE.glob("*.nir"))),
    })
    total = sum(p.stat().st_size for p in HERE.iterdir() if p.is_file())
    print(f"directory size {total} bytes")


if __name__ == "__main__":
    main(sys.argv[1:])
