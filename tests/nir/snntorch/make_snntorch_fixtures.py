"""NIR fixtures made by snnTorch itself (issue 12, item 2).

For each reset mode ("zero", "subtract") this builds a small snnTorch MLP

    Linear(16, 24) -> Leaky -> Linear(24, 8) -> Leaky(output=True)

(beta = 0.9, threshold = 1.0, reset_delay=False, init_hidden=True), exports it with snnTorch's own
`snntorch.export_nir.export_to_nir`, writes it with `nir.write`, and runs the snnTorch net itself
over a spike input to get the expected output spikes:

    mlp_<mode>.nir            the graph, as snnTorch's exporter made it (see README.md)
    mlp_<mode>.input.npy      float32 [N=16, T=10, 16], 0/1 spikes
    mlp_<mode>.expected.npy   float32 [N=16, T=10, 8],  snnTorch's output spikes

A draw (weights + input, shared by both modes) is accepted only if an independent float64 numpy
recomputation with snnTorch's Leaky(reset_delay=False) equations reproduces snnTorch's spikes
exactly in both modes, every spike decision is >= 1e-3 away from the threshold, and each Leaky
layer fires on 5-95 % of its outputs; otherwise the next sub-seed is tried.

Run from this directory:

    /tmp/snnenv/bin/python make_snntorch_fixtures.py          # (re)generate, then verify
    /tmp/snnenv/bin/python make_snntorch_fixtures.py --check  # regenerate in a temp dir, compare bytes
"""
import filecmp
import hashlib
import os
import sys
import tempfile
import warnings

import numpy as np
import torch

import h5py
import nir
import nirtorch
import snntorch as snn
import snntorch.utils
from snntorch.export_nir import export_to_nir

HERE = os.path.dirname(os.path.abspath(__file__))
SEED = 20240612
MODES = ("zero", "subtract")
N, T, N_IN, N_HID, N_OUT = 16, 10, 16, 24, 8
DENSITY = 0.3
BETA, THRESHOLD = 0.9, 1.0
DT = 1e-4  # snnTorch's export convention (export_nir.py: dt = 1e-4)
MARGIN = 1e-3
RATE_LO, RATE_HI = 0.05, 0.95
MAX_SUBSEEDS = 1000


def versions():
    return {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "snntorch": snn.__version__,
        "nir": nir.__version__,
        "nirtorch": nirtorch.__version__,
        "numpy": np.__version__,
        "h5py": h5py.__version__,
        "hdf5": h5py.version.hdf5_version,
    }


# ----------------------------------------------------------------------------------------------
# the draw

def draw(sub):
    """Weights, biases and input of sub-seed `sub` (float32)."""
    rng = np.random.default_rng([SEED, sub])
    w1 = rng.normal(0.05, 0.45, (N_HID, N_IN)).astype(np.float32)
    b1 = rng.normal(0.0, 0.1, N_HID).astype(np.float32)
    w2 = rng.normal(0.1, 0.5, (N_OUT, N_HID)).astype(np.float32)
    b2 = rng.normal(0.0, 0.1, N_OUT).astype(np.float32)
    x = (rng.random((N, T, N_IN)) < DENSITY).astype(np.float32)
    return w1, b1, w2, b2, x


def build_net(mode, w1, b1, w2, b2):
    # snnTorch 1.0.0's exporter writes beta / threshold with their own shape; with the scalar
    # beta=0.9, threshold=1.0 the LIF nodes get shape [] and `export_to_nir` fails in its own
    # `infer_types()` ("type mismatch: 0.output: [[24]] -> 1.input: []"). Per-neuron tensors
    # filled with the same values are the same neurons and export with the layer shape.
    def leaky(n, **kw):
        return snn.Leaky(
            beta=torch.full((n,), BETA, dtype=torch.float32),
            threshold=torch.full((n,), THRESHOLD, dtype=torch.float32),
            reset_mechanism=mode,
            reset_delay=False,
            init_hidden=True,
            **kw,
        )

    net = torch.nn.Sequential(
        torch.nn.Linear(N_IN, N_HID),
        leaky(N_HID),
        torch.nn.Linear(N_HID, N_OUT),
        leaky(N_OUT, output=True),
    )
    with torch.no_grad():
        net[0].weight.copy_(torch.from_numpy(w1))
        net[0].bias.copy_(torch.from_numpy(b1))
        net[2].weight.copy_(torch.from_numpy(w2))
        net[2].bias.copy_(torch.from_numpy(b2))
    return net


