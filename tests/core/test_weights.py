"""Model files: exact round trips, and refusals that say what is wrong."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from flowchroma_core.errors import ModelFileError
from flowchroma_core.model.files import load_model, read_metadata, save_model, trainable_state_dict
from flowchroma_core.model.network import TINY_CONFIG, FlowChroma


@pytest.fixture()
def saved(tmp_path: Path) -> tuple[FlowChroma, Path]:
    torch.manual_seed(1)
    model = FlowChroma(TINY_CONFIG, backbone_weights="random").eval()
    path = tmp_path / "tiny.safetensors"
    save_model(model, path, training={"data": "unit test"})
    return model, path


def test_round_trip_is_bit_exact(saved: tuple[FlowChroma, Path]) -> None:
    model, path = saved
    loaded, meta = load_model(path, backbone_weights="random")
    before, after = trainable_state_dict(model), trainable_state_dict(loaded)
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert meta.config == TINY_CONFIG
    assert meta.training == {"data": "unit test"}
    assert meta.backbone_source["kind"] == "random"
    # the frozen backbone is not stored: the file holds trainable weights only
    assert not any(k.startswith("backbone.") for k in load_file(path))
    loaded.backbone.load_state_dict(model.backbone.state_dict())
    l = torch.rand(1, 4, 1, TINY_CONFIG.input_height, TINY_CONFIG.input_width) * 2 - 1
    with torch.inference_mode():
        assert torch.equal(model(l)[0], loaded(l)[0])


def test_pickle_checkpoint_is_refused_without_unpickling(tmp_path: Path, saved) -> None:
    model, _ = saved
    pth = tmp_path / "model.pth"
    torch.save(model.state_dict(), pth)
    with pytest.raises(
        ModelFileError, match=r"model\.pth: this is a PyTorch checkpoint.*only \.safetensors"
    ):
        load_model(pth)
    raw = tmp_path / "raw.pkl"
    raw.write_bytes(b"\x80\x04\x95" + b"\x00" * 20)
    with pytest.raises(ModelFileError, match="Python pickle"):
        load_model(raw)


def test_mismatched_configuration_is_named(saved) -> None:
    _, path = saved
    expected = dataclasses.replace(TINY_CONFIG, lstm_size=32, clip_length=8)
    with pytest.raises(ModelFileError, match=r"clip_length: 4 != 8; lstm_size: 16 != 32"):
        load_model(path, expect=expected, backbone_weights="random")


def test_tensors_that_do_not_fit_the_stated_configuration_are_refused(
    saved, tmp_path: Path
) -> None:
    _, path = saved
    tensors = load_file(path)
    meta = json.loads(read_metadata(path).to_json())
    meta["config"]["fusion_width"] = 24  # header claims a size the tensors do not have
    bad = tmp_path / "bad.safetensors"
    save_file(tensors, bad, metadata={"format": "flowchroma-model", "metadata": json.dumps(meta)})
    with pytest.raises(
        ModelFileError, match=r"bad\.safetensors: tensor decoder\..* has shape|fusion\.weight"
    ):
        load_model(bad, backbone_weights="random")


def test_other_files_are_refused_clearly(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="model file not found"):
        load_model(tmp_path / "missing.safetensors")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"definitely not tensors")
    with pytest.raises(ModelFileError, match=r"junk\.safetensors: not a readable safetensors"):
        load_model(junk)
    plain = tmp_path / "plain.safetensors"
    save_file({"x": torch.zeros(2)}, plain)
    with pytest.raises(ModelFileError, match="not a FlowChroma model"):
        load_model(plain)


def test_a_failed_save_leaves_nothing_behind(tmp_path: Path, saved, monkeypatch) -> None:
    model, _ = saved
    dest = tmp_path / "out.safetensors"

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("flowchroma_core.model.files.save_file", boom)
    with pytest.raises(OSError, match="disk full"):
        save_model(model, dest)
    assert list(tmp_path.iterdir()) == [tmp_path / "tiny.safetensors"]


def test_a_header_length_that_starts_like_a_pickle_is_still_safetensors(tmp_path: Path) -> None:
    """The first byte of a safetensors file is its header length's low byte: 0x80 is legal."""
    from flowchroma_core.model.files import _refuse_non_safetensors

    path = tmp_path / "x.safetensors"
    for pad in range(300):
        save_file({"x": torch.zeros(1)}, path, metadata={"p": "y" * pad})
        if path.read_bytes()[0] == 0x80:
            break
    assert path.read_bytes()[0] == 0x80
    _refuse_non_safetensors(path)  # no error
