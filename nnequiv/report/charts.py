"""Inline SVG charts (no scripts, no external resources; every text is XML-escaped here).

* :func:`grouped_bars` -- categories with one bar per series (per-layer neurons or parameters,
  original vs reduced; outputs of both networks at a counterexample);
* :func:`deviation_bars` -- ``|f_i - g_i|`` per output with the epsilon line.

The colours work in greyscale print (dark vs light) and for common colour-vision deficiencies.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape
from typing import Sequence

__all__ = ["Series", "grouped_bars", "deviation_bars", "COLOURS"]

COLOURS = ("#1f4e79", "#e3a33b", "#9aa5b1")   # original (dark blue), reduced (light orange), other (grey)
WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 70, 16, 34, 44
MAX_LABELS = 40
MAX_BAR = 56


@dataclass(frozen=True)
class Series:
    label: str
    values: Sequence[float | None]
    colour: str


def grouped_bars(title: str, categories: Sequence[str], series: Sequence[Series], *,
                 tooltips: Sequence[str] | None = None, y_label: str = "",
                 reference: tuple[str, float] | None = None) -> str:
    """Bars grouped by category; ``tooltips[k]`` describes category ``k`` (shown on hover)."""
    values = [v for s in series for v in s.values if v is not None and math.isfinite(v)]
    frame = _Frame(values + ([reference[1]] if reference else []))
    n, m = max(len(categories), 1), max(len(series), 1)
    group = frame.plot_w / n
    bar = max(min(group * 0.8 / m, MAX_BAR), 0.6)
    parts = [frame.open(title), frame.axis(y_label), _legend(series)]
    for k, category in enumerate(categories):
        x0 = LEFT + k * group + (group - m * bar) / 2
        for j, s in enumerate(series):
            value = s.values[k] if k < len(s.values) else None
            if value is None or not math.isfinite(value):
                continue
            y, h = frame.bar(value)
            tip = f"{tooltips[k] if tooltips else category}: {s.label} {_fmt(value)}"
            parts.append(f'<rect x="{x0 + j * bar:.2f}" y="{y:.2f}" width="{bar:.2f}" height="{h:.2f}" '
                         f'fill="{s.colour}"><title>{escape(tip)}</title></rect>')
            if n * m <= 24:
                parts.append(_text(x0 + (j + 0.5) * bar, y - 3 if value >= 0 else y + h + 10, _fmt(value),
                                   size=9, anchor="middle"))
    parts.append(_x_labels(categories, group))
    if reference:
        parts.append(frame.reference(*reference))
    parts.append("</svg>")
    return "".join(parts)


def deviation_bars(title: str, deviations: Sequence[float], compared: Sequence[int],
                   eps: float | None) -> str:
    """``|f_i - g_i|`` per output; outputs outside the relation are grey."""
    finite = [v for v in deviations if math.isfinite(v)]
    frame = _Frame(finite + ([eps] if eps is not None else []))
    n = max(len(deviations), 1)
    group = frame.plot_w / n
    bar = max(min(group * 0.8, MAX_BAR), 0.6)
    chosen = set(compared)
    used = Series("compared output", (), COLOURS[0])
    other = Series("not compared", (), COLOURS[2])
    legend = [used] + ([other] if len(chosen) < len(deviations) else [])
    parts = [frame.open(title), frame.axis("|f_i - g_i|"), _legend(legend)]
    for i, value in enumerate(deviations):
        if not math.isfinite(value):
            continue
        y, h = frame.bar(value)
        colour = COLOURS[0] if i in chosen else COLOURS[2]
        parts.append(f'<rect x="{LEFT + i * group + (group - bar) / 2:.2f}" y="{y:.2f}" width="{bar:.2f}" '
                     f'height="{h:.2f}" fill="{colour}"><title>{escape(f"output {i}: {value:.9g}")}</title></rect>')
    parts.append(_x_labels([str(i) for i in range(len(deviations))], group))
    if eps is not None:
        parts.append(frame.reference("ε", eps))
    parts.append("</svg>")
    return "".join(parts)


class _Frame:
    """Scale and axes of one chart."""

    def __init__(self, values: Sequence[float]) -> None:
        lo = min([0.0] + list(values))
        hi = max([0.0] + list(values))
        if hi == lo:
            hi = lo + 1.0
        self.step = _nice((hi - lo) / 4)
        self.lo = math.floor(lo / self.step) * self.step
        self.hi = math.ceil(hi / self.step) * self.step
        if self.hi == self.lo:
            self.hi = self.lo + self.step
        self.plot_w = WIDTH - LEFT - RIGHT
        self.plot_h = HEIGHT - TOP - BOTTOM

    def y(self, value: float) -> float:
        return TOP + (self.hi - value) / (self.hi - self.lo) * self.plot_h

    def bar(self, value: float) -> tuple[float, float]:
        top, zero = self.y(max(value, 0.0)), self.y(min(value, 0.0))
        return top, max(zero - top, 0.5)

    def open(self, title: str) -> str:
        return (f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
                f'role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>'
                f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>'
                + _text(LEFT, 14, title, size=12, weight="bold"))

    def axis(self, label: str) -> str:
        parts = []
        ticks = int(round((self.hi - self.lo) / self.step))
        for t in range(ticks + 1):
            value = self.lo + t * self.step
            y = self.y(value)
            parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.2f}" y2="{y:.2f}" '
                         f'stroke="{"#555" if abs(value) < self.step / 2 else "#ddd"}" stroke-width="1"/>')
            parts.append(_text(LEFT - 6, y + 3, _fmt(value), size=9, anchor="end"))
        parts.append(f'<line x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{TOP + self.plot_h}" stroke="#555"/>')
        if label:
            mid = TOP + self.plot_h / 2
            parts.append(f'<text x="14" y="{mid:.1f}" font-size="10" text-anchor="middle" '
                         f'transform="rotate(-90 14 {mid:.1f})">{escape(label)}</text>')
        return "".join(parts)

    def reference(self, label: str, value: float) -> str:
        y = self.y(value)
        return (f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.2f}" y2="{y:.2f}" stroke="#b00020" '
                f'stroke-width="1.5" stroke-dasharray="6 3"/>'
                + _text(WIDTH - RIGHT - 2, y - 4, f"{label} = {value:.6g}", size=10, anchor="end", fill="#b00020"))


def _legend(series: Sequence[Series]) -> str:
    parts, x = [], WIDTH - RIGHT
    for s in reversed(series):
        width = 16 + 6.2 * len(s.label)
        x -= width + 10
        parts.append(f'<rect x="{x:.1f}" y="6" width="10" height="10" fill="{s.colour}"/>'
                     + _text(x + 14, 15, s.label, size=10))
    return "".join(parts)


def _x_labels(categories: Sequence[str], group: float) -> str:
    every = max(1, math.ceil(len(categories) / MAX_LABELS))
    return "".join(_text(LEFT + (k + 0.5) * group, HEIGHT - BOTTOM + 14, label, size=9, anchor="middle")
                   for k, label in enumerate(categories) if k % every == 0)


def _text(x: float, y: float, text: str, *, size: int = 10, anchor: str = "start", weight: str = "normal",
          fill: str = "#222") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" font-weight="{weight}" '
            f'fill="{fill}">{escape(text)}</text>')


def _nice(raw: float) -> float:
    if raw <= 0 or not math.isfinite(raw):
        return 1.0
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * power:
            return factor * power
    return 10 * power


def _fmt(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1e5 or abs(value) < 1e-3:
        return f"{value:.3g}"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:.4g}"
