"""FlowChroma model files: safetensors tensors plus JSON metadata, never pickle.

A model file holds the trainable weights only; the frozen ImageNet backbone is named in
the metadata and resolved separately (see ``backbones``), which keeps shipped models small.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from flowchroma_core import __version__
from flowchroma_core.errors import ModelFileError
from flowchroma_core.fileio import atomic_path
from flowchroma_core.model.network import FlowChroma, FlowChromaConfig, create_model

logger = logging.getLogger(__name__)

FORMAT_NAME = "flowchroma-model"
FORMAT_VERSION = 1
BACKBONE_PREFIX = "backbone."

_PICKLE_SIGNATURES = {
    b"PK\x03\x04": "a PyTorch checkpoint (zip of pickles)",
    b"\x80": "a Python pickle",
}


@dataclass
class ModelMetadata:
    """What a model file says about itself, stored as JSON in the safetensors header."""

    config: FlowChromaConfig
    backbone_source: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    evaluation: dict[str, Any] = field(default_factory=dict)
    flowchroma_version: str = __version__
    format_version: int = FORMAT_VERSION
    created: str = ""

    def to_json(self) -> str:
        data = asdict(self)
        data["config"] = self.config.to_dict()
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelMetadata:
        data = json.loads(text)
        data["config"] = FlowChromaConfig.from_dict(data["config"])
        return cls(**data)


def save_model(
    model: FlowChroma,
    path: Path,
    *,
    training: dict[str, Any] | None = None,
    evaluation: dict[str, Any] | None = None,
) -> ModelMetadata:
    """Write the trainable weights and metadata; the file appears only once complete."""
    path = Path(path)
    meta = ModelMetadata(
        config=model.config,
        backbone_source=asdict(model.backbone_source),
        training=training or {},
        evaluation=evaluation or {},
        created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    )
    tensors = {k: v.detach().cpu().contiguous() for k, v in trainable_state_dict(model).items()}
    header = {"format": FORMAT_NAME, "metadata": meta.to_json()}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=header)
    logger.info("saved model to %s (%d tensors)", path, len(tensors))
    return meta


DEFAULT_MODEL_NAME = "flowchroma_default.safetensors"


def default_model_path() -> Path | None:
    """The model shipped in ``assets/`` (installed as ``flowchroma_assets``), if present."""
    try:
        path = Path(str(resources.files("flowchroma_assets") / DEFAULT_MODEL_NAME))
    except ModuleNotFoundError:
        return None
    return path if path.is_file() else None


def trainable_state_dict(model: FlowChroma) -> dict[str, torch.Tensor]:
    """The model's state without the frozen backbone."""
    return {k: v for k, v in model.state_dict().items() if not k.startswith(BACKBONE_PREFIX)}


