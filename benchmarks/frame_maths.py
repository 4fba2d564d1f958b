"""The colorizer's per-frame maths, timed alone on this machine (issue 13).

    python benchmarks/frame_maths.py [--size 640x360] [--repeats 20] [--device cpu]

Per frame the colorizer needs the source's grey and L* at full resolution twice (model
input, then the chroma); they used to be computed from the float grey with the sRGB
transfer function and a cube root per pixel, and now come from a table of every luma code
(``colorizer._Run._grey``). Prints milliseconds per frame for: grey + L* by formula, by
table, and the rest of the chroma (upsampled a*b* -> RGB -> Cb/Cr -> gamut limit), and the
largest difference between formula and table (it should be 0).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from flowchroma_core.colour import lab
from flowchroma_core.colour.ycbcr_torch import chroma_from_rgb, limit_chroma
from flowchroma_core.video.info import Frame


def best_ms(call, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        begin = time.perf_counter()
        call()
        times.append(time.perf_counter() - begin)
    return 1000 * min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", default="640x360")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    device = torch.device(args.device)
    rng = np.random.default_rng(0)
    luma = rng.integers(16, 236, (height, width), dtype=np.uint8)
    frame = Frame(0, 0, 0, luma, 8, "tv")  # type: ignore[arg-type]

    def formula() -> tuple[torch.Tensor, torch.Tensor]:
        gray = torch.from_numpy(frame.gray()).to(device)
        return gray, lab.gray_to_lightness(gray)

    codes = np.arange(256, dtype=np.uint8)[None]
    every = torch.from_numpy(Frame(0, 0, 0, codes, 8, "tv").gray()[0])  # type: ignore[arg-type]
    table = torch.stack([every, lab.gray_to_lightness(every)]).to(device)

    def lookup() -> tuple[torch.Tensor, torch.Tensor]:
        index = torch.from_numpy(luma).to(device).int().flatten()
        gray, lightness = table.index_select(1, index).view(2, height, width)
        return gray, lightness

    ab = torch.randn(2, 240, 320, device=device) * 0.2

    def chroma() -> None:
        gray, lightness = lookup()
        ab_full = torch.nn.functional.interpolate(
            ab[None], size=(height, width), mode="bilinear", align_corners=False
        )[0]
        rgb = lab.lab_to_rgb(torch.cat([lightness[None], lab.denormalize_ab(ab_full)]))
        cb, cr = limit_chroma(gray, *chroma_from_rgb(rgb, "bt709"), "bt709")
        torch.stack([cb, cr]).cpu().numpy()

    a, b = formula(), lookup()
    diff = max(float((x - y).abs().max()) for x, y in zip(a, b, strict=True))
    print(f"{width}x{height} on {device}, {torch.get_num_threads()} torch threads")
    print(f"grey + L* by formula: {best_ms(formula, args.repeats):7.2f} ms (twice per frame)")
    print(f"grey + L* by table:   {best_ms(lookup, args.repeats):7.2f} ms (twice per frame)")
    print(f"chroma (table grey):  {best_ms(chroma, args.repeats):7.2f} ms")
    print(f"largest difference formula vs table: {diff:.3g}")


if __name__ == "__main__":
    main()
