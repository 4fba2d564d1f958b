"""Does a grey-looking picture get a colour cast? Mean a*b* the model gives neutral content.

    python benchmarks/neutral_cast.py [--model FILE] [--vividness V]

Two kinds of neutral input, seen as the product sees a film (luma only, letterboxed):

* a synthetic test card: an 11-step grey wedge over a smooth ramp (no object at all);
* real photographs of near-neutral scenes: the held-out photos (never trained on: the
  training cache takes every second photo of the sorted list) whose own colour is close to
  grey (mean a*, b* within 2 units and mean chroma under 6).

For each it prints the mean a* and b* of the model's colours over the picture (the target
is |mean| <= 3 units), measured at the model's output before the pipeline's chroma limit
(which can only reduce chroma), with the original's own mean for the photographs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flowchroma_core.colour import lab  # noqa: E402
from flowchroma_core.model.files import default_model_path, load_model  # noqa: E402
from flowchroma_core.pipeline.framing import letterbox  # noqa: E402
from flowchroma_core.training.data import list_photos, luma_lightness  # noqa: E402

DATA = ROOT.parent / "shared" / "data"


def test_card(h: int = 360, w: int = 480) -> np.ndarray:
    """RGB uint8: a horizontal grey ramp with an 11-step wedge across the middle."""
    ramp = np.tile(np.linspace(0, 255, w, dtype=np.float32), (h, 1))
    card = ramp.copy()
    steps = np.linspace(0, 255, 11)
    top, bottom = h // 3, 2 * h // 3
    for i, v in enumerate(steps):
        card[top:bottom, i * w // 11 : (i + 1) * w // 11] = v
    return np.repeat(card[..., None], 3, axis=2).round().astype(np.uint8)


@torch.no_grad()
def mean_ab(model, rgb: np.ndarray, vividness: float | None) -> tuple[float, float]:
    cfg = model.config
    t = torch.from_numpy(rgb).permute(2, 0, 1).float()[None] / 255.0
    l = lab.normalize_l(luma_lightness(t))[0]
    fitted, placement = letterbox(
        l, cfg.input_height, cfg.input_width, pad="black", white=1.0, black=-1.0
    )
    kwargs = {"vividness": vividness} if vividness is not None else {}
    ab, _ = model(fitted[None, None], **kwargs)
    ab = placement.crop(ab[0, 0]) * lab.AB_SCALE
    return float(ab[0].mean()), float(ab[1].mean())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--vividness", type=float, default=None)
    parser.add_argument("--photos", type=int, default=12, help="neutral photos to use at most")
    args = parser.parse_args()
    model, _ = load_model(args.model or default_model_path())
    rows = [
        ("test card (grey wedge + ramp)", *mean_ab(model, test_card(), args.vividness), 0.0, 0.0)
    ]
    photos = list_photos([str(DATA / "photos"), str(DATA / "photos_more")])[1::2]
    found = 0
    for path in photos:
        rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        true = lab.rgb_to_lab(torch.from_numpy(rgb).permute(2, 0, 1).float() / 255.0)[1:]
        ta, tb = float(true[0].mean()), float(true[1].mean())
        if abs(ta) > 2 or abs(tb) > 2 or float(true.norm(dim=0).mean()) > 6:
            continue
        rows.append((path.name, *mean_ab(model, rgb, args.vividness), ta, tb))
        found += 1
        if found == args.photos:
            break
    print("| input | model mean a* | model mean b* | original a* | original b* |")
    print("| --- | --- | --- | --- | --- |")
    for name, a, b, ta, tb in rows:
        print(f"| {name} | {a:+.2f} | {b:+.2f} | {ta:+.2f} | {tb:+.2f} |")
    worst = max(max(abs(a), abs(b)) for _, a, b, _, _ in rows)
    print(f"largest |mean a*| or |mean b*|: {worst:.2f} (target <= 3)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
