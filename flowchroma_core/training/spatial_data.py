"""Training data for the v2 model: frames, packed backbone maps and optical flow, cached once.

The v2 model reads the frozen backbone's spatial maps, so a cached map is only valid for
the exact pixels it was computed on: frames are stored at the model's input size (cover
and centre-crop, no random crops) and their packed features (logits + maps at strides
4..32, fp16, memory-mapped) beside them. For the temporal term, OpenCV DIS flow from each
frame back to the previous one is stored at the head's resolution (stride 4) with a
forward-backward validity mask. The a*b* histogram of the stored frames gives the colour
classes and their prior.

``SpatialSampler.batch(step)`` is a pure function of (seed, step), as in ``data.py``:
video clips of T consecutive frames, photographs as one-frame clips, and, from a given
step on, simulated restorer guidance (ideepcolor-style points, reference stills).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from flowchroma_core.colour import lab
from flowchroma_core.errors import FlowChromaError
from flowchroma_core.fileio import atomic_path
from flowchroma_core.guidance.propagate import FINEST_SCALE, FlowField, carry_colour, to_gray8
from flowchroma_core.guidance.spread import spread_hints
from flowchroma_core.training import colour_classes
from flowchroma_core.training.config import DataConfig
from flowchroma_core.training.data import cover, list_photos, list_videos, luma_lightness
from flowchroma_core.video.reader import read_rgb

logger = logging.getLogger(__name__)

FLOW_STRIDE = 4
BATCH = 16
HINT_SCALE = 110.0


@dataclass(frozen=True)
class Entry:
    name: str
    frames: int
    holdout: bool


def _key(data: DataConfig, model: torch.nn.Module) -> str:
    cfg = model.config
    text = json.dumps(
        [
            "v2",
            list(data.clips),
            list(data.photos),
            data.holdout,
            data.max_frames_per_video,
            cfg.input_height,
            cfg.input_width,
            cfg.backbone,
        ]
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@torch.inference_mode()
def _featurise(model, frames: np.ndarray, out: np.ndarray) -> None:
    for i in range(0, len(frames), BATCH):
        rgb = torch.from_numpy(np.ascontiguousarray(frames[i : i + BATCH])).permute(0, 3, 1, 2)
        l = lab.normalize_l(luma_lightness(rgb.float() / 255.0))
        out[i : i + BATCH] = model.backbone_features(l[None])[0].numpy().astype(np.float16)


def _flow(frames: np.ndarray) -> np.ndarray:
    """(N, 3, H/4, W/4) fp16: backward flow of frame t to t - 1 in head pixels, valid mask."""
    n, h, w = frames.shape[:3]
    sh, sw = h // FLOW_STRIDE, w // FLOW_STRIDE
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    grey = [
        cv2.resize(
            cv2.cvtColor(f, cv2.COLOR_RGB2GRAY), (w // 2, h // 2), interpolation=cv2.INTER_AREA
        )
        for f in frames
    ]
    out = np.zeros((n, 3, sh, sw), np.float16)
    for t in range(1, n):
        back = dis.calc(grey[t], grey[t - 1], None)  # t -> t-1
        fwd = dis.calc(grey[t - 1], grey[t], None)
        hh, ww = back.shape[:2]
        gx, gy = np.meshgrid(np.arange(ww, dtype=np.float32), np.arange(hh, dtype=np.float32))
        fwd_at = cv2.remap(fwd, gx + back[..., 0], gy + back[..., 1], cv2.INTER_LINEAR)
        err = np.linalg.norm(back + fwd_at, axis=-1)
        inside = (
            (gx + back[..., 0] >= 0)
            & (gx + back[..., 0] <= ww - 1)
            & (gy + back[..., 1] >= 0)
            & (gy + back[..., 1] <= hh - 1)
        )
        valid = ((err < 1.0) & inside).astype(np.float32)
        scale = (w // 2) / sw
        small = cv2.resize(back, (sw, sh), interpolation=cv2.INTER_AREA) / scale
        out[t, :2] = small.transpose(2, 0, 1)
        out[t, 2] = cv2.resize(valid, (sw, sh), interpolation=cv2.INTER_AREA) > 0.99
    return out


def build_spatial_cache(
    data: DataConfig, model, root: Path, *, photo_stride: int = 1
) -> SpatialCache:
    """Decode, featurise and flow everything once; reuse the cache when nothing changed."""
    root = Path(root)
    key = _key(data, model)
    index_path = root / "index.json"
    if index_path.exists() and json.loads(index_path.read_text()).get("key") == key:
        logger.info("using the data cache in %s", root)
        return SpatialCache(root)
    root.mkdir(parents=True, exist_ok=True)
    cfg = model.config
    h, w = cfg.input_height, cfg.input_width
    dim = model.feature_size(h, w)
    counts = np.zeros((2 * colour_classes.EDGE // colour_classes.GRID,) * 2, np.int64)
    videos = list_videos(data.clips)
    held = set()
    if data.holdout and data.clips:
        first = list_videos(data.clips[:1])  # hold out whole videos of the first folder
        held = {first[i] for i in np.linspace(0, len(first) - 1, data.holdout).round().astype(int)}
    entries = []
    done = {p.name.split(".")[0] for p in root.glob("*.flow.npy")}
    for i, path in enumerate(tqdm(videos, desc="videos", unit="video")):
        name = f"{i:03d}_{path.stem}"[:80]
        if name in done:  # resumable build
            frames = np.load(root / f"{name}.frames.npy", mmap_mode="r")
        else:
            frames = np.stack(
                [cover(f, h, w) for f in read_rgb(path, max_frames=data.max_frames_per_video)]
            )
            feats = np.lib.format.open_memmap(
                root / f"{name}.features.npy", mode="w+", dtype=np.float16, shape=(len(frames), dim)
            )
            _featurise(model, frames, feats)
            feats.flush()
            np.save(root / f"{name}.frames.npy", frames)
            np.save(root / f"{name}.flow.npy", _flow(frames))
        counts += _ab_counts(frames)
        entries.append(Entry(name, len(frames), path in held))
    photos = list_photos(data.photos)[::photo_stride]
    if photos and not (root / "photos.features.npy").exists():
        stack = np.stack(
            [
                cover(cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB), h, w)
                for p in tqdm(photos, desc="photos", unit="photo")
            ]
        )
        feats = np.lib.format.open_memmap(
            root / "photos.features.npy.tmp", mode="w+", dtype=np.float16, shape=(len(stack), dim)
        )
        _featurise(model, stack, feats)
        feats.flush()
        del feats
        np.save(root / "photos.frames.npy", stack)
        (root / "photos.features.npy.tmp").rename(root / "photos.features.npy")
    if photos:
        counts += _ab_counts(np.load(root / "photos.frames.npy", mmap_mode="r"))
    summary = {
        "videos": len(videos),
        "video_frames": sum(e.frames for e in entries),
        "holdout_videos": [e.name for e in entries if e.holdout],
        "photos": len(photos),
        "folders": [*data.clips, *data.photos],
    }
    with atomic_path(index_path) as tmp:
        tmp.write_text(
            json.dumps(
                {
                    "key": key,
                    "videos": [e.__dict__ for e in entries],
                    "summary": summary,
                    "ab_counts": counts.tolist(),
                }
            )
        )
    return SpatialCache(root)


def carried_path(root: Path, name: str, finest_scale: int | None = None) -> Path:
    """Where a video's carried colour is cached; the name says the flow's finest scale
    (by default the product's, ``guidance.propagate.FINEST_SCALE``), so a cache made with
    another flow is rebuilt rather than trained on."""
    scale = FINEST_SCALE if finest_scale is None else finest_scale
    return root / f"{name}.carried-s{scale}.npy"


def build_carried(cache: SpatialCache, finest_scale: int | None = None) -> None:
    """Each video's frame 0 coloured and carried through its frames, once.

    ``carried_path`` (N, 3, H, W) fp16: a*/110, b*/110 and confidence, made by
    ``guidance.propagate.carry_colour`` exactly as a reference still of a film's own frame
    is carried at inference (grey = OpenCV's Rec. 601 luma of the stored frames), with DIS
    refined to ``finest_scale`` (by default the product's).
    """
    scale = FINEST_SCALE if finest_scale is None else finest_scale
    for v in tqdm(cache.videos, desc="carried colour", unit="video"):
        target = carried_path(cache.root, v.name, scale)
        if target.exists():
            continue
        frames = np.asarray(cache.frames[v.name])
        greys = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]
        # a copy: the cache is memory-mapped read-only, which torch.from_numpy warns about
        rgb = torch.from_numpy(frames[0].copy()).permute(2, 0, 1).float() / 255.0
        ab = lab.rgb_to_lab(rgb[None])[0, 1:].permute(1, 2, 0).numpy()
        carried = carry_colour(greys, 0, ab, flow=FlowField(finest_scale=scale))
        carried[..., :2] /= HINT_SCALE
        with atomic_path(target) as tmp, open(tmp, "wb") as f:
            np.save(f, carried.transpose(0, 3, 1, 2).astype(np.float16))
    cache.load_carried(scale)


def _ab_counts(frames: np.ndarray) -> np.ndarray:
    """a*b* histogram of every 4th pixel of every 2nd frame."""
    sub = torch.from_numpy(np.ascontiguousarray(frames[::2, ::4, ::4])).permute(0, 3, 1, 2)
    ab = lab.rgb_to_lab(sub.float() / 255.0)[:, 1:].permute(0, 2, 3, 1).numpy()
    return colour_classes.histogram(ab)


class SpatialCache:
    """The cache on disk, memory-mapped."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        index = json.loads((self.root / "index.json").read_text())
        self.videos = [Entry(**v) for v in index["videos"]]
        self.summary = index["summary"]
        self.ab_counts = np.array(index["ab_counts"], np.int64)

        def load(name: str) -> np.ndarray:
            return np.load(self.root / name, mmap_mode="r")

        self.frames = {v.name: load(f"{v.name}.frames.npy") for v in self.videos}
        self.features = {v.name: load(f"{v.name}.features.npy") for v in self.videos}
        self.flow = {v.name: load(f"{v.name}.flow.npy") for v in self.videos}
        self.carried: dict[str, np.ndarray] = {}
        self.load_carried()
        self.photos = self.photo_features = None
        if (self.root / "photos.features.npy").exists():
            self.photos = load("photos.frames.npy")
            self.photo_features = load("photos.features.npy")

    def load_carried(self, finest_scale: int | None = None) -> None:
        """Memory-map the carried-colour maps (``build_carried``) when all are there."""
        paths = {v.name: carried_path(self.root, v.name, finest_scale) for v in self.videos}
        if all(p.exists() for p in paths.values()):
            self.carried = {n: np.load(p, mmap_mode="r") for n, p in paths.items()}

    @property
    def train_videos(self) -> list[Entry]:
        return [v for v in self.videos if not v.holdout]

    @property
    def holdout_videos(self) -> list[Entry]:
        return [v for v in self.videos if v.holdout]


@dataclass
class Batch:
    """One training step's data (RGB in [0, 1])."""

    rgb: Tensor  # (B, T, 3, H, W)
    features: Tensor  # (B, T, D)
    flow: Tensor  # (B, T, 3, H/4, W/4)
    photos: Tensor  # (P, 1, 3, H, W)
    photo_features: Tensor  # (P, 1, D)
    hints: Tensor | None = None  # (B, T, 3, H, W)
    photo_hints: Tensor | None = None  # (P, 1, 3, H, W)
    references: Tensor | None = None  # (B, 1, 3, H, W) normalised Lab (a*, b* / 110)
    reference_features: Tensor | None = None  # (B, 1, D)
    reference_present: Tensor | None = None  # (B,)


class SpatialSampler:
    """Deterministic batches for the v2 model."""

    def __init__(
        self,
        cache: SpatialCache,
        *,
        clip_length: int,
        clips: int,
        photos: int,
        seed: int,
        guide_from: int | None = None,
        spread_points: bool = False,
    ) -> None:
        self.cache, self.t, self.clips, self.n_photos, self.seed = (
            cache,
            clip_length,
            clips,
            photos,
            seed,
        )
        self.guide_from = guide_from
        self.spread_points = spread_points
        self.videos = [v for v in cache.train_videos if v.frames >= clip_length]
        if not self.videos:
            raise FlowChromaError(f"no training video has {clip_length} frames")
        weights = np.array([v.frames for v in self.videos], np.float64)
        self.video_p = torch.from_numpy(weights / weights.sum())
        if cache.photos is None:
            self.n_photos = 0

    def _g(self, step: int, item: int) -> torch.Generator:
        return torch.Generator().manual_seed(self.seed * 1_000_003 + step * 1009 + item)

    def _pick_video(self, g: torch.Generator) -> Entry:
        return self.videos[int(torch.multinomial(self.video_p, 1, generator=g))]

    def _guidance_mode(self, v: Entry, g: torch.Generator) -> tuple[str, Entry | None, int]:
        """What guidance one clip gets: (mode, the reference's video or None, its frame).

        With carried-colour maps in the cache: half the clips get their video's frame 0 as
        a still of its own frame (the carried colour as hints, and the still as reference);
        a quarter ideepcolor points (and half of those a reference from their own video);
        15 % a reference from another video (to be ignored); the rest nothing. Without the
        maps: the points and references of the first guidance fine-tune.
        """
        u = float(torch.rand((), generator=g))
        if not self.cache.carried:
            src = v if u < 0.45 else self._pick_video(g) if u < 0.6 else None
            k = int(torch.randint(0, src.frames, (), generator=g)) if src else 0
            return "points", src, k
        if u < 0.5:
            return "carried", v, 0
        if u < 0.75:
            own = float(torch.rand((), generator=g)) < 0.5
            return "points", v if own else None, int(torch.randint(0, v.frames, (), generator=g))
        if u < 0.9:
            other = self._pick_video(g)
            return "mismatch", other, int(torch.randint(0, other.frames, (), generator=g))
        return "none", None, 0

    def batch(self, step: int) -> Batch:
        rgbs, feats, flows, refs, ref_feats, present = [], [], [], [], [], []
        modes: list[str] = []
        carried: list[Tensor] = []
        guided = self.guide_from is not None and step >= self.guide_from
        for item in range(self.clips):
            g = self._g(step, item)
            v = self._pick_video(g)
            first = int(torch.randint(0, v.frames - self.t + 1, (), generator=g))
            idx = slice(first, first + self.t)
            rgbs.append(torch.from_numpy(np.array(self.cache.frames[v.name][idx])))
            feats.append(torch.from_numpy(np.array(self.cache.features[v.name][idx])))
            flows.append(torch.from_numpy(np.array(self.cache.flow[v.name][idx])))
            if guided:
                mode, src, k = self._guidance_mode(v, g)
                modes.append(mode)
                if mode == "carried":
                    carried.append(torch.from_numpy(np.array(self.cache.carried[v.name][idx])))
                if src is not None:
                    refs.append(torch.from_numpy(np.array(self.cache.frames[src.name][k])))
                    ref_feats.append(torch.from_numpy(np.array(self.cache.features[src.name][k])))
                    present.append(1.0)
                else:
                    refs.append(torch.zeros_like(rgbs[-1][0]))
                    ref_feats.append(torch.zeros_like(feats[-1][0]))
                    present.append(0.0)
        rgb = torch.stack(rgbs).permute(0, 1, 4, 2, 3).float() / 255.0
        batch = Batch(
            rgb=rgb,
            features=torch.stack(feats).float(),
            flow=torch.stack(flows).float(),
            photos=torch.zeros(0, 1, *rgb.shape[2:]),
            photo_features=torch.zeros(0, 1, batch_dim(feats)),
        )
        if self.n_photos:
            g = self._g(step, 10_000)
            idx = torch.randint(0, len(self.cache.photos), (self.n_photos,), generator=g).tolist()
            batch.photos = (
                torch.from_numpy(np.stack([self.cache.photos[i] for i in idx]))
                .permute(0, 3, 1, 2)[:, None]
                .float()
                / 255.0
            )
            batch.photo_features = torch.from_numpy(
                np.stack([self.cache.photo_features[i] for i in idx])
            )[:, None].float()
        if guided:
            g = self._g(step, 20_000)
            hints = simulate_hints(batch.rgb, g)
            if self.spread_points:
                hints = spread_simulated(hints, batch.rgb, [m == "points" for m in modes])
            dense = iter(carried)
            for i, mode in enumerate(modes):
                if mode == "carried":
                    hints[i] = next(dense).float()
                elif mode != "points":
                    hints[i] = 0
            batch.hints = hints
            if self.n_photos:
                batch.photo_hints = simulate_hints(batch.photos, g)
                if self.spread_points:
                    batch.photo_hints = spread_simulated(batch.photo_hints, batch.photos)
            ref = torch.stack(refs).permute(0, 3, 1, 2).float() / 255.0
            batch.references = reference_lab(ref)[:, None]
            batch.reference_features = torch.stack(ref_feats).float()[:, None]
            batch.reference_present = torch.tensor(present)
        return batch

    def validation(self, per_video: int = 4) -> list[Batch]:
        """Fixed clips of the held-out videos."""
        out = []
        for v in self.cache.holdout_videos:
            if v.frames < self.t:
                continue
            for first in np.linspace(0, v.frames - self.t, per_video).round().astype(int):
                idx = slice(first, first + self.t)
                rgb = torch.from_numpy(np.array(self.cache.frames[v.name][idx]))
                out.append(
                    Batch(
                        rgb=rgb.permute(0, 3, 1, 2)[None].float() / 255.0,
                        features=torch.from_numpy(np.array(self.cache.features[v.name][idx]))[
                            None
                        ].float(),
                        flow=torch.from_numpy(np.array(self.cache.flow[v.name][idx]))[None].float(),
                        photos=torch.zeros(0),
                        photo_features=torch.zeros(0),
                    )
                )
        return out


def batch_dim(feats: list[Tensor]) -> int:
    return int(feats[0].shape[-1])


def reference_lab(rgb: Tensor) -> Tensor:
    """RGB (N, 3, H, W) in [0, 1] -> the model's reference input: L*/50 - 1, a*/110, b*/110."""
    full = lab.rgb_to_lab(rgb)
    return torch.cat([lab.normalize_l(luma_lightness(rgb)), full[:, 1:] / HINT_SCALE], 1)


def spread_simulated(hints: Tensor, rgb: Tensor, which: list[bool] | None = None) -> Tensor:
    """Simulated points (B, T, 3, H, W) spread over their regions of each frame, as the
    product spreads a keyframe's points before the network sees them (``guidance.spread``;
    ``guidance.film`` then carries the spread map with the keyframe's fading confidence).

    Each frame's points are spread on that frame's grey (``to_gray8``, as at inference)
    with confidence 1 on the points, and the whole map then takes the frame's confidence
    (the points' own, which fades with the distance from the keyframe). Only the clips
    ``which`` marks (all by default) are spread; the others are returned as they are.
    """
    out = hints.clone()
    for i in range(hints.shape[0]):
        if which is not None and not which[i]:
            continue
        for t in range(hints.shape[1]):
            conf = hints[i, t, 2]
            if not bool((conf > 0).any()):
                continue
            frame = rgb[i, t].permute(1, 2, 0).numpy()
            grey = torch.from_numpy(to_gray8(frame).astype(np.float32) / 255.0)
            seeds = hints[i, t].clone()
            seeds[2] = (conf > 0).float()
            spread = spread_hints(seeds, grey)
            spread[2] *= conf.max()
            out[i, t] = spread
    return out


def simulate_hints(rgb: Tensor, g: torch.Generator) -> Tensor:
    """ideepcolor-style points for clips (B, T, 3, H, W): (B, T, 3, H, W) a_h, b_h, confidence.

    Per clip: a count from a geometric distribution from 0 (p = 1/8, so 12.5 % get none);
    a keyframe; square patches of 1..9 px at 176 px scaled to our size, placed around the
    centre (sd a quarter of the frame); the value is the true patch-mean a*b*. Other frames
    of the clip get the same patches with their own true colour and a confidence that
    decays with the distance from the keyframe, as flow-propagated points at inference.
    """
    b, t, _, h, w = rgb.shape
    ab = lab.rgb_to_lab(rgb.flatten(0, 1))[:, 1:].view(b, t, 2, h, w) / HINT_SCALE
    hints = torch.zeros(b, t, 3, h, w)
    scale = max(h, w) / 176.0
    for i in range(b):
        n = 0
        while float(torch.rand((), generator=g)) < 1 - 1 / 8 and n < 60:
            n += 1
        k = int(torch.randint(0, t, (), generator=g))
        conf = torch.exp(-torch.abs(torch.arange(t) - k).float() / 16.0)
        for _ in range(n):
            p = max(1, round(float(torch.randint(1, 10, (), generator=g)) * scale))
            cy = int(
                np.clip(h / 2 + float(torch.randn((), generator=g)) * (h - p + 1) / 4, 0, h - p)
            )
            cx = int(
                np.clip(w / 2 + float(torch.randn((), generator=g)) * (w - p + 1) / 4, 0, w - p)
            )
            patch = ab[i, :, :, cy : cy + p, cx : cx + p].mean((-1, -2))  # (T, 2)
            hints[i, :, :2, cy : cy + p, cx : cx + p] = patch[:, :, None, None]
            hints[i, :, 2, cy : cy + p, cx : cx + p] = conf[:, None, None]
    return hints
