"""Independent numpy reference semantics for the NIR test fixtures.

Pure numpy (no SNN library, no `nir` import): nodes are dispatched on their class
name, so objects from any `nir` version (as returned by `nir.read`) work.

Conventions (see README.md for the formulas):
  * tensors are `[N, T, *shape]` float32, `shape` = the node's NIR shape
    (no batch / time axes); every op runs in float32;
  * stateless nodes are applied independently at every time step;
  * neuron state starts at 0 for every sample, one step per time index;
  * parameter-derived coefficients (beta, alpha, input scale, leak term) are
    computed in float64 from the stored values and rounded once to float32.

Two reset variants are implemented for the spiking neurons (LIF, IF, CubaLIF):
  "v_reset"  : NIR's definition (NIR docs/source/primitives.md: reset to v_reset on a spike):
               m = beta*v + I; s = m > thr; v = where(s, v_reset, m)
               (v_reset per neuron, float32; a node without v_reset, as in nir 1.0.0, has 0)
  "subtract" : the tools that subtract the threshold, snnTorch's Leaky(reset_delay=False)
               default (the project's snn.lif with reset = "subtract"); v_reset is not used:
               r = v > thr; m = beta*v + I - r*thr; s = m > thr; v = m - (s - r)*thr
"""

import numpy as np

F32 = np.float32
DT = 1e-4  # snnTorch's NIR export/import time step
VARIANTS = ("v_reset", "subtract")


class Margins:
    """Smallest |value - threshold| / max(1, |threshold|) seen at any spike decision."""

    def __init__(self):
        self.min = np.inf
        self.rates = []  # spike rate of every spiking node / Threshold evaluated

    def add(self, value, thr):
        thr = np.broadcast_to(np.asarray(thr, np.float64), value.shape)
        d = np.abs(value.astype(np.float64) - thr) / np.maximum(1.0, np.abs(thr))
        self.min = min(self.min, float(d.min()))


# ---------------------------------------------------------------- helpers


def p64(a):
    """A stored parameter as float64 (whatever its stored dtype)."""
    return np.asarray(a, dtype=np.float64)


def p32(a):
    """A stored parameter rounded to float32."""
    return np.asarray(a).astype(np.float32)


def _ints(v, n):
    """int / 0-d / 1-element / n-element value -> tuple of n Python ints."""
    a = np.asarray(v).reshape(-1).astype(np.int64)
    if a.size == 1:
        return (int(a[0]),) * n
    assert a.size == n, (v, n)
    return tuple(int(i) for i in a)


def _str(v):
    if isinstance(v, bytes):
        return v.decode("utf8")
    if isinstance(v, np.ndarray) and v.dtype.kind in "OSU" and v.ndim == 0:
        return _str(v[()])
    return v if isinstance(v, str) else None


# ---------------------------------------------------------------- stateless ops


def affine(x, weight, bias=None):
    y = np.matmul(x, p32(weight).T)
    if bias is not None:
        y = y + p32(bias)
    return y.astype(F32)


def scale(x, s):
    return (x * p32(s)).astype(F32)


def flatten(x, start_dim, end_dim):
    """NIR Flatten: dims count over the node's shape (batch/time excluded)."""
    nd = x.ndim - 2
    s = int(start_dim) % nd if int(start_dim) < 0 else int(start_dim)
    e = int(end_dim) + nd if int(end_dim) < 0 else int(end_dim)
    shp = x.shape[2:]
    new = shp[:s] + (int(np.prod(shp[s : e + 1])),) + shp[e + 1 :]
    return x.reshape(x.shape[:2] + new)


