"""Training configuration, read from a TOML file (``flowchroma train CONFIG``).

Example::

    [data]
    clips = ["../shared/data/clips"]
    photos = ["../shared/data/photos"]
    holdout = 4                # whole videos kept out for validation

    [model]                    # any FlowChromaConfig field
    input_height = 120
    input_width = 160
    clip_length = 8

    [train]
    steps = 3000
    batch = 4
    lr = 1e-3
    loss = "huber_temporal"    # or "mse" (the seed's)
    run_dir = "runs/small"
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, get_args

from flowchroma_core.errors import FlowChromaError
from flowchroma_core.model.network import FlowChromaConfig

LossName = Literal["mse", "huber_temporal", "classes"]
LOSSES: tuple[str, ...] = get_args(LossName)


class TrainConfigError(FlowChromaError):
    """The training configuration file is invalid; the message names the key."""


@dataclass(frozen=True)
class DataConfig:
    clips: tuple[str, ...] = ()
    photos: tuple[str, ...] = ()
    holdout: int = 4  # whole videos held out for validation
    photo_fraction: float = 0.25  # share of training clips made from photographs
    cache_dir: str = ""  # frames and backbone features; default: <run_dir>/cache
    max_frames_per_video: int = 0  # 0: all
    photo_stride: int = 1  # v2: every n-th photograph (the cache holds backbone maps per frame)
    carried_finest_scale: int = -1  # v2: DIS finest scale of the carried colour; -1: the product's


@dataclass(frozen=True)
class TrainSettings:
    steps: int = 3000
    batch: int = 4
    lr: float = 1e-3
    weight_decay: float = 1e-4
    clip_grad: float = 1.0
    warmup: int = 100
    seed: int = 0
    loss: str = "huber_temporal"
    huber_delta: float = 0.05
    temporal_weight: float = 0.5
    checkpoint_every: int = 250
    validate_every: int = 250
    device: str = "auto"
    precision: str = "fp32"  # bf16 / fp16 autocast on CUDA
    run_dir: str = "runs/flowchroma"
    threads: int = 0  # CPU threads for torch; 0: PyTorch's default
    photos: int = 8  # v2: photographs (one-frame clips) per step, beside `batch` video clips
    guide_from: int = -1  # v2: simulated restorer guidance from this step on (-1: never)
    init_from: str = ""  # v2: start from this model file's weights (new guidance paths at zero)
    guidance_only: bool = False  # v2: train only the guidance paths (automatic result kept)
    blend_weight: float = 0.0  # v2: L1 of the full-resolution guided a*b* (guide_blend models)
    spread_points: bool = False  # v2: simulated points spread over their regions, as at inference


@dataclass(frozen=True)
class TrainConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: FlowChromaConfig = field(default_factory=FlowChromaConfig)
    train: TrainSettings = field(default_factory=TrainSettings)
    source: str = ""  # the file it was read from


def _section(cls: type, data: dict[str, Any], name: str) -> Any:
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise TrainConfigError(f"[{name}]: unknown keys {', '.join(unknown)}")
    values = {}
    for key, value in data.items():
        if isinstance(value, list):
            value = tuple(value)
        values[key] = value
    return cls(**values)


def load_train_config(path: Path) -> TrainConfig:
    """Read and validate a training TOML; relative data paths are taken from its folder."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise TrainConfigError(f"{path}: file not found") from e
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise TrainConfigError(f"{path}: cannot read ({e})") from e
    unknown = sorted(set(raw) - {"data", "model", "train"})
    if unknown:
        raise TrainConfigError(f"{path}: unknown sections {', '.join(unknown)}")
    base = path.parent
    data = _section(DataConfig, raw.get("data", {}), "data")
    data = DataConfig(
        **{
            **data.__dict__,
            "clips": tuple(str((base / p).resolve()) for p in data.clips),
            "photos": tuple(str((base / p).resolve()) for p in data.photos),
            "cache_dir": str((base / data.cache_dir).resolve()) if data.cache_dir else "",
        }
    )
    try:
        model = FlowChromaConfig.from_dict(raw.get("model", {}))
    except (ValueError, TypeError) as e:
        raise TrainConfigError(f"{path}: [model]: {e}") from e
    train = _section(TrainSettings, raw.get("train", {}), "train")
    if train.loss not in LOSSES:
        raise TrainConfigError(f"{path}: [train] loss must be one of {', '.join(LOSSES)}")
    if not data.clips and not data.photos:
        raise TrainConfigError(f"{path}: [data] names no clips or photos folders")
    run_dir = Path(train.run_dir)
    if not run_dir.is_absolute():
        train = TrainSettings(**{**train.__dict__, "run_dir": str((base / run_dir).resolve())})
    if train.init_from and not Path(train.init_from).is_absolute():
        train = TrainSettings(
            **{**train.__dict__, "init_from": str((base / train.init_from).resolve())}
        )
    return TrainConfig(data=data, model=model, train=train, source=str(path))
