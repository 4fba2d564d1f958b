"""Training data: colour videos and photographs, cached once, sampled as inference sees them.

``build_cache`` decodes every video once into a compact frame store (resized to cover the
model's input with a margin for random crops) and runs the frozen backbone once per
frame (and once per photograph), saving the logits. Training then costs only the
trainable part of the network.

``ClipSampler.batch(step)`` is a pure function of (seed, step): resuming at step k draws
exactly the batches an uninterrupted run would have drawn, with no sampler state to save.
Clips are T *consecutive* frames (or every second frame, as a speed change), never the
every-third-frame sampling of the original paper that inference never sees. Photographs
become pseudo-clips with a small, smooth camera move. Whole videos are held out.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm import tqdm

from flowchroma_core.colour import lab
from flowchroma_core.errors import FlowChromaError
from flowchroma_core.fileio import atomic_path
from flowchroma_core.model.network import FlowChroma
from flowchroma_core.training.config import DataConfig
from flowchroma_core.video.reader import IMAGE_EXTENSIONS, read_rgb

logger = logging.getLogger(__name__)

VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".mpg", ".mxf")
MARGIN = 1.15  # stored frames cover the model input by this much, for random crops
PHOTO_MARGIN = 1.3  # photos get more room for the pseudo camera move
FEATURE_BATCH = 32


@dataclass(frozen=True)
class VideoEntry:
    name: str
    frames: int
    holdout: bool


def list_videos(folders: Sequence[str]) -> list[Path]:
    return sorted(
        p for f in folders for p in Path(f).iterdir() if p.suffix.lower() in VIDEO_EXTENSIONS
    )


def list_photos(folders: Sequence[str]) -> list[Path]:
    exts = {e for e in IMAGE_EXTENSIONS if e not in (".dpx",)}
    return sorted(p for f in folders for p in Path(f).iterdir() if p.suffix.lower() in exts)


def cover(rgb: np.ndarray, h: int, w: int) -> np.ndarray:
    """Resize (aspect kept) so that the image covers h x w, then centre-crop to it."""
    ih, iw = rgb.shape[:2]
    scale = max(h / ih, w / iw)
    nh, nw = max(h, round(ih * scale)), max(w, round(iw * scale))
    resized = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA)
    top, left = (nh - h) // 2, (nw - w) // 2
    return resized[top : top + h, left : left + w]


def luma_lightness(rgb: Tensor) -> Tensor:
    """L* the model sees at inference for an RGB frame (..., 3, H, W) in [0, 1].

    Inference reads a film's luma Y' and treats it as a neutral grey, so training does the
    same (BT.601 luma, as the films and clips here are SD), not the true L* of the colour.
    """
    r, g, b = rgb.unbind(-3)
    y = 0.299 * r + 0.587 * g + 0.114 * b
    return lab.gray_to_lightness(y).unsqueeze(-3)


class DataCache:
    """Frames and backbone logits on disk, memory-mapped for sampling."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        index = json.loads((self.root / "index.json").read_text())
        self.key = index["key"]
        self.videos = [VideoEntry(**v) for v in index["videos"]]
        self.frames = {
            v.name: np.load(self.root / f"{v.name}.frames.npy", mmap_mode="r") for v in self.videos
        }
        self.features = {
            v.name: np.load(self.root / f"{v.name}.features.npy", mmap_mode="r")
            for v in self.videos
        }
        self.photos = None
        self.photo_features = None
        if (self.root / "photos.frames.npy").exists():
            self.photos = np.load(self.root / "photos.frames.npy", mmap_mode="r")
            self.photo_features = np.load(self.root / "photos.features.npy", mmap_mode="r")
        self.summary = index["summary"]

    @property
    def train_videos(self) -> list[VideoEntry]:
        return [v for v in self.videos if not v.holdout]

    @property
    def holdout_videos(self) -> list[VideoEntry]:
        return [v for v in self.videos if v.holdout]