def conv_pads(padding, kernel, dilation, ndim):
    """Per spatial dim (before, after) zero padding, PyTorch semantics.

    int / tuple: symmetric; 'valid': 0; 'same' (stride 1): total = d*(k-1),
    before = total // 2, after = total - before (extra pad goes to the end).
    """
    ps = _str(padding)
    if ps == "valid":
        return [(0, 0)] * ndim
    if ps == "same":
        out = []
        for k, d in zip(kernel, dilation):
            tot = d * (k - 1)
            out.append((tot // 2, tot - tot // 2))
        return out
    assert ps is None, padding
    return [(p, p) for p in _ints(padding, ndim)]


def conv2d_raw(x, w, b, stride, pads, dilation, groups):
    """x [B, Cin, H, W] f32, w [Cout, Cin/groups, kh, kw]; cross-correlation."""
    x = x.astype(F32)
    w = p32(w)
    B, C, H, W = x.shape
    O, Cg, kh, kw = w.shape
    assert C == Cg * groups and O % groups == 0
    Og = O // groups
    (sh, sw), (dh, dw) = stride, dilation
    (pt, pb), (pl, pr) = pads
    Ho = (H + pt + pb - dh * (kh - 1) - 1) // sh + 1
    Wo = (W + pl + pr - dw * (kw - 1) - 1) // sw + 1
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    y = np.zeros((B, O, Ho, Wo), F32)
    for g in range(groups):
        xi = xp[:, g * Cg : (g + 1) * Cg]
        for i in range(kh):
            for j in range(kw):
                patch = xi[
                    :,
                    :,
                    i * dh : i * dh + sh * (Ho - 1) + 1 : sh,
                    j * dw : j * dw + sw * (Wo - 1) + 1 : sw,
                ]
                wij = w[g * Og : (g + 1) * Og, :, i, j]  # [Og, Cg]
                y[:, g * Og : (g + 1) * Og] += np.einsum("bchw,oc->bohw", patch, wij)
    if b is not None:
        y += p32(b)[None, :, None, None]
    return y.astype(F32)


def conv2d(x, weight, bias, stride, padding, dilation, groups):
    """x [N, T, C, H, W]."""
    w = np.asarray(weight)
    st, dl = _ints(stride, 2), _ints(dilation, 2)
    pads = conv_pads(padding, w.shape[2:], dl, 2)
    N, T = x.shape[:2]
    y = conv2d_raw(x.reshape((N * T,) + x.shape[2:]), w, bias, st, pads, dl, int(groups))
    return y.reshape((N, T) + y.shape[1:])


def conv1d(x, weight, bias, stride, padding, dilation, groups):
    """x [N, T, C, L]: a Conv2d with a kernel of height 1."""
    w = np.asarray(weight)
    (st,), (dl,) = _ints(stride, 1), _ints(dilation, 1)
    (pad,) = conv_pads(padding, w.shape[2:], (dl,), 1)
    N, T, C, L = x.shape
    y = conv2d_raw(
        x.reshape(N * T, C, 1, L), w[:, :, None, :], bias, (1, st), [(0, 0), pad], (1, dl), int(groups)
    )
    return y.reshape(N, T, y.shape[1], y.shape[3])


def sum_pool2d(x, kernel_size, stride, padding):
    """x [N, T, C, H, W]; zero padding on both sides; floor output size."""
    kh, kw = _ints(kernel_size, 2)
    sh, sw = _ints(stride, 2)
    ph, pw = _ints(padding, 2)
    N, T, C, H, W = x.shape
    xp = np.pad(x.astype(F32), ((0, 0), (0, 0), (0, 0), (ph, ph), (pw, pw)))
    Ho = (H + 2 * ph - kh) // sh + 1
    Wo = (W + 2 * pw - kw) // sw + 1
    y = np.zeros((N, T, C, Ho, Wo), F32)
    for i in range(kh):
        for j in range(kw):
            y += xp[..., i : i + sh * (Ho - 1) + 1 : sh, j : j + sw * (Wo - 1) + 1 : sw]
    return y


def avg_pool2d(x, kernel_size, stride, padding):
    """Sum pool divided by kh*kw (padding zeros are counted: PyTorch count_include_pad=True)."""
    kh, kw = _ints(kernel_size, 2)
    return (sum_pool2d(x, kernel_size, stride, padding) / F32(kh * kw)).astype(F32)


def threshold(x, thr, margins):
    t = p32(thr)
    margins.add(x, t)
    y = (x > t).astype(F32)
    margins.rates.append(float(y.mean()))
    return y


# ---------------------------------------------------------------- neurons


def _spiking(xs, beta, thr, v_reset, variant, margins):
    """xs: [N, T, *shape] float32 input current I (already scaled, leak added).

    v_reset: float32, broadcastable to the node shape (only the "v_reset" variant uses it).
    """
    v = np.zeros(xs.shape[:1] + xs.shape[2:], F32)
    vr = np.broadcast_to(np.asarray(v_reset, F32), v.shape[1:])
    out = np.zeros_like(xs, dtype=F32)
    for t in range(xs.shape[1]):
        I = xs[:, t]
        if variant == "v_reset":
            m = (beta * v + I).astype(F32)
            s = m > thr
            v = np.where(s, vr, m).astype(F32)
        elif variant == "subtract":
            r = (v > thr).astype(F32)
            m = (beta * v + I - r * thr).astype(F32)
            s = m > thr
            v = (m - (s.astype(F32) - r) * thr).astype(F32)
        else:
            raise ValueError(variant)
        margins.add(m, thr)
        out[:, t] = s
    margins.rates.append(float(out.mean()))
    return out


def lif_coeffs(tau, r, v_leak):
    """beta = 1 - dt/tau, input scale = r*dt/tau, leak term = (dt/tau)*v_leak."""
    k = DT / p64(tau)
    return (1.0 - k).astype(F32), (p64(r) * k).astype(F32), (k * p64(v_leak)).astype(F32)


def _v_reset(v_reset, v_threshold):
    """A node's v_reset as float32 (None, as in nir 1.0.0 files: 0 everywhere)."""
    return np.zeros_like(p32(v_threshold)) if v_reset is None else p32(v_reset)


def lif(x, tau, r, v_leak, v_threshold, variant, margins, v_reset=None):
    beta, sc, lk = lif_coeffs(tau, r, v_leak)
    I = (sc * x + lk).astype(F32)
    return _spiking(I, beta, p32(v_threshold), _v_reset(v_reset, v_threshold), variant, margins)


def if_(x, r, v_threshold, variant, margins, v_reset=None):
    """IF: beta = 1, I = r * x (no dt: r is a per-step input gain)."""
    I = (p32(r) * x).astype(F32)
    return _spiking(I, F32(1.0), p32(v_threshold), _v_reset(v_reset, v_threshold), variant, margins)


def li(x, tau, r, v_leak):
    """Leaky integrator, no spikes: v = beta*v + (scale*x + leak); output v."""
    beta, sc, lk = lif_coeffs(tau, r, v_leak)
    I = (sc * x + lk).astype(F32)
    v = np.zeros(x.shape[:1] + x.shape[2:], F32)
    out = np.zeros_like(x, dtype=F32)
    for t in range(x.shape[1]):
        v = (beta * v + I[:, t]).astype(F32)
        out[:, t] = v
    return out


def cuba_lif(x, tau_syn, tau_mem, r, v_leak, v_threshold, w_in, variant, margins, v_reset=None):
    """i = alpha*i + w_in*x (alpha = 1 - dt/tau_syn); then LIF (tau_mem, r, v_leak) driven by i."""
    alpha = (1.0 - DT / p64(tau_syn)).astype(F32)
    w = p32(w_in)
    i = np.zeros(x.shape[:1] + x.shape[2:], F32)
    syn = np.zeros_like(x, dtype=F32)
    for t in range(x.shape[1]):
        i = (alpha * i + w * x[:, t]).astype(F32)
        syn[:, t] = i
    return lif(syn, tau_mem, r, v_leak, v_threshold, variant, margins, v_reset)


# ---------------------------------------------------------------- graphs

SPIKING = {"LIF", "IF", "CubaLIF"}


def run_node(node, x, variant, margins):
    k = type(node).__name__
    g = lambda name, default=None: getattr(node, name, default)  # noqa: E731
    vr = g("v_reset")
    # nir_ref implements any v_reset, but the importer refuses a nonzero one for now (and the
    # "subtract" variant ignores it), so the fixtures keep v_reset = 0
    assert vr is None or not np.any(p64(vr)), "fixtures use v_reset = 0"
    if k in ("Input", "Output"):
        return x
    if k == "Affine":
        return affine(x, node.weight, node.bias)
    if k == "Linear":
        return affine(x, node.weight, None)
    if k == "Scale":
        return scale(x, node.scale)
    if k == "Flatten":
        return flatten(x, node.start_dim, node.end_dim)
    if k == "Conv1d":
        return conv1d(x, node.weight, node.bias, node.stride, node.padding, node.dilation, node.groups)
    if k == "Conv2d":
        return conv2d(x, node.weight, node.bias, node.stride, node.padding, node.dilation, node.groups)
    if k == "SumPool2d":
        return sum_pool2d(x, node.kernel_size, node.stride, node.padding)
    if k == "AvgPool2d":
        return avg_pool2d(x, node.kernel_size, node.stride, node.padding)
    if k == "Threshold":
        return threshold(x, node.threshold, margins)
    if k == "LIF":
        return lif(x, node.tau, node.r, node.v_leak, node.v_threshold, variant, margins, vr)
    if k == "IF":
        return if_(x, node.r, node.v_threshold, variant, margins, vr)
    if k == "LI":
        return li(x, node.tau, node.r, node.v_leak)
    if k == "CubaLIF":
        return cuba_lif(
            x, node.tau_syn, node.tau_mem, node.r, node.v_leak, node.v_threshold, g("w_in", 1.0), variant, margins,
            vr,
        )
    if k == "NIRGraph":
        return run_graph(node, x, variant, margins)
    raise NotImplementedError(k)


def topo_order(graph):
    names = list(graph.nodes)
    preds = {n: [] for n in names}
    for a, b in graph.edges:
        a, b = _str(a) or a, _str(b) or b
        preds[b].append(a)
    order, done = [], set()
    while len(order) < len(names):
        ready = [n for n in names if n not in done and all(p in done for p in preds[n])]
        assert ready, "cycle in graph"
        for n in ready:
            order.append(n)
            done.add(n)
    return order, preds


def run_graph(graph, x, variant="v_reset", margins=None):
    """Feed-forward graph, one Input and one Output; each node has one predecessor."""
    margins = margins if margins is not None else Margins()
    order, preds = topo_order(graph)
    vals = {}
    for n in order:
        node = graph.nodes[n]
        if type(node).__name__ == "Input":
            assert not preds[n]
            vals[n] = x
        else:
            assert len(preds[n]) == 1, f"node {n}: {len(preds[n])} inputs"
            vals[n] = run_node(node, vals[preds[n][0]], variant, margins)
    outs = [n for n in order if type(graph.nodes[n]).__name__ == "Output"]
    assert len(outs) == 1
    return vals[outs[0]]


def has_spiking(graph):
    for node in graph.nodes.values():
        k = type(node).__name__
        if k in SPIKING or (k == "NIRGraph" and has_spiking(node)):
            return True
    return False


# ---------------------------------------------------------------- self test


def _conv_naive(x, w, b, stride, pads, dil, groups):
    """Direct definition in float64, index arithmetic instead of np.pad."""
    B, C, H, W = x.shape
    O, Cg, kh, kw = w.shape
    Og = O // groups
    Ho = (H + sum(pads[0]) - dil[0] * (kh - 1) - 1) // stride[0] + 1
    Wo = (W + sum(pads[1]) - dil[1] * (kw - 1) - 1) // stride[1] + 1
    y = np.zeros((B, O, Ho, Wo))
    for bb in range(B):
        for o in range(O):
            gi = o // Og
            for oh in range(Ho):
                for ow in range(Wo):
                    acc = float(b[o]) if b is not None else 0.0
                    for c in range(Cg):
                        for i in range(kh):
                            for j in range(kw):
                                ih = oh * stride[0] + i * dil[0] - pads[0][0]
                                iw = ow * stride[1] + j * dil[1] - pads[1][0]
                                if 0 <= ih < H and 0 <= iw < W:
                                    acc += float(w[o, c, i, j]) * float(x[bb, gi * Cg + c, ih, iw])
                    y[bb, o, oh, ow] = acc
    return y


def selftest(seed=1234):
    rng = np.random.default_rng(seed)
    cases = [
        ((2, 2, 5, 5), (3, 2, 3, 3), (1, 1), 1, (1, 1), 1),
        ((2, 4, 7, 6), (6, 2, 3, 2), (2, 1), (1, 0), (1, 2), 2),
        ((1, 2, 5, 6), (4, 1, 2, 3), (1, 1), "same", (1, 2), 2),
        ((1, 3, 7, 7), (2, 3, 3, 3), (2, 2), "valid", (1, 1), 1),
        ((1, 2, 1, 7), (2, 2, 1, 4), (1, 1), "same", (1, 1), 1),
    ]
    for xs, ws, st, pad, dl, gr in cases:
        x = rng.normal(size=xs).astype(F32)
        w = rng.normal(size=ws).astype(F32)
        b = rng.normal(size=ws[0]).astype(F32)
        pads = conv_pads(pad, ws[2:], dl, 2)
        got = conv2d_raw(x, w, b, st, pads, dl, gr)
        ref = _conv_naive(x, w, b, st, pads, dl, gr)
        assert got.shape == ref.shape and np.allclose(got, ref, atol=1e-4), (xs, ws, pad)
    # pools against a direct window loop
    x = rng.normal(size=(1, 1, 2, 5, 5)).astype(F32)
    for k, s, p in (((2, 2), (2, 2), (0, 0)), ((3, 3), (2, 2), (1, 1)), ((3, 2), (1, 2), (1, 0))):
        got = sum_pool2d(x, k, s, p)
        Ho, Wo = got.shape[-2:]
        for c in range(2):
            for oh in range(Ho):
                for ow in range(Wo):
                    acc = 0.0
                    for i in range(k[0]):
                        for j in range(k[1]):
                            ih, iw = oh * s[0] + i - p[0], ow * s[1] + j - p[1]
                            if 0 <= ih < 5 and 0 <= iw < 5:
                                acc += float(x[0, 0, c, ih, iw])
                    assert abs(got[0, 0, c, oh, ow] - acc) < 1e-5
    # LIF without reset events = closed-form geometric sum
    x = np.full((1, 5, 1), 0.1, F32)
    y = li(x, np.array([1e-3]), np.array([10.0]), np.array([0.0]))
    ref = [0.1 * sum(0.9**i for i in range(t + 1)) for t in range(5)]
    assert np.allclose(y[0, :, 0], ref, atol=1e-6)
    # the two reset variants by hand: beta 0.9, gain 1, thr 1 (float32 throughout)
    x = np.array([[[0.6], [0.6], [0.6], [0.0], [1.5], [0.3], [2.5], [0.0]]], F32)
    p = (np.array([1e-3]), np.array([10.0]), np.array([0.0]), np.array([1.0]))
    a = lif(x, *p, "v_reset", Margins())  # m: .6 1.14 .6 .54 1.986 .3 2.77 0
    b_ = lif(x, *p, "subtract", Margins())  # m: .6 1.14 .726 .653 2.088 .279 2.651 1.386
    assert a[0, :, 0].tolist() == [0, 1, 0, 0, 1, 0, 1, 0], a
    assert b_[0, :, 0].tolist() == [0, 1, 0, 0, 1, 0, 1, 1], b_
    # a general (per neuron, nonzero) v_reset: the membrane restarts from it (beta 1, I = .6)
    y = _spiking(np.full((1, 5, 2), 0.6, F32), F32(1.0), F32(1.0), np.array([0.5, -0.4], F32), "v_reset", Margins())
    assert y[0, :, 0].tolist() == [0, 1, 1, 1, 1], y  # m: .6 1.2 1.1 1.1 1.1
    assert y[0, :, 1].tolist() == [0, 1, 0, 0, 1], y  # m: .6 1.2 .2 .8 1.4


if __name__ == "__main__":
    selftest()
    print("nir_ref selftest ok")
