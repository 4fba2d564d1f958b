"""Print what a user sees from ``flowchroma colorize`` for each kind of bad input.

    python benchmarks/bad_input_table.py

Makes each input in a temporary folder (the synthetic films of tests/core/media.py), runs
the real command line in a subprocess with a tiny model, and prints a Markdown table: the
case, the exit code, the line on stderr (or the notes after a success) and whether anything
was left at the destination. tests/core/test_cli.py asserts the same cases.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from fractions import Fraction
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "core"))

from media import make_audio, make_video  # noqa: E402

W, H, N = 64, 48, 12


def make_inputs(folder: Path) -> list[tuple[str, Path, list[str]]]:
    make_video(folder / "good.mp4", frames=N, width=W, height=H, audio=True)
    (folder / "notes.mp4").write_text("Reel 3 is in the blue box.\n" * 20, encoding="utf-8")
    make_audio(folder / "sound.m4a")
    make_video(folder / "whole.mkv", frames=N, width=96, height=64, gop=4, options={"crf": "0"})
    make_video(folder / "whole.mp4", frames=N, width=96, height=64, gop=4)
    for name in ("whole.mkv", "whole.mp4"):
        data = (folder / name).read_bytes()
        (folder / name.replace("whole", "cut")).write_bytes(data[: len(data) // 2])
    make_video(folder / "odd.mkv", frames=N, width=97, height=61, codec="ffv1", pix_fmt="yuv444p")
    make_video(
        folder / "vfr.mp4", frames=N, width=W, height=H, rate=Fraction(25),
        pts=[0, 40, 80, 160, 200, 240, 320, 360, 400, 480, 520, 560],
        time_base=Fraction(1, 1000),
    )  # fmt: skip
    make_video(folder / "ten.mkv", frames=N, width=W, height=H, codec="ffv1", pix_fmt="yuv422p10le")
    make_video(folder / "one.mp4", frames=1, width=W, height=H)
    readonly = folder / "readonly"
    readonly.mkdir()
    readonly.chmod(0o500)
    good = folder / "good.mp4"
    return [
        ("missing file", folder / "absent.mp4", []),
        ("a text file named .mp4", folder / "notes.mp4", []),
        ("audio only", folder / "sound.m4a", []),
        ("truncated MKV (half the file)", folder / "cut.mkv", []),
        ("truncated MP4 (index lost)", folder / "cut.mp4", []),
        ("odd frame size 97x61", folder / "odd.mkv", []),
        ("variable frame rate", folder / "vfr.mp4", []),
        ("10-bit 4:2:2 source", folder / "ten.mkv", []),
        ("one-frame video", folder / "one.mp4", []),
        ("destination folder missing", good, ["-o", str(folder / "nowhere" / "out.mkv")]),
        ("destination not writable", good, ["-o", str(readonly / "out.mkv")]),
        ("output = input", good, ["-o", str(good)]),
        ("range outside the film", good, ["--start", "20"]),
        ("unknown codec for .xyz", good, ["-o", str(folder / "out.xyz")]),
    ]


def main() -> int:
    folder = Path(tempfile.mkdtemp(prefix="fc-bad-"))
    env = {
        **os.environ,
        "FLOWCHROMA_CONFIG_DIR": str(folder / "config"),
        "FLOWCHROMA_LOG_DIR": str(folder / "logs"),
        "HF_HUB_OFFLINE": "1",
    }
    model = folder / "tiny.safetensors"
    subprocess.run(
        [
            sys.executable, "-c",
            "import sys, torch; from flowchroma_core.model.network import TINY_CONFIG, FlowChroma; "
            "from flowchroma_core.model.files import save_model; torch.manual_seed(0); "
            "save_model(FlowChroma(TINY_CONFIG), sys.argv[1])", str(model),
        ],
        check=True, env=env,
    )  # fmt: skip
    print("| input | exit | what the user sees (stderr, or the result) | left at destination |")
    print("| --- | --- | --- | --- |")
    for case, source, extra in make_inputs(folder):
        out_dir = folder / "out"
        out_dir.mkdir(exist_ok=True)
        args = ["-o", str(out_dir / "result.mkv"), *extra] if "-o" not in extra else extra
        done = subprocess.run(
            [sys.executable, "-m", "flowchroma_core.cli", "colorize", str(source), *args,
             "--model", str(model), "--quiet"],
            capture_output=True, text=True, env=env,
        )  # fmt: skip
        text = done.stderr.strip() or done.stdout.strip()
        text = " / ".join(line for line in text.splitlines() if line.strip())
        left = sorted(p.name for p in out_dir.iterdir())
        print(f"| {case} | {done.returncode} | {text.replace('|', '/')} | {left or 'nothing'} |")
        for p in out_dir.iterdir():
            if p.is_file():
                p.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