def run_snntorch(net, x):
    """snnTorch's own step-by-step run: spikes [N,T,8], membranes of both Leaky layers."""
    snntorch.utils.reset(net)
    xs = torch.from_numpy(x)
    spk_out, mem1, mem2, spk1 = [], [], [], []
    with torch.no_grad():
        for t in range(T):
            spk, mem = net(xs[:, t])
            spk_out.append(spk.clone())
            mem2.append(mem.clone())
            mem1.append(net[1].mem.clone())
    snntorch.utils.reset(net)
    st = lambda l: torch.stack(l, dim=1).numpy()
    return st(spk_out).astype(np.float32), st(mem1), st(mem2)


# ----------------------------------------------------------------------------------------------
# independent float64 recomputation

def leaky_ref(mode, cur, beta, thr):
    """snnTorch Leaky(reset_delay=False), float64. cur [N,T,n]. Returns spikes, stored membranes,
    pre-reset membranes m, and the reset flags r (all [N,T,n])."""
    v = np.zeros(cur.shape[0:1] + cur.shape[2:])
    S, V, M, R = (np.zeros(cur.shape) for _ in range(4))
    for t in range(cur.shape[1]):
        r = (v > thr).astype(np.float64)
        if mode == "subtract":
            m = beta * v + cur[:, t] - r * thr
            s = (m > thr).astype(np.float64)
            v = m - (s - r) * thr
        elif mode == "zero":
            m = beta * (v * (1.0 - r)) + cur[:, t]
            s = (m > thr).astype(np.float64)
            v = m - (s - r) * m
        else:
            raise ValueError(mode)
        S[:, t], V[:, t], M[:, t], R[:, t] = s, v, m, r
    return S, V, M, R


def mlp_ref(mode, x, w1, b1, w2, b2, beta1, thr1, beta2, thr2, g1=1.0, g2=1.0):
    x = x.astype(np.float64)
    i1 = g1 * (x @ w1.astype(np.float64).T + b1.astype(np.float64))
    l1 = leaky_ref(mode, i1, beta1, thr1)
    i2 = g2 * (l1[0] @ w2.astype(np.float64).T + b2.astype(np.float64))
    l2 = leaky_ref(mode, i2, beta2, thr2)
    return l1, l2


def margin_of(layer, thr):
    """Smallest distance to the threshold of every spike decision: m (spike) and the stored v
    (the next step's reset flag)."""
    _, V, M, _ = layer
    return float(min(np.abs(M - thr).min(), np.abs(V - thr).min()))


def evaluate(sub):
    """Everything about sub-seed `sub` for both modes; `ok` says whether it is accepted."""
    w1, b1, w2, b2, x = draw(sub)
    res = {"sub": sub, "draw": (w1, b1, w2, b2, x), "modes": {}, "ok": True, "why": []}
    for mode in MODES:
        net = build_net(mode, w1, b1, w2, b2)
        spk, mem1_t, mem2_t = run_snntorch(net, x)
        beta1 = net[1].beta.detach().numpy().astype(np.float64)  # float32(0.9) per neuron
        beta2 = net[3].beta.detach().numpy().astype(np.float64)
        thr1 = net[1].threshold.detach().numpy().astype(np.float64)
        thr2 = net[3].threshold.detach().numpy().astype(np.float64)
        l1, l2 = mlp_ref(mode, x, w1, b1, w2, b2, beta1, thr1, beta2, thr2)
        m = {
            "net": net,
            "spikes": spk,
            "ref": (l1, l2),
            "exact": bool(np.array_equal(l2[0], spk)),
            "margin1": margin_of(l1, thr1),
            "margin2": margin_of(l2, thr2),
            "rate1": float(l1[0].mean()),
            "rate2": float(l2[0].mean()),
            "mem_diff": float(max(np.abs(mem1_t - l1[1]).max(), np.abs(mem2_t - l2[1]).max())),
            "rerun": int(l1[3].sum() + l2[3].sum()),  # steps that start with v > thr
        }
        res["modes"][mode] = m
        if not m["exact"]:
            res["why"].append(f"{mode}: float64 recomputation != snnTorch spikes")
        if min(m["margin1"], m["margin2"]) < MARGIN:
            res["why"].append(f"{mode}: margin {min(m['margin1'], m['margin2']):.2e}")
        for k in ("rate1", "rate2"):
            if not RATE_LO <= m[k] <= RATE_HI:
                res["why"].append(f"{mode}: {k} {m[k]:.3f}")
    z, s = res["modes"]["zero"], res["modes"]["subtract"]
    if np.array_equal(z["spikes"], s["spikes"]):
        res["why"].append("zero and subtract give the same output spikes")
    if s["rerun"] == 0:
        res["why"].append("subtract: no step starts above threshold (m > 2*thr never happens)")
    res["ok"] = not res["why"]
    return res


