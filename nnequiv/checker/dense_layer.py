"""The Gemm / MatMul layer around an activation node (trusted): the lumping site
(:mod:`.lumping_site`) restricted to dense heads, seen one column per neuron.

Used by the rewrites that reason per neuron of a dense layer (``linear_merge``,
``stable_relu``); Conv channels are left to lumping, whose checks hold per pixel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..ir import Network
from .lumping_rewrite import _write
from .lumping_site import ACTIVATIONS, Site, lump_site
from .rewrites import RewriteError

__all__ = ["ACTIVATIONS", "DenseLayer", "dense_layer", "dense_site", "write_layer"]


def dense_site(net: Network, activation: int, item: str = "activation") -> Site:
    """The lumping site around ``activation``, refused unless its head is a Gemm or MatMul."""
    site = lump_site(net, activation, item)
    if net.nodes[site.head].op not in ("Gemm", "MatMul"):
        raise RewriteError(item, "this rewrite applies to Gemm / MatMul layers only, not to Conv channels")
    return site


@dataclass(frozen=True, eq=False)
class DenseLayer:
    """``incoming``: (inputs, neurons), one column per neuron; ``outgoing``: (neurons, outputs)."""

    site: Site

    @property
    def incoming(self) -> np.ndarray:
        return self.site.incoming.T

    @property
    def bias(self) -> np.ndarray | None:
        return self.site.bias

    @property
    def outgoing(self) -> np.ndarray:
        return self.site.outgoing


def dense_layer(net: Network, activation: int, item: str = "activation") -> DenseLayer:
    return DenseLayer(dense_site(net, activation, item))


def write_layer(net: Network, dense: DenseLayer, keep: np.ndarray, outgoing: np.ndarray) -> Network:
    """The network with only the neurons ``keep`` (incoming columns and bias) and the next
    layer's rows ``outgoing`` (one per kept neuron)."""
    return _write(net, dense.site, keep, outgoing)
