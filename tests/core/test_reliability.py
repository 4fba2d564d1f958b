"""The hostile user's findings (issue 12 §4): each fails without its fix."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from flowchroma_core import cli, cli_options
from flowchroma_core.errors import FlowChromaError, ModelFileError, ModelOutputError
from flowchroma_core.model.files import load_model, read_metadata
from flowchroma_core.model.network import TINY_CONFIG, FlowChroma
from flowchroma_core.model.session import ModelSession
from flowchroma_core.pipeline import export
from flowchroma_core.pipeline.export import OutputExistsError, colorize_file
from flowchroma_core.pipeline.journal import DestinationBusyError, WorkFolder, work_folder
from flowchroma_core.pipeline.options import ColorizeOptions
from flowchroma_core.settings import SettingsError, load_settings
from flowchroma_core.video.fields import field_order_code
from tests.core.shot_media import make_shot_film

OPTIONS = ColorizeOptions(window_frames=4)


@pytest.fixture(scope="module")
def film(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("film") / "film.mkv"
    make_shot_film(path, [10, 9, 11])
    return path


@pytest.fixture(scope="module")
def session() -> ModelSession:
    torch.manual_seed(0)
    return ModelSession.around(FlowChroma(TINY_CONFIG, backbone_weights="pretrained"))


def _rewrite_model(src: Path, dst: Path, *, tensors=None, config=None) -> Path:
    """A copy of a model file with some tensors or configuration values replaced."""
    with safe_open(str(src), framework="pt") as f:
        header = dict(f.metadata())
        data = {k: f.get_tensor(k) for k in list(f.keys())}
    data.update(tensors or {})
    meta = json.loads(header["metadata"])
    meta["config"].update(config or {})
    header["metadata"] = json.dumps(meta)
    save_file(data, str(dst), metadata=header)
    return dst


# -- replacing and locking the destination -------------------------------------------------


def test_an_existing_output_is_not_replaced_without_overwrite(
    film: Path, tmp_path: Path, session: ModelSession
) -> None:
    out = tmp_path / "out.mkv"
    out.write_bytes(b"precious")
    out.chmod(0o444)
    with pytest.raises(OutputExistsError, match="already exists; use --overwrite"):
        colorize_file(film, out, options=OPTIONS, session=session)
    assert out.read_bytes() == b"precious" and (out.stat().st_mode & 0o777) == 0o444
    assert not work_folder(out).exists()


def test_a_second_export_to_the_same_destination_fails_at_once(
    film: Path, tmp_path: Path, session: ModelSession
) -> None:
    out = tmp_path / "out.mkv"
    running = WorkFolder(out).acquire()  # what a running export holds
    try:
        with pytest.raises(DestinationBusyError, match="another export is writing to it"):
            colorize_file(film, out, options=OPTIONS, session=session)
    finally:
        running.release()
    assert not out.exists()


# -- NaN weights ---------------------------------------------------------------------------


def test_a_model_file_with_nan_weights_is_refused(tiny_model: Path, tmp_path: Path) -> None:
    with safe_open(str(tiny_model), framework="pt") as f:
        key = next(k for k in list(f.keys()) if f.get_tensor(k).is_floating_point())
        bad = f.get_tensor(key).clone()
    bad.view(-1)[0] = float("nan")
    path = _rewrite_model(tiny_model, tmp_path / "nan.safetensors", tensors={key: bad})
    with pytest.raises(ModelFileError, match=rf"nan.safetensors: tensor {key} holds 1 non-finite"):
        load_model(path)


def test_non_finite_model_output_stops_the_export(film: Path, tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = FlowChroma(TINY_CONFIG, backbone_weights="pretrained")
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad and p.is_floating_point():
                p.fill_(float("nan"))
                break
    out = tmp_path / "out.mkv"
    with pytest.raises(ModelOutputError, match=r"NaN or infinite colours for frames 0\.\.3"):
        colorize_file(film, out, options=OPTIONS, session=ModelSession.around(model))
    assert not out.exists() and not work_folder(out).exists()
    assert [p.name for p in tmp_path.iterdir()] == []  # no .partial left either


# -- model metadata --------------------------------------------------------------------------


def test_model_metadata_of_the_wrong_type_names_the_file(tiny_model: Path, tmp_path: Path) -> None:
    path = _rewrite_model(tiny_model, tmp_path / "abc.safetensors", config={"lstm_size": "abc"})
    with pytest.raises(ModelFileError, match=r"abc.safetensors: .*lstm_size must be a int"):
        read_metadata(path)
    # a value of the right type that no model can have: still names the file
    path = _rewrite_model(tiny_model, tmp_path / "odd.safetensors", config={"encoder_strides": [3]})
    with pytest.raises(ModelFileError, match=r"odd\.safetensors"):
        load_model(path)


# -- signals -------------------------------------------------------------------------------


def _leftovers(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if ".partial" in p.name)


@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_sigterm_and_sighup_clean_up_and_say_so(
    film: Path, tmp_path: Path, tiny_model: Path, signum: int, code: int
) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "film.mkv"
    env = dict(os.environ, FLOWCHROMA_LOG_DIR=str(tmp_path / "log"))
    command = [
        sys.executable, "-m", "flowchroma_core.cli", "colorize", str(film), "-o", str(out),
        "--quiet", "--model", str(tiny_model), "--device", "cpu", "--window-frames", "4",
    ]  # fmt: skip
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 600
    # wait until a part is being written (a temporary file exists), then stop the process
    while not _leftovers(out_dir) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert process.poll() is None, "the export ended before the signal"
    process.send_signal(signum)
    _, err = process.communicate(timeout=300)
    name = signal.Signals(signum).name
    assert process.returncode == code, err
    assert f"stopped by {name}: nothing was written" in err
    assert "Traceback" not in err
    assert _leftovers(out_dir) == [] and not out.exists()


def test_a_killed_runs_leftovers_are_named_and_removed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    out = tmp_path / "film.mkv"
    folder = work_folder(out)
    folder.mkdir()
    stale = [folder / ".part_0001.abcd1234.partial.mkv", tmp_path / ".film.x1y2z3.partial.mkv"]
    for path in stale:
        path.write_bytes(b"half")
    keep = tmp_path / ".other.q.partial.mkv"
    keep.write_bytes(b"someone else's")
    WorkFolder(out).acquire().release()
    assert not any(p.exists() for p in stale) and keep.exists()
    assert all(str(p) in caplog.text for p in stale)


# -- memory ----------------------------------------------------------------------------------


def test_frames_too_large_for_memory_are_refused_before_starting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(export, "available_memory", lambda: 8 << 30)
    info = SimpleNamespace(width=16000, height=16000, path=Path("huge.png"))
    with pytest.raises(FlowChromaError, match=r"huge.png: frames of 16000x16000 need about"):
        export.check_memory(info, OPTIONS)  # type: ignore[arg-type]
    small = SimpleNamespace(width=1920, height=1080, path=Path("hd.mkv"))
    export.check_memory(small, OPTIONS)  # type: ignore[arg-type]
    assert export.available_memory is not None


def test_an_allocation_failure_is_one_clear_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    def fail(args: argparse.Namespace) -> int:
        raise RuntimeError(
            "[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory"
        )

    monkeypatch.setattr(cli, "_cmd_info", fail)
    code = cli.main(["info", str(tmp_path / "x.mkv")])
    err = capsys.readouterr().err
    assert (
        code == 1 and err.startswith("flowchroma: error: out of memory") and "Traceback" not in err
    )


# -- eval destinations -----------------------------------------------------------------------


@pytest.mark.parametrize("flag", ["--out-json", "--contact-sheet"])
def test_eval_checks_its_destinations_before_evaluating(
    flag: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def no_model(options: ColorizeOptions) -> ModelSession:
        raise AssertionError("the model was loaded before the destination was checked")

    monkeypatch.setattr(cli, "session_for", no_model)
    code = cli.main(["eval", str(tmp_path), flag, str(tmp_path / "missing" / "report.json")])
    err = capsys.readouterr().err
    assert code == 1 and f"{flag} " in err and "does not exist" in err


# -- settings --------------------------------------------------------------------------------


def _settings_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, text: str) -> None:
    monkeypatch.setenv("FLOWCHROMA_CONFIG_DIR", str(tmp_path))
    (tmp_path / "settings.toml").write_text(text)


def _args(**flags: object) -> argparse.Namespace:
    return argparse.Namespace(**{name: flags.get(name) for name in (
        "window_frames", "overlap", "padding", "cut_threshold", "device", "precision", "model",
        "vividness",
    )})  # fmt: skip


def test_a_bad_gui_only_setting_does_not_stop_a_cli_export(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _settings_file(monkeypatch, tmp_path, 'export_folder = "/mnt/unmounted"\nwindow_frames = 8\n')
    settings = cli_options.settings_from(_args())
    assert settings.window_frames == 8  # the good field is kept
    assert "export_folder" in caplog.text and "not used here" in caplog.text


def test_a_flag_overrides_a_bad_value_in_the_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _settings_file(monkeypatch, tmp_path, 'window_frames = 999\npadding = "black"\n')
    with pytest.raises(SettingsError, match=r"window_frames: .*pass --window-frames"):
        cli_options.settings_from(_args())
    settings = cli_options.settings_from(_args(window_frames=8))
    assert (settings.window_frames, settings.padding) == (8, "black")


def test_the_gui_keeps_every_valid_field_when_one_is_bad(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_text('window_frames = "sixteen"\npadding = "black"\noverlap = 2\n')
    with pytest.raises(SettingsError) as caught:
        load_settings(path)
    partial = caught.value.partial
    assert partial is not None
    assert (partial.window_frames, partial.padding, partial.overlap) == (16, "black", 2)


# -- umask and interlacing -------------------------------------------------------------------


def test_outputs_follow_the_umask(tmp_path: Path) -> None:
    out = tmp_path / "f.bin"
    out.write_bytes(b"x")
    out.chmod(0o600)
    old = os.umask(0o027)
    try:
        export.apply_umask(out)
    finally:
        os.umask(old)
    assert out.stat().st_mode & 0o777 == 0o640


def test_fraction_offsets_survive_the_journal() -> None:
    from flowchroma_core.pipeline.segments import Part

    part = Part(3, Path("/w/part_0003.mkv"), 10, Fraction(1001, 30000), 5, "ab")
    assert Part.from_json(part.to_json(), Path("/w")) == part


def test_interlaced_input_warns_and_keeps_its_field_order(
    tmp_path: Path, session: ModelSession, caplog: pytest.LogCaptureFixture
) -> None:
    source = tmp_path / "interlaced.mkv"
    make_shot_film(source, [6], field_order=2)
    out = tmp_path / "out.mkv"
    colorize_file(source, out, options=OPTIONS, session=session)
    assert "interlaced (top field first): colorized as progressive frames" in caplog.text
    assert field_order_code(out) == 2
