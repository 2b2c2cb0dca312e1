"""Regenerate the committed figures in docs/figures/ (run by `make figures`).

Every model is built on the meta device, so nothing is computed and the figures depend
only on the code, the zoo and the hardware specs: rerunning gives the same pictures.

    python benchmarks/figures.py [--out docs/figures]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import roofline
from roofline import plot
from roofline.targets import build

HW = "h100-sxm"
WHAT_IF_SPECS = ["h100-sxm", "h200", "a100-sxm", "l4", "mi300x", "xeon-8480", "epyc-9654"]


def analyze_zoo(
    target: str, *, label: str | None = None, hw: str = HW, batch: int | None = None, dtype: str | None = None, **options: Any
) -> roofline.Analysis:
    """A zoo model analysed on meta tensors (full size, no data), named ``label``; its
    batch and seq recorded (figure titles say them)."""
    built = build(target, batch=batch, meta=True, options=options)
    return roofline.analyze(built.model, built.inputs, hw=hw, dtype=dtype, name=label or built.name,
                            batch=built.batch, seq=built.seq)


def figures() -> dict[str, Any]:
    """file name -> Figure, for every committed figure."""
    out: dict[str, Any] = {}
    resnet = analyze_zoo("resnet50", batch=32, dtype="bf16")
    gpt2 = analyze_zoo("gpt2", batch=1, dtype="bf16")
    out["roofline.png"] = plot.roofline([resnet, gpt2], top=7)

    seed = [analyze_zoo(name) for name in ("nscl", "nsdr", "nlm")]
    others = [analyze_zoo("dlrm", batch=256), analyze_zoo("gcn")]
    out["breakdown.png"] = plot.breakdown(seed + others, title=f"Predicted time by category on {roofline.load_hardware(HW).display_name}")

    out["what_if_gpt2.png"] = plot.what_if([gpt2.with_hw(spec) for spec in WHAT_IF_SPECS])

    sweep = {f"batch {b}": analyze_zoo("dlrm", batch=b) for b in (1, 16, 256, 4096)}
    out["trajectory_dlrm.png"] = plot.trajectory(sweep, title="DLRM: categories as the batch grows (H100 SXM)")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent.parent / "docs" / "figures"), help="output folder")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    for name, fig in figures().items():
        print(f"wrote {plot.save(fig, out / name)}")
    print(f"{time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