def _cache_key(data: DataConfig, model: FlowChroma) -> str:
    cfg = model.config
    text = json.dumps(
        [
            list(data.clips),
            list(data.photos),
            data.holdout,
            data.max_frames_per_video,
            cfg.input_height,
            cfg.input_width,
            cfg.backbone,
            MARGIN,
            PHOTO_MARGIN,
        ],
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@torch.inference_mode()
def _features(model: FlowChroma, frames: np.ndarray, device: torch.device) -> np.ndarray:
    """Backbone logits (N, 1000) of stored frames, seen whole at the model's input size."""
    cfg = model.config
    out = []
    for i in range(0, len(frames), FEATURE_BATCH):
        rgb = torch.from_numpy(np.ascontiguousarray(frames[i : i + FEATURE_BATCH])).to(device)
        rgb = rgb.permute(0, 3, 1, 2).float() / 255.0
        rgb = F.interpolate(
            rgb, size=(cfg.input_height, cfg.input_width), mode="bilinear", antialias=True
        )
        l = lab.normalize_l(luma_lightness(rgb))
        out.append(model.backbone_features(l[None])[0].cpu().numpy().astype(np.float16))
    return np.concatenate(out)


def build_cache(
    data: DataConfig, model: FlowChroma, root: Path, *, device: torch.device
) -> DataCache:
    """Decode and featurise everything once; reuse the cache when nothing changed."""
    root = Path(root)
    key = _cache_key(data, model)
    index_path = root / "index.json"
    if index_path.exists() and json.loads(index_path.read_text()).get("key") == key:
        logger.info("using the data cache in %s", root)
        return DataCache(root)
    root.mkdir(parents=True, exist_ok=True)
    cfg = model.config
    vh, vw = round(cfg.input_height * MARGIN), round(cfg.input_width * MARGIN)
    videos = list_videos(data.clips)
    if len(videos) <= data.holdout and data.clips:
        raise FlowChromaError(f"{len(videos)} videos found: too few to hold {data.holdout} out")
    # hold out evenly spaced whole videos (deterministic, independent of the seed)
    held = (
        set(np.linspace(0, len(videos) - 1, data.holdout).round().astype(int))
        if data.holdout
        else set()
    )
    entries = []
    for i, path in enumerate(tqdm(videos, desc="decoding videos", unit="video")):
        frames = np.stack(
            [cover(f, vh, vw) for f in read_rgb(path, max_frames=data.max_frames_per_video)]
        )
        name = f"{i:03d}_{path.stem}"
        np.save(root / f"{name}.frames.npy", frames)
        np.save(root / f"{name}.features.npy", _features(model, frames, device))
        entries.append(VideoEntry(name, len(frames), i in held))
    photos = list_photos(data.photos)
    if photos:
        ph, pw = round(cfg.input_height * PHOTO_MARGIN), round(cfg.input_width * PHOTO_MARGIN)
        stack = np.stack(
            [
                cover(cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB), ph, pw)
                for p in tqdm(photos, desc="reading photos", unit="photo")
            ]
        )
        np.save(root / "photos.frames.npy", stack)
        np.save(root / "photos.features.npy", _features(model, stack, device))
    summary = {
        "videos": len(videos),
        "video_frames": sum(e.frames for e in entries),
        "holdout_videos": [e.name for e in entries if e.holdout],
        "photos": len(photos),
        "folders": [*data.clips, *data.photos],
    }
    with atomic_path(index_path) as tmp:
        tmp.write_text(
            json.dumps({"key": key, "videos": [e.__dict__ for e in entries], "summary": summary})
        )
    return DataCache(root)


