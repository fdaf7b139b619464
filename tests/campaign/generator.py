"""Seeded generator of small network pairs whose ground truth is cheap to compute exactly.

A network is a :class:`Spec`: a list of float64 ``(W, b)`` layers (``W`` is ``(out, in)``),
one activation (``Relu`` or ``LeakyRelu`` with an ``alpha`` that is exact in float32, so an ONNX
round trip keeps it) between layers, and optionally a *bump*
``height * relu(radius - |x - centre|_1)`` added to every output (``tests/helpers/pairs.with_bump``).
The ground truth (``ground_truth.py``) reads the Spec, never the :class:`~nnequiv.ir.Network`.

Edits of the original (all on the stored float64 weights):

* exact rewrites: ``permute`` (hidden neurons), ``rho_scale`` (in-weights and bias of one neuron
  times ``rho = 2**k``, out-weights times ``1/rho``: exact in float64, and positive scaling commutes
  with ReLU/LeakyReLU), ``duplicate_split`` (``tests/helpers/pairs.duplicated_scaled``);
* near misses: ``perturb`` (one weight plus ``±10**-k``, k in 1..6), ``bias_flip``, ``drop_neuron``;
* ``bump``: a violation confined to a small L1 ball;
* ``tie_dup`` / ``tie_cross``: top-1 cases with outputs tied identically or crossing inside the box.

A share ``CONV_SHARE`` of the cases are small CNNs (Conv, BatchNormalization, residual Add,
ReLU/LeakyReLU) with their own edits: ``conv_generator.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nnequiv.ir import Network, Node, TensorSpec
from nnequiv.spec.box import Box
from tests.helpers.pairs import bump_branch

EXACT_EDITS = ("permute", "rho_scale", "duplicate_split")
NEAR_EDITS = ("perturb", "bias_flip", "drop_neuron")
ALPHAS = (0.125, 0.25, 0.0625, float(np.float32(0.01)))   # all exact float32 values


@dataclass
class Spec:
    layers: list[tuple[np.ndarray, np.ndarray]]
    activation: str = "Relu"
    alpha: float = 0.0                      # LeakyRelu negative slope (0 for Relu)
    bump: tuple[np.ndarray, float, float] | None = None   # (centre, radius, height)

    @property
    def n_in(self) -> int:
        return int(self.layers[0][0].shape[1])

    @property
    def n_out(self) -> int:
        return int(self.layers[-1][0].shape[0])

    def to_json(self) -> dict[str, Any]:
        hexes = lambda a: [float(v).hex() for v in np.ravel(a)]  # noqa: E731
        return {"activation": self.activation, "alpha": float(self.alpha).hex(),
                "layers": [{"shape": list(w.shape), "w": hexes(w), "b": hexes(b)} for w, b in self.layers],
                "bump": None if self.bump is None else
                {"centre": hexes(self.bump[0]), "radius": float(self.bump[1]).hex(),
                 "height": float(self.bump[2]).hex()}}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Spec":
        arr = lambda h: np.array([float.fromhex(v) for v in h], dtype=np.float64)  # noqa: E731
        layers = [(arr(L["w"]).reshape(L["shape"]), arr(L["b"])) for L in data["layers"]]
        bump = data.get("bump")
        return cls(layers, data["activation"], float.fromhex(data["alpha"]),
                   None if bump is None else (arr(bump["centre"]), float.fromhex(bump["radius"]),
                                              float.fromhex(bump["height"])))


def spec_from_json(data: dict[str, Any]):
    """A :class:`Spec` or (``"kind": "conv"``) a :class:`~tests.campaign.conv_spec.ConvSpec`."""
    from .conv_spec import ConvSpec

    return ConvSpec.from_json(data) if data.get("kind") == "conv" else Spec.from_json(data)


@dataclass
class Case:
    index: int
    seed: int
    edit: str
    original: Spec
    reduced: Spec
    lower: np.ndarray
    upper: np.ndarray
    relation_hint: str                       # "eps" | "exact" | "top1" (eps chosen after ground truth)
    eps_mode: str = ""                       # above | below | double | half | zero | fixed
    outputs: tuple[int, ...] | None = None
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def box(self) -> Box:
        return Box.of(self.lower, self.upper)

    @property
    def tags(self) -> tuple[str, ...]:
        """Architecture tags for the campaign tables: mlp|cnn, 1-D|2-D, and bn, residual, leaky."""
        conv = hasattr(self.original, "blocks")
        blocks = self.original.blocks if conv else ()
        return (("cnn" if conv else "mlp"), f"{self.original.n_in}-D") + tuple(
            tag for tag, present in (("bn", any(b.bn is not None for b in blocks)),
                                     ("residual", any(b.residual for b in blocks)),
                                     ("leaky", self.original.activation == "LeakyRelu")) if present)

    @property
    def name(self) -> str:
        return f"s{self.seed}_i{self.index}_{self.edit}_{self.relation_hint}{'_' + self.eps_mode if self.eps_mode else ''}"


# --------------------------------------------------------------------------- networks

def to_network(spec, name: str = "net") -> Network:
    """``(Gemm act)* Gemm [+ bump]`` on input ``(1, n)``, float64 initialisers (as ``pairs.mlp``);
    a :class:`~tests.campaign.conv_spec.ConvSpec` through ``conv_spec.conv_network``."""
    from .conv_spec import ConvSpec, conv_network

    if isinstance(spec, ConvSpec):
        return conv_network(spec, name)
    nodes, init, current = [], {}, "input"
    attrs = {"alpha": float(spec.alpha)} if spec.activation == "LeakyRelu" else {}
    last = len(spec.layers) - 1
    for k, (w, b) in enumerate(spec.layers):
        init[f"w{k}"], init[f"b{k}"] = np.asarray(w, np.float64), np.asarray(b, np.float64)
        out = ("f_out" if spec.bump is not None else "output") if k == last else f"z{k}"
        nodes.append(Node(f"gemm{k}", "Gemm", (current, f"w{k}", f"b{k}"), (out,), {"transB": 1}))
        current = out
        if k < last:
            nodes.append(Node(f"act{k}", spec.activation, (out,), (f"h{k}",), attrs))
            current = f"h{k}"
    if spec.bump is not None:
        centre, radius, height = spec.bump
        bump_nodes, bump_init = bump_branch(centre, radius, height, spec.n_out)
        nodes += bump_nodes
        init.update(bump_init)
    return Network.create(inputs=[TensorSpec("input", (1, spec.n_in), "float64", (0,))],
                          outputs=[TensorSpec("output", (1, spec.n_out), "float64", (0,))],
                          nodes=nodes, initializers=init, name=name)


# --------------------------------------------------------------------------- edits

def _copy(layers):
    return [(np.array(w, np.float64), np.array(b, np.float64)) for w, b in layers]


def permute(rng, layers):
    out = _copy(layers)
    for k in range(len(out) - 1):
        p = rng.permutation(out[k][0].shape[0])
        out[k] = (out[k][0][p], out[k][1][p])
        out[k + 1] = (out[k + 1][0][:, p], out[k + 1][1])
    return out


def rho_scale(rng, layers):
    out = _copy(layers)
    k = int(rng.integers(0, len(out) - 1))
    j = int(rng.integers(0, out[k][0].shape[0]))
    rho = 2.0 ** int(rng.choice([-3, -2, -1, 1, 2, 3, 5]))
    out[k][0][j] *= rho
    out[k][1][j] *= rho
    out[k + 1][0][:, j] /= rho
    return out


def duplicate_split(rng, layers):
    out = _copy(layers)
    k = int(rng.integers(0, len(out) - 1))
    j = int(rng.integers(0, out[k][0].shape[0]))
    factor = 2.0 ** int(rng.choice([0, 1, 2, -1]))
    w, b = out[k]
    out[k] = (np.vstack([w, factor * w[j]]), np.append(b, factor * b[j]))
    w_next, b_next = out[k + 1]
    column = w_next[:, j] / 2
    w_next = np.hstack([w_next, (column / factor)[:, None]])
    w_next[:, j] = column
    out[k + 1] = (w_next, b_next)
    return out


def perturb(rng, layers, k_exp: int):
    out = _copy(layers)
    k = int(rng.integers(0, len(out)))
    w = out[k][0]
    i, j = int(rng.integers(0, w.shape[0])), int(rng.integers(0, w.shape[1]))
    w[i, j] += float(rng.choice([-1.0, 1.0])) * 10.0 ** -k_exp
    return out


def bias_flip(rng, layers):
    out = _copy(layers)
    k = int(rng.integers(0, len(out)))
    j = int(rng.integers(0, out[k][1].shape[0]))
    if out[k][1][j] == 0.0:
        out[k][1][j] = 0.1
    out[k][1][j] = -out[k][1][j]
    return out


def drop_neuron(rng, layers):
    out = _copy(layers)
    candidates = [k for k in range(len(out) - 1) if out[k][0].shape[0] > 1]
    if not candidates:
        return out
    k = int(rng.choice(candidates))
    j = int(rng.integers(0, out[k][0].shape[0]))
    keep = np.arange(out[k][0].shape[0]) != j
    out[k] = (out[k][0][keep], out[k][1][keep])
    out[k + 1] = (out[k + 1][0][:, keep], out[k + 1][1])
    return out


# --------------------------------------------------------------------------- cases

def _random_layers(rng, widths):
    return [(rng.normal(0, 1 / np.sqrt(a), (b, a)), rng.normal(0, 0.3, b)) for a, b in zip(widths[:-1], widths[1:])]


CONV_SHARE = 0.35          # fraction of cases that are CNN/BN/residual pairs (``conv_generator.py``)


def generate(seed: int, index: int) -> Case:
    """The ``index``-th case of the campaign with ``seed`` (independent of every other index)."""
    if np.random.default_rng([seed, index, 1]).random() < CONV_SHARE:
        from .conv_generator import generate_conv

        return generate_conv(seed, index)
    rng = np.random.default_rng([seed, index])
    n_in = 1 if rng.random() < 0.7 else 2
    depth = int(rng.integers(1, 4))
    edit = str(rng.choice(["permute", "rho_scale", "duplicate_split", "perturb", "perturb", "bias_flip",
                           "drop_neuron", "bump", "tie_dup", "tie_cross"]))
    n_out = int(rng.integers(2, 4)) if edit.startswith("tie") else int(rng.integers(1, 4))
    widths = [n_in] + [int(rng.integers(2, 7)) for _ in range(depth)] + [n_out]
    activation = "Relu" if rng.random() < 0.6 else "LeakyRelu"
    alpha = 0.0 if activation == "Relu" else float(rng.choice(ALPHAS))
    layers = _random_layers(rng, widths)
    centre = rng.uniform(-1, 1, n_in)
    half = float(rng.choice([0.125, 0.5, 1.0, 2.0]))
    lower, upper = centre - half, centre + half
    notes: dict[str, Any] = {"widths": widths}

    def spec(ls, bump=None):
        return Spec(ls, activation, alpha, bump)

    original = spec(layers)
    if edit == "permute":
        reduced = spec(permute(rng, layers))
    elif edit == "rho_scale":
        reduced = spec(rho_scale(rng, layers))
    elif edit == "duplicate_split":
        reduced = spec(duplicate_split(rng, layers))
    elif edit == "perturb":
        k_exp = int(rng.integers(1, 7))
        notes["k"] = k_exp
        reduced = spec(perturb(rng, layers, k_exp))
    elif edit == "bias_flip":
        reduced = spec(bias_flip(rng, layers))
    elif edit == "drop_neuron":
        reduced = spec(drop_neuron(rng, layers))
    elif edit == "bump":
        corner = rng.random() < 0.3       # corner-confined: only part of the ball lies in the box
        where = np.where(rng.random(n_in) < 0.5, lower, upper) if corner else rng.uniform(lower, upper)
        notes["corner"] = bool(corner)
        radius = float(rng.choice([1e-3, 1e-2, 0.05]) * half)
        height = float(rng.choice([1e-3, 0.1, 1.0, 10.0]))
        reduced = spec(_copy(layers), (where, radius, height))
        notes.update(radius=radius, height=height)
    else:  # top-1 ties
        w, b = layers[-1]
        if edit == "tie_dup":  # output 1 is a copy of output 0: tied everywhere
            w[1], b[1] = w[0], b[0]
        else:                  # outputs 0 and 1 cross near the centre of the box
            h_mid = _hidden_at(spec(layers), centre)
            b[1] = b[0] + float((w[0] - w[1]) @ h_mid)
        original = spec(layers)
        variant = str(rng.choice(["permute", "perturb", "tie_break"]))
        notes["variant"] = variant
        if variant == "permute":
            reduced = spec(permute(rng, layers))
        elif variant == "perturb":
            k_exp = int(rng.integers(1, 7))
            notes["k"] = k_exp
            reduced = spec(perturb(rng, layers, k_exp))
        else:
            ls = _copy(layers)
            ls[-1][1][1] += 10.0 ** -int(rng.integers(1, 7))
            reduced = spec(ls)
    return Case(index, seed, edit, original, reduced, lower, upper, *relation_draw(rng, edit, n_out), notes)


def relation_draw(rng, edit: str, n_out: int) -> tuple[str, str, tuple[int, ...] | None]:
    if "tie" in edit:
        hint = "top1"
    else:
        r = rng.random()
        hint = "eps" if r < 0.7 else ("exact" if r < 0.82 else ("top1" if n_out >= 2 else "eps"))
    eps_mode = str(rng.choice(["above", "below", "double", "half", "zero", "fixed"])) if hint == "eps" else ""
    outputs = None
    if hint == "eps" and n_out >= 2 and rng.random() < 0.2:
        outputs = tuple(sorted(rng.choice(n_out, size=int(rng.integers(1, n_out)), replace=False).tolist()))
    return hint, eps_mode, outputs


def _hidden_at(spec: Spec, x: np.ndarray) -> np.ndarray:
    """float64 value of the last hidden layer at ``x`` (only used to place a crossing; not ground truth)."""
    h = np.asarray(x, np.float64)
    for w, b in spec.layers[:-1]:
        z = w @ h + b
        h = np.where(z >= 0, z, spec.alpha * z)
    return h
