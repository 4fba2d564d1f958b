"""Default FlowChroma model: trainable parameters, output shape and one clip's forward time.

    python benchmarks/model_forward.py [--device auto] [--repeats 3]

Prints the backbone (frozen ImageNet classifier) time separately from the rest, because
inference computes backbone features once per frame and reuses them across windows.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from flowchroma_core.model.device import describe_device, select_device
from flowchroma_core.model.network import DEFAULT_CONFIG, FlowChroma


def _timed(fn, device: torch.device, repeats: int) -> tuple[float, object]:
    out = fn()  # warm-up
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        out = fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    device = select_device(args.device)
    cfg = DEFAULT_CONFIG
    model = FlowChroma(cfg, backbone_weights="pretrained").to(device).eval()
    l = torch.rand(1, cfg.clip_length, 1, cfg.input_height, cfg.input_width, device=device) * 2 - 1
    with torch.inference_mode():
        t_backbone, feats = _timed(lambda: model.backbone_features(l), device, args.repeats)
        t_rest, (ab, _) = _timed(lambda: model(l, features=feats), device, args.repeats)
    print(f"device:                 {describe_device(device)}")
    print(f"trainable parameters:   {model.trainable_parameters():,}")
    frozen = sum(p.numel() for p in model.backbone.parameters())
    print(f"frozen backbone params: {frozen:,} ({cfg.backbone})")
    print(f"input clip:             {tuple(l.shape)}")
    print(f"output a*b*:            {tuple(ab.shape)}")
    print(f"backbone, 16 frames:    {t_backbone:.3f} s")
    print(f"colorizer, 16 frames:   {t_rest:.3f} s (features cached)")
    total = t_backbone + t_rest
    print(f"whole clip:             {total:.3f} s = {cfg.clip_length / total:.2f} frames/s")


if __name__ == "__main__":
    main()
