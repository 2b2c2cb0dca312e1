"""Label placement on the roofline figures the README and the notebooks draw: our greedy
engine (roofline/report/plot/labels.py) against adjustText (force-directed), on the same
figures, with the same roof and ceiling labels, measured in display space after drawing.

Per figure and engine: labels asked for and drawn, label-label overlaps (pairs of op
labels, or an op label and a roof/ceiling label or the legend, whose boxes intersect),
label-point overlaps (op label boxes crossing any op marker, its own included), labels
not wholly inside the axes, mean leader distance (pixels from the labelled point to the
nearest edge of its label) and the time spent placing op labels.

    python benchmarks/labels.py        (needs adjustText: pip install adjustText)
"""

from __future__ import annotations

import argparse
import importlib
import itertools
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
from matplotlib.text import Text
from matplotlib.transforms import Bbox

import roofline
from roofline.report.plot import _common as common
from roofline.targets import build

# the module (the package exports a function of the same name)
roofline_plot = importlib.import_module("roofline.report.plot.roofline")
HW = "h100-sxm"
_OURS = roofline_plot.label_points


def _zoo(target: str, batch: int | None = None, dtype: str | None = None, **options: Any) -> roofline.Analysis:
    built = build(target, batch=batch, meta=not options.pop("real", False), options=options)
    return roofline.analyze(built.model, built.inputs, hw=HW, dtype=dtype, name=built.name, batch=built.batch, seq=built.seq)


def figures() -> dict[str, Callable[[], Any]]:
    """Figure name -> a function drawing it (the README's and the notebooks' rooflines,
    and two with many labels)."""
    resnet = _zoo("resnet50", batch=32, dtype="bf16")
    gpt2 = _zoo("gpt2", batch=1, dtype="bf16")
    seed = [_zoo(name) for name in ("nscl", "nsdr", "nlm")]
    dlrm = _zoo("dlrm", batch=65536)
    gcn = _zoo("gcn", real=True, sparse=True, nodes=30_000, edges=300_000, features=64, hidden=256)
    llama = _zoo("llama-7b", batch=1, dtype="bf16")
    return {
        "README roofline.png (resnet50 + gpt2, top 7)": lambda: roofline.plot.roofline([resnet, gpt2], top=7),
        "01 resnet50 r.plot()": lambda: resnet.plot(),
        "02 nscl, nsdr, nlm (top 6)": lambda: roofline.plot.roofline(seed, top=6),
        "03 dlrm + gcn (top 5)": lambda: roofline.plot.roofline([dlrm, gcn], top=5),
        "many: gpt2 (top 20)": lambda: roofline.plot.roofline(gpt2, top=20),
        "many: llama-7b + resnet50 (top 15)": lambda: roofline.plot.roofline([llama, resnet], top=15),
    }


# --------------------------------------------------------------------------- engines
@dataclass
class Tally:
    """What one engine was asked for and how long it took, over one figure."""

    asked: int = 0
    seconds: float = 0.0


def adjusttext_label_points(tally: Tally) -> Callable[..., list[Text]]:
    """label_points' contract served by adjustText: every label starts at its point and
    is pushed off the other labels, the op markers, the roof labels and the legend."""
    from adjustText import adjust_text

    def place(ax, renderer, points, occupied, markers=(), color="#111111", lines=None) -> list[Text]:
        texts = []
        for x, y, text, _ in points:
            label = ax.text(x, y, text, fontsize=common.FONT - 0.5, color=color, gid=common.OP_LABEL, zorder=5)
            label.anchor_xy = (x, y)
            texts.append(label)
        if not texts:
            return texts
        to_data = ax.transData.inverted()
        objects = [Bbox(to_data.transform(box.get_points())) for box in [*occupied, *markers]]
        xs, ys = _all_points(ax)
        adjust_text(texts, x=xs, y=ys, objects=objects or None, ax=ax, ensure_inside_axes=True,
                    arrowprops={"arrowstyle": "-", "lw": 0.5, "color": "#777777"})
        return texts

    return place


def _all_points(ax) -> tuple[np.ndarray, np.ndarray]:
    """Data coordinates of every op marker of the axes."""
    offsets = [c.get_offsets() for c in ax.collections if c.get_gid() == common.OPS]
    xy = np.vstack(offsets) if offsets else np.empty((0, 2))
    return xy[:, 0], xy[:, 1]


