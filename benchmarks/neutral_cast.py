"""Does a grey-looking picture get a colour cast? Mean a*b* the model gives neutral content.

    python benchmarks/neutral_cast.py [--model FILE] [--vividness V]

Two kinds of neutral input, seen as the product sees a film (luma only, letterboxed):

* a synthetic test card: an 11-step grey wedge over a smooth ramp (no object at all);
* the neutral parts of real colour footage: in every 10th frame of the 20 DAVIS sequences,
  the pixels whose true colour is grey (chroma under 4, L* between 15 and 95: white and
  grey walls, roads, overcast sky, grey clothes), pooled per sequence.

For each it prints the mean a* and b* of the model's colours over those pixels (the target
is |mean| <= 3 units), measured at the model's output before the pipeline's chroma limit
(which can only reduce chroma).
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
from flowchroma_core.training.data import luma_lightness  # noqa: E402

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
def predict_ab(model, rgb: np.ndarray, vividness: float | None) -> torch.Tensor:
    """The model's a*b* (2, H', W') in CIE units for an RGB picture seen as grey."""
    cfg = model.config
    t = torch.from_numpy(rgb).permute(2, 0, 1).float()[None] / 255.0
    l = lab.normalize_l(luma_lightness(t))[0]
    fitted, placement = letterbox(
        l, cfg.input_height, cfg.input_width, pad="black", white=1.0, black=-1.0
    )
    kwargs = {"vividness": vividness} if vividness is not None else {}
    ab, _ = model(fitted[None, None], **kwargs)
    return placement.crop(ab[0, 0]) * lab.AB_SCALE


def neutral_mean(model, rgb: np.ndarray, vividness: float | None) -> tuple[float, float, int, int]:
    """Sums of predicted a*, b* over the truly neutral pixels, their count, all pixels."""
    ab = predict_ab(model, rgb, vividness)
    small = cv2.resize(rgb, (ab.shape[-1], ab.shape[-2]), interpolation=cv2.INTER_AREA)
    true = lab.rgb_to_lab(torch.from_numpy(small).permute(2, 0, 1).float() / 255.0)
    mask = (true[1:].norm(dim=0) < 4) & (true[0] > 15) & (true[0] < 95)
    return float(ab[0][mask].sum()), float(ab[1][mask].sum()), int(mask.sum()), mask.numel()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--vividness", type=float, default=None)
    parser.add_argument("--every", type=int, default=10, help="DAVIS frames: every n-th")
    args = parser.parse_args()
    model, _ = load_model(args.model or default_model_path())
    card = predict_ab(model, test_card(), args.vividness)
    rows = [("test card (grey wedge + ramp)", float(card[0].mean()), float(card[1].mean()), 1.0)]
    for seq in sorted(p for p in (DATA / "davis").iterdir() if p.is_dir()):
        sa = sb = 0.0
        n = total = 0
        for path in sorted(seq.glob("*.jpg"))[:: args.every]:
            rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
            a, b, k, m = neutral_mean(model, rgb, args.vividness)
            sa, sb, n, total = sa + a, sb + b, n + k, total + m
        if n:
            rows.append((f"DAVIS {seq.name} (neutral pixels)", sa / n, sb / n, n / max(1, total)))
    print("| input | model mean a* | model mean b* | share of the picture |")
    print("| --- | --- | --- | --- |")
    for name, a, b, share in rows:
        print(f"| {name} | {a:+.2f} | {b:+.2f} | {share:.0%} |")
    worst = max(max(abs(a), abs(b)) for _, a, b, _ in rows)
    print(f"largest |mean a*| or |mean b*|: {worst:.2f} (target <= 3)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