# ----------------------------------------------------------------------------------------------
# export + files

def export(net):
    """snnTorch's exporter, with the only change we make: the edge list sorted in graph order.
    nirtorch's `extract_nir_graph` builds it as `list(set(edges))`, so its order follows Python's
    per-process string hashing and the written file would differ from run to run."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # nirtorch: extract_nir_graph
        g = export_to_nir(net, torch.zeros(1, N_IN), ignore_dims=[0])
    snntorch.utils.reset(net)  # the export ran a forward pass on the sample data
    order = {k: i for i, k in enumerate(g.nodes)}
    g.edges = sorted(g.edges, key=lambda e: (order[e[0]], order[e[1]]))
    return g


def save_npy(path, a):
    a = np.ascontiguousarray(a, dtype="<f4")
    with open(path, "wb") as f:
        np.lib.format.write_array(f, a, version=(1, 0), allow_pickle=False)


LIF_FIELDS = ("tau", "r", "v_leak", "v_threshold", "v_reset")


def describe_lif(g):
    out = {}
    for name, node in g.nodes.items():
        if isinstance(node, nir.LIF):
            out[name] = {}
            for f in LIF_FIELDS:
                a = getattr(node, f, None)
                out[name][f] = None if a is None else np.asarray(a)
    return out


def check_file(path, mode, net, w1, b1, w2, b2, x, expected):
    """Read the .nir back and check it against the net; recompute the spikes from the file's
    own parameters (NIR's beta = 1 - dt/tau, gain = r*dt/tau)."""
    g = nir.read(path)
    names = ["input", "0", "1", "2", "3", "output"]  # nir.read returns them sorted by name
    assert sorted(g.nodes) == sorted(names), list(g.nodes)
    assert [type(g.nodes[k]).__name__ for k in names] == [
        "Input", "Affine", "LIF", "Affine", "LIF", "Output"]
    assert [tuple(e) for e in g.edges] == [
        ("input", "0"), ("0", "1"), ("1", "2"), ("2", "3"), ("3", "output")], g.edges
    assert np.array_equal(g.nodes["0"].weight, w1) and np.array_equal(g.nodes["0"].bias, b1)
    assert np.array_equal(g.nodes["2"].weight, w2) and np.array_equal(g.nodes["2"].bias, b2)
    assert list(g.nodes["input"].input_type["input"]) == [N_IN]
    assert list(g.nodes["output"].output_type["output"]) == [N_OUT]
    params = []
    for k, n in (("1", N_HID), ("3", N_OUT)):
        lif = g.nodes[k]
        for f in LIF_FIELDS:
            a = np.asarray(getattr(lif, f))
            assert a.shape == (n,) and a.dtype == np.float32, (k, f, a.shape, a.dtype)
        assert np.all(lif.v_leak == 0) and np.all(lif.v_reset == 0)
        assert np.all(lif.v_threshold == np.float32(THRESHOLD))
        tau = lif.tau.astype(np.float64)
        beta = 1.0 - DT / tau
        gain = lif.r.astype(np.float64) * DT / tau
        assert np.all(np.abs(beta - BETA) < 1e-6) and np.all(np.abs(gain - 1.0) < 1e-6)
        params.append((beta, gain, lif.v_threshold.astype(np.float64)))
    (be1, g1, th1), (be2, g2, th2) = params
    l1, l2 = mlp_ref(mode, x, w1, b1, w2, b2, be1, th1, be2, th2, g1, g2)
    assert np.array_equal(l2[0], expected), "NIR-parameter recomputation differs"
    return min(margin_of(l1, th1), margin_of(l2, th2))


def generate(outdir, quiet=False):
    log = (lambda *a: None) if quiet else print
    torch.set_num_threads(1)
    tried = []
    for sub in range(MAX_SUBSEEDS):
        res = evaluate(sub)
        if res["ok"]:
            break
        tried.append((sub, res["why"]))
    else:
        raise SystemExit("no acceptable draw")
    for s, why in tried:
        log(f"sub-seed {s} rejected: {'; '.join(why)}")
    log(f"sub-seed {res['sub']} accepted")
    w1, b1, w2, b2, x = res["draw"]
    summary = {"sub": res["sub"], "rejected": len(tried), "modes": {}}
    for mode in MODES:
        m = res["modes"][mode]
        stem = os.path.join(outdir, f"mlp_{mode}")
        g = export(m["net"])
        nir.write(stem + ".nir", g)
        save_npy(stem + ".input.npy", x)
        save_npy(stem + ".expected.npy", m["spikes"])
        file_margin = check_file(stem + ".nir", mode, m["net"], w1, b1, w2, b2, x, m["spikes"])
        lif = describe_lif(nir.read(stem + ".nir"))
        summary["modes"][mode] = {k: v for k, v in m.items() if k not in ("net", "ref", "spikes")}
        summary["modes"][mode]["file_margin"] = file_margin
        summary["modes"][mode]["lif"] = lif
        summary["modes"][mode]["out_rate"] = float(m["spikes"].mean())
        log(f"mlp_{mode}: exact={m['exact']} margin1={m['margin1']:.4g} margin2={m['margin2']:.4g} "
            f"(from file params {file_margin:.4g}) rate1={m['rate1']:.3f} rate2={m['rate2']:.3f} "
            f"max|mem_snntorch - mem_f64|={m['mem_diff']:.2e} steps starting above thr={m['rerun']}")
        for name, fields in lif.items():
            log(f"  LIF {name}: " + ", ".join(
                f"{f}={'absent' if a is None else fmt_arr(a)}" for f, a in fields.items()))
    z, s = res["modes"]["zero"]["spikes"], res["modes"]["subtract"]["spikes"]
    summary["differ"] = int((z != s).sum())
    log(f"zero vs subtract: {summary['differ']} of {z.size} output spikes differ")
    rd = lambda f: open(os.path.join(outdir, f), "rb").read()
    summary["same_nir"] = rd("mlp_zero.nir") == rd("mlp_subtract.nir")
    summary["same_input"] = rd("mlp_zero.input.npy") == rd("mlp_subtract.input.npy")
    log(f"mlp_zero.nir == mlp_subtract.nir: {summary['same_nir']}; "
        f"inputs identical: {summary['same_input']}")
    lif1 = summary["modes"]["zero"]["lif"]["1"]
    tau = float(lif1["tau"][0])
    summary["beta_file"] = 1.0 - DT / tau
    summary["gain_file"] = float(lif1["r"][0]) * DT / tau
    summary["sha256"] = [(f, sha256(os.path.join(outdir, f))) for f in FILES]
    return summary


def fmt_arr(a):
    u = np.unique(a)
    d = a.dtype.str
    if u.size == 1:
        return f"{u[0]!r} x{a.size} ({d})"
    return f"{a!r} ({d})"


# ----------------------------------------------------------------------------------------------
# README generated section

def readme_section(summary):
    v = versions()
    L = []
    L.append(f"Generated with Python {v['python']}, torch {v['torch']}, snntorch {v['snntorch']}, "
             f"nir {v['nir']}, nirtorch {v['nirtorch']}, numpy {v['numpy']}, h5py {v['h5py']} "
             f"(HDF5 {v['hdf5']}); seed `{SEED}`, accepted sub-seed {summary['sub']} "
             f"({summary['rejected']} rejected).")
    L.append("")
    L.append("| fixture | f64 = snnTorch | min margin layer 1 / 2 | rate layer 1 / 2 | "
             "output spikes | steps starting above θ | max \\|v_snnTorch − v_f64\\| |")
    L.append("|---|---|---|---|---|---|---|")
    for mode in MODES:
        m = summary["modes"][mode]
        L.append(f"| `mlp_{mode}` | {'yes' if m['exact'] else 'NO'} | "
                 f"{m['margin1']:.3e} / {m['margin2']:.3e} | "
                 f"{100 * m['rate1']:.1f} % / {100 * m['rate2']:.1f} % | "
                 f"{int(round(m['out_rate'] * N * T * N_OUT))} of {N * T * N_OUT} | {m['rerun']} | "
                 f"{m['mem_diff']:.1e} |")
    L.append("")
    L.append("Margin = smallest `|m − θ|` or `|v − θ|` over every neuron, step and sample of the layer "
             "(float64 recomputation); rate = fraction of the layer's outputs that are spikes; "
             "\"steps starting above θ\" = neuron-steps of both layers with `r = 1`.")
    L.append("")
    L.append(f"`mlp_zero` and `mlp_subtract` share weights and input; their expected outputs differ "
             f"in {summary['differ']} of {N * T * N_OUT} spikes. "
             + ("`mlp_zero.nir` and `mlp_subtract.nir` are **byte-identical**: the exporter does "
                "not record the reset mechanism. " if summary["same_nir"] else "")
             + ("The two `.input.npy` are identical." if summary["same_input"] else ""))
    L.append("")
    L.append("LIF datasets as snnTorch's exporter wrote them (read back with `nir.read`; "
             "both files, both LIF nodes `1` [24] and `3` [8]):")
    L.append("")
    L.append("| dataset | dtype | value (every element) |")
    L.append("|---|---|---|")
    lif = summary["modes"]["zero"]["lif"]
    for f in LIF_FIELDS:
        vals = set()
        dts = set()
        for mode in MODES:
            for node in summary["modes"][mode]["lif"].values():
                a = node[f]
                dts.add(a.dtype.str)
                vals.update(np.unique(a).tolist())
        val = ", ".join(f"{np.float32(x)!r}".replace("np.float32(", "").rstrip(")") for x in sorted(vals))
        L.append(f"| `{f}` | `{'/'.join(sorted(dts))}` | {val} |")
    L.append("")
    L.append(f"From these, `β = 1 − dt/τ` = {summary['beta_file']!r} (float64; snnTorch runs "
             f"float32(0.9) = {float(np.float32(0.9))!r}) and the input gain `r·dt/τ` = "
             f"{summary['gain_file']!r}.")
    L.append("")
    L.append("sha256 of the generated files:")
    L.append("")
    L.append("```text")
    for f, h in summary["sha256"]:
        L.append(f"{h}  {f}")
    L.append("```")
    return "\n".join(L)


def update_readme(summary):
    path = os.path.join(HERE, "README.md")
    with open(path) as f:
        text = f.read()
    a, b = "<!-- generated:begin -->\n", "<!-- generated:end -->"
    i, j = text.index(a) + len(a), text.index(b)
    text = text[:i] + readme_section(summary) + "\n" + text[j:]
    with open(path, "w") as f:
        f.write(text)


FILES = [f"mlp_{m}{ext}" for m in MODES for ext in (".nir", ".input.npy", ".expected.npy")]


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def main():
    print(" ".join(f"{k} {v}" for k, v in versions().items()))
    if "--check" in sys.argv[1:]:
        with tempfile.TemporaryDirectory() as tmp:
            generate(tmp, quiet=True)
            bad = [f for f in FILES if not filecmp.cmp(os.path.join(tmp, f), os.path.join(HERE, f),
                                                        shallow=False)]
        if bad:
            raise SystemExit(f"regeneration differs: {bad}")
        print("check OK: regeneration is byte-identical")
        return
    summary = generate(HERE)
    update_readme(summary)
    for f in FILES + ["README.md"]:
        p = os.path.join(HERE, f)
        print(f"{sha256(p)}  {os.path.getsize(p):6d}  {f}")


if __name__ == "__main__":
    main()