def timed(engine: Callable[..., list[Text]], tally: Tally) -> Callable[..., list[Text]]:
    """The engine, counting the labels asked for and the seconds spent."""
    def run(ax, renderer, points, *args, **kwargs):
        started = time.perf_counter()
        placed = engine(ax, renderer, points, *args, **kwargs)
        tally.seconds += time.perf_counter() - started
        tally.asked += len(points)
        return placed
    return run


# --------------------------------------------------------------------------- measures
def _marker_circles(ax) -> np.ndarray:
    """(x, y, radius) in pixels of every op marker."""
    rows = []
    for c in ax.collections:
        if c.get_gid() != common.OPS:
            continue
        xy = ax.transData.transform(c.get_offsets())
        sizes = np.broadcast_to(c.get_sizes(), (len(xy),))
        radius = np.sqrt(sizes) / 2 * ax.figure.dpi / 72
        rows.append(np.column_stack([xy, radius]))
    return np.vstack(rows) if rows else np.empty((0, 3))


def _circle_hits(box: Bbox, circles: np.ndarray) -> int:
    nx = np.clip(circles[:, 0], box.x0, box.x1)
    ny = np.clip(circles[:, 1], box.y0, box.y1)
    return int((np.hypot(circles[:, 0] - nx, circles[:, 1] - ny) < circles[:, 2]).sum())


def _anchor(text: Text) -> tuple[float, float]:
    return getattr(text, "anchor_xy", None) or text.xy


def measure_axes(ax, renderer) -> dict[str, float]:
    """Overlaps, outside labels and leader distances of one drawn axes."""
    labels = [t for t in ax.texts if t.get_gid() == common.OP_LABEL]
    boxes = [Text.get_window_extent(t, renderer) for t in labels]
    others = [Text.get_window_extent(t, renderer) for t in ax.texts if t.get_gid() in (common.ROOF_LABEL, common.CEILING_LABEL)]
    if ax.get_legend() is not None:
        others.append(ax.get_legend().get_window_extent(renderer))
    pairs = sum(a.overlaps(b) for a, b in itertools.combinations(boxes, 2)) + sum(a.overlaps(b) for a in boxes for b in others)
    circles = _marker_circles(ax)
    outer = ax.get_window_extent(renderer)
    outside = sum(not (b.x0 >= outer.x0 and b.x1 <= outer.x1 and b.y0 >= outer.y0 and b.y1 <= outer.y1) for b in boxes)
    leaders = []
    for text, box in zip(labels, boxes):
        px, py = ax.transData.transform(_anchor(text))
        leaders.append(math.hypot(px - np.clip(px, box.x0, box.x1), py - np.clip(py, box.y0, box.y1)))
    return {"drawn": len(labels), "label_overlaps": int(pairs), "point_overlaps": sum(_circle_hits(b, circles) for b in boxes),
            "outside": int(outside), "leader_sum_px": float(sum(leaders))}


def measure_figure(draw: Callable[[], Any], engine: str) -> dict[str, float]:
    """Draw the figure with one engine ("ours" or "adjustText") and measure it."""
    tally = Tally()
    base = _OURS if engine == "ours" else adjusttext_label_points(tally)
    roofline_plot.label_points = timed(base, tally)
    try:
        fig = draw()
    finally:
        roofline_plot.label_points = _OURS
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    rows = [measure_axes(ax, renderer) for ax in fig.axes]
    total = {key: sum(r[key] for r in rows) for key in rows[0]}
    return {"engine": engine, "asked": tally.asked, "drawn": total["drawn"], "label_overlaps": total["label_overlaps"],
            "point_overlaps": total["point_overlaps"], "outside": total["outside"],
            "mean_leader_px": total["leader_sum_px"] / total["drawn"] if total["drawn"] else float("nan"),
            "seconds": tally.seconds}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args(argv)
    try:
        import adjustText  # noqa: F401  (the peer measured; not a dependency of the package)
    except ImportError:
        print("labels: this benchmark needs adjustText (pip install adjustText)", file=sys.stderr)
        return 2
    rows = []
    for name, draw in figures().items():
        for engine in ("ours", "adjustText"):
            rows.append({"figure": name, **measure_figure(draw, engine)})
    table = pd.DataFrame(rows)
    pd.set_option("display.width", 200)
    print(f"Label placement on {HW} roofline figures (matplotlib {matplotlib.__version__}):")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    totals = table.groupby("engine", sort=False)[["asked", "drawn", "label_overlaps", "point_overlaps", "outside", "seconds"]].sum()
    print("\nAll figures:")
    print(totals.to_string(float_format=lambda v: f"{v:.2f}"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