def read_metadata(path: Path) -> ModelMetadata:
    """Read and check a model file's header without building the model."""
    path = Path(path)
    _refuse_non_safetensors(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            header = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as e:
        raise ModelFileError(f"{path}: not a readable safetensors model file ({e})") from e
    if header.get("format") != FORMAT_NAME or "metadata" not in header:
        raise ModelFileError(f"{path}: a safetensors file, but not a FlowChroma model")
    try:
        data = json.loads(header["metadata"])
        if problem := _config_type_problem(data.get("config")):
            raise ModelFileError(f"{path}: bad model metadata: {problem}")
        meta = ModelMetadata.from_json(header["metadata"])
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise ModelFileError(f"{path}: unreadable FlowChroma metadata ({e})") from e
    if meta.format_version > FORMAT_VERSION:
        raise ModelFileError(
            f"{path}: model format {meta.format_version} is newer than this FlowChroma "
            f"({__version__}) understands; update FlowChroma Studio"
        )
    return meta


def load_model(
    path: Path,
    *,
    expect: FlowChromaConfig | None = None,
    backbone_weights: Literal["pretrained", "random"] | Path = "pretrained",
    allow_download: bool = False,
    device: torch.device | str = "cpu",
) -> tuple[FlowChroma, ModelMetadata]:
    """Build the model a file describes and load its weights exactly.

    ``expect`` refuses a file whose configuration differs from the one the caller needs,
    naming each difference.
    """
    path = Path(path)
    meta = read_metadata(path)
    if expect is not None and (diff := meta.config.differences(expect)):
        raise ModelFileError(
            f"{path}: configuration does not match (file != expected): {'; '.join(diff)}"
        )
    try:
        model = create_model(
            meta.config, backbone_weights=backbone_weights, allow_download=allow_download
        )
    except (ValueError, TypeError, RuntimeError, KeyError) as e:
        raise ModelFileError(f"{path}: cannot build the model its metadata describes ({e})") from e
    wanted = trainable_state_dict(model)
    with safe_open(str(path), framework="pt") as f:
        keys = set(f.keys())
        missing = sorted(set(wanted) - keys)
        unexpected = sorted(keys - set(wanted))
        if missing or unexpected:
            raise ModelFileError(
                f"{path}: tensors do not match its configuration: "
                f"missing {missing[:3]}, unexpected {unexpected[:3]}"
            )
        tensors = {}
        for key in sorted(keys):
            shape = tuple(f.get_slice(key).get_shape())
            if shape != tuple(wanted[key].shape):
                raise ModelFileError(
                    f"{path}: tensor {key} has shape {shape}, the configuration needs "
                    f"{tuple(wanted[key].shape)}"
                )
            tensors[key] = f.get_tensor(key)
            _check_finite(path, key, tensors[key])
    model.load_state_dict(tensors, strict=False)
    model.to(device).eval()
    logger.info("loaded model %s (backbone %s)", path, meta.config.backbone)
    return model, meta


def _check_finite(path: Path, key: str, tensor: torch.Tensor) -> None:
    """Refuse NaN or infinite weights: such a model colours every frame with garbage."""
    if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
        bad = int((~torch.isfinite(tensor)).sum())
        raise ModelFileError(
            f"{path}: tensor {key} holds {bad} non-finite value(s) (NaN or infinity); "
            "the model file is damaged (or training diverged): use another model"
        )


def _config_type_problem(config: Any) -> str | None:
    """The first configuration value whose JSON type does not fit its field, in words."""
    if not isinstance(config, dict):
        return "config must be a JSON object"
    defaults = FlowChromaConfig()
    for name, value in config.items():
        if not hasattr(defaults, name):
            continue  # unknown keys are refused by FlowChromaConfig.from_dict
        default = getattr(defaults, name)
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, int):
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif isinstance(default, float):
            ok = isinstance(value, int | float) and not isinstance(value, bool)
        elif isinstance(default, str):
            ok = isinstance(value, str)
        elif isinstance(default, tuple):
            ok = isinstance(value, list | tuple) and all(
                (isinstance(v, int) and not isinstance(v, bool))
                or (isinstance(v, list | tuple) and all(isinstance(w, int) for w in v))
                for v in value
            )
        else:
            ok = True
        if not ok:
            kind = type(default).__name__.replace("tuple", "list")
            return f"config.{name} must be a {kind}, not {value!r}"
    return None


def _refuse_non_safetensors(path: Path) -> None:
    if not path.is_file():
        raise ModelFileError(f"{path}: model file not found")
    with path.open("rb") as f:
        head = f.read(9)
    size = int.from_bytes(head[:8], "little") if len(head) == 9 else -1
    if 0 < size < path.stat().st_size and head[8:9] == b"{":
        return  # a safetensors header: 8-byte length, then JSON
    for signature, what in _PICKLE_SIGNATURES.items():
        if head.startswith(signature):
            raise ModelFileError(
                f"{path}: this is {what}; FlowChroma loads only .safetensors model files, "
                "because unpickling a file can run arbitrary code"
            )