class ClipSampler:
    """Deterministic batches of training clips drawn from a cache."""

    def __init__(
        self,
        cache: DataCache,
        *,
        clip_length: int,
        height: int,
        width: int,
        photo_fraction: float,
        seed: int,
    ) -> None:
        self.cache = cache
        self.t, self.h, self.w = clip_length, height, width
        self.photo_fraction = photo_fraction if cache.photos is not None else 0.0
        self.seed = seed
        videos = [v for v in cache.train_videos if v.frames >= clip_length]
        if not videos and self.photo_fraction < 1.0:
            raise FlowChromaError(f"no training video has {clip_length} frames")
        self.videos = videos
        weights = np.array([v.frames for v in videos], dtype=np.float64)
        self.video_p = torch.from_numpy(weights / weights.sum()) if videos else None

    def _generator(self, step: int, item: int) -> torch.Generator:
        return torch.Generator().manual_seed(self.seed * 1_000_003 + step * 1009 + item)

    def batch(self, step: int, batch: int) -> tuple[Tensor, Tensor]:
        """RGB clips (B, T, 3, H, W) in [0, 1] and their logits (B, T, 1000) for ``step``."""
        clips, feats = [], []
        for item in range(batch):
            g = self._generator(step, item)
            if torch.rand((), generator=g) < self.photo_fraction:
                clip, feat = self._photo_clip(g)
            else:
                clip, feat = self._video_clip(g)
            clips.append(clip)
            feats.append(feat)
        return torch.stack(clips), torch.stack(feats)

    def _video_clip(self, g: torch.Generator) -> tuple[Tensor, Tensor]:
        video = self.videos[int(torch.multinomial(self.video_p, 1, generator=g))]
        stride = 2 if torch.rand((), generator=g) < 0.25 and video.frames >= 2 * self.t else 1
        span = (self.t - 1) * stride + 1
        first = int(torch.randint(0, video.frames - span + 1, (), generator=g))
        idx = np.arange(first, first + span, stride)
        frames = self.cache.frames[video.name][idx]  # (T, Hc, Wc, 3)
        return self._crop(frames, g), torch.from_numpy(
            self.cache.features[video.name][idx].astype(np.float32)
        )

    def _crop(self, frames: np.ndarray, g: torch.Generator) -> Tensor:
        hc, wc = frames.shape[1:3]
        top = int(torch.randint(0, hc - self.h + 1, (), generator=g))
        left = int(torch.randint(0, wc - self.w + 1, (), generator=g))
        clip = torch.from_numpy(
            np.array(frames[:, top : top + self.h, left : left + self.w])
        )
        clip = clip.permute(0, 3, 1, 2).float() / 255.0
        if torch.rand((), generator=g) < 0.5:
            clip = clip.flip(-1)
        return clip

    def _photo_clip(self, g: torch.Generator) -> tuple[Tensor, Tensor]:
        assert self.cache.photos is not None and self.cache.photo_features is not None
        i = int(torch.randint(0, len(self.cache.photos), (), generator=g))
        photo = (
            torch.from_numpy(np.array(self.cache.photos[i])).permute(2, 0, 1).float()
            / 255.0
        )
        ph, pw = photo.shape[1:]
        # a smooth move: the crop box slides and zooms slightly from the first frame to the last
        z0, z1 = (1.0 + 0.15 * torch.rand(2, generator=g)).tolist()
        boxes = []
        cy0, cx0, cy1, cx1 = torch.rand(4, generator=g).tolist()
        for k in range(self.t):
            a = k / max(1, self.t - 1)
            z = z0 + (z1 - z0) * a
            bh, bw = min(ph, round(self.h * z)), min(pw, round(self.w * z))
            cy = (cy0 + (cy1 - cy0) * 0.3 * a) * (ph - bh)
            cx = (cx0 + (cx1 - cx0) * 0.3 * a) * (pw - bw)
            boxes.append((round(cy), round(cx), bh, bw))
        frames = [
            F.interpolate(
                photo[None, :, y : y + bh, x : x + bw],
                size=(self.h, self.w),
                mode="bilinear",
                antialias=True,
                align_corners=False,
            )[0]
            for y, x, bh, bw in boxes
        ]
        clip = torch.stack(frames)
        if torch.rand((), generator=g) < 0.5:
            clip = clip.flip(-1)
        feat = torch.from_numpy(self.cache.photo_features[i].astype(np.float32)).expand(self.t, -1)
        return clip, feat

    def validation_clips(self, per_video: int = 6) -> list[tuple[Tensor, Tensor]]:
        """Fixed clips from the held-out videos (centre crops, no augmentation)."""
        out = []
        for video in self.cache.holdout_videos:
            if video.frames < self.t:
                continue
            frames = self.cache.frames[video.name]
            hc, wc = frames.shape[1:3]
            top, left = (hc - self.h) // 2, (wc - self.w) // 2
            for first in np.linspace(0, video.frames - self.t, per_video).round().astype(int):
                sel = frames[first : first + self.t, top : top + self.h, left : left + self.w]
                clip = (
                    torch.from_numpy(np.array(sel)).permute(0, 3, 1, 2).float() / 255.0
                )
                feat = torch.from_numpy(
                    self.cache.features[video.name][first : first + self.t].astype(np.float32)
                )
                out.append((clip, feat))
        return out
