"""End-to-end colorization speed and memory on a real film, serial against overlapped.

    python benchmarks/pipeline.py [--input ../shared/data/bw/chaplin.mp4] [--frames 241]
                                  [--repeats 2] [--loop 10] [--device auto] [--codec ffv1]
                                  [--size 1920x1080] [--skip-memory] [--skip-stages]
                                  [--before OLD_CHECKOUT]

Every run is a fresh process (so peak memories are independent). The serial path (the
three stages on one thread, ``stages.serial()``) and the overlapped one (reader thread,
model, writer thread) are run interleaved, ``--repeats`` times each, so that a busy
machine slows both alike; each prints model-only frames/s (time inside the network) and
end-to-end frames/s (reader -> colorizer -> writer through ``run_stages``, as
``colorize_file`` renders a segment: decode, cut detection, model, per-frame maths, encode,
mux; the export's planning scan and final stream copy are left out). Then:

* peak resident memory for ``--frames`` and for ``--loop`` times as many (the film looped
  by remuxing its packets), overlapped: flat means the bounded queues hold;
* the share of each stage (decode, model, per-frame maths, encode) measured in series, on
  the film as given or upscaled to ``--size`` with PyAV (into a temporary folder).

``--before DIR`` (a checkout of older code, e.g. ``git worktree add /tmp/old v0.4``) adds
that code's overlapped run to each repeat, interleaved with this code's, and prints its R
beside this one's: before and after measured on the same machine in the same minutes.

The last line is ``end-to-end/model-only: R`` for the overlapped path.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_INPUT = REPO.parent / "shared" / "data" / "bw" / "chaplin.mp4"


def run_export(args: argparse.Namespace) -> dict:
    """One export's rendering, serial or overlapped (``direct_export``: the path of
    ``colorize_file``'s segments, without its planning scan and assembly)."""
    from flowchroma_core.model.session import ModelSession
    from flowchroma_core.pipeline.options import ColorizeOptions

    options = ColorizeOptions(device=args.device, precision=args.precision)
    session = ModelSession.load(options.model, device=options.device, precision=options.precision)
    with tempfile.TemporaryDirectory() as tmp:
        r = direct_export(
            Path(args.input),
            Path(tmp) / f"out.{args.ext}",
            session=session,
            options=options,
            codec=args.codec,
            frames=args.frames,
            overlap=args.mode == "overlap",
        )
    return r | {
        "model_seconds": r["model"],
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def direct_export(
    source: Path,
    destination: Path,
    *,
    session: object,
    options: object,
    codec: str,
    frames: int,
    overlap: bool,
    hardware: bool = False,
) -> dict:
    """Reader -> colorizer -> writer through ``run_stages``, as an export renders one
    segment (without the export's planning scan and assembly); times each stage.
    ``hardware``: NVDEC and NVENC where they work (``video/hardware.py``)."""
    from functools import partial

    from flowchroma_core.pipeline.colorizer import Colorizer
    from flowchroma_core.pipeline.stages import run_stages
    from flowchroma_core.video.reader import luma_matrix, open_video
    from flowchroma_core.video.writer import VideoWriter

    begin = time.perf_counter()
    with open_video(source, hardware=hardware) as reader:
        info = reader.info
        options = options.replace(matrix=luma_matrix(info))  # type: ignore[attr-defined]
        runs = []
        stop = min(frames, info.frame_count)
        with VideoWriter(
            destination, codec=codec, source=info, matrix=options.matrix, hardware=hardware
        ) as writer:
            first = [None]

            def colorize(frames):
                runs.append(Colorizer(session).run(frames, options))  # type: ignore[arg-type]
                return runs[-1]

            def write(frame) -> None:
                if first[0] is None:
                    first[0] = frame.time
                writer.write(frame.luma, frame.cb, frame.cr, time=frame.time - first[0])

            whole = [partial(reader.frames, 0, stop)]
            done = run_stages(whole, colorize, write, overlap=overlap)
    model = runs[0].report.model_seconds
    return {
        "frames": done.written,
        "seconds": time.perf_counter() - begin,
        "decode": done.seconds["decode"],
        "model": model,
        # the calling thread outside the network: in series it also runs the decoding
        # (the colorizer pulls the frames); overlapped it includes waiting for the reader
        "maths": done.seconds["model"] - model - (0.0 if overlap else done.seconds["decode"]),
        "encode": done.seconds["encode"],
        "size": f"{info.width}x{info.height}",
    }


def run_stage_shares(args: argparse.Namespace) -> dict:
    """The three stages in series, timed each."""
    from flowchroma_core.model.session import ModelSession
    from flowchroma_core.pipeline.options import ColorizeOptions

    options = ColorizeOptions(device=args.device, precision=args.precision)
    session = ModelSession.load(options.model, device=options.device, precision=options.precision)
    with tempfile.TemporaryDirectory() as tmp:
        return direct_export(
            Path(args.input),
            Path(tmp) / f"out.{args.ext}",
            session=session,
            options=options,
            codec=args.codec,
            frames=args.frames,
            overlap=args.mode != "stages",
        )


def child(args: argparse.Namespace, *, code: Path | None = None, **overrides: object) -> dict:
    """One run in a fresh process; ``code``: an older checkout to run instead of this one."""
    script = Path(__file__) if code is None else code / "benchmarks" / "pipeline.py"
    cmd = [sys.executable, str(script), "--child"]
    for key, value in (vars(args) | overrides).items():
        if key in {"child", "skip_memory", "skip_stages", "before"} or value is None:
            continue
        cmd += [f"--{key.replace('_', '-')}", str(value)]
    env = None if code is None else os.environ | {"PYTHONPATH": str(code)}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"child failed: {' '.join(cmd)}\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def loop_film(source: Path, target: Path, times: int) -> Path:
    """``source`` repeated ``times`` times by remuxing its video packets (no re-encoding)."""
    import av

    with av.open(str(source)) as src, av.open(str(target), "w") as out:
        stream = src.streams.video[0]
        ostream = out.add_stream_from_template(stream)
        packets = [p for p in src.demux(stream) if p.size]
        span = max(p.pts for p in packets) + (packets[1].pts - packets[0].pts)
        dts_span = (
            max(p.dts for p in packets)
            - min(p.dts for p in packets)
            + (packets[1].dts - packets[0].dts)
        )
        for k in range(times):
            for p in packets:
                copy = av.Packet(bytes(p))
                copy.pts, copy.dts = p.pts + k * span, p.dts + k * dts_span
                copy.time_base, copy.is_keyframe = p.time_base, p.is_keyframe
                copy.stream = ostream
                out.mux(copy)
    return target


def upscale(source: Path, target: Path, size: str, frames: int) -> Path:
    """``source``'s first ``frames`` frames resized with swscale, as lossless H.264."""
    import av

    width, height = (int(v) for v in size.split("x"))
    with av.open(str(source)) as src, av.open(str(target), "w") as out:
        ostream = out.add_stream("libx264", rate=Fraction(25), options={"crf": "16"})
        ostream.width, ostream.height, ostream.pix_fmt = width, height, "yuv420p"
        for i, frame in enumerate(src.decode(video=0)):
            if i == frames:
                break
            picture = frame.reformat(width=width, height=height, format="yuv420p")
            picture.pts, picture.time_base = i, Fraction(1, 25)
            out.mux(ostream.encode(picture))
        out.mux(ostream.encode(None))
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--input", default=str(DEFAULT_INPUT))
    parser.add_argument("--frames", type=int, default=241)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--loop", type=int, default=10)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--codec", default="ffv1")
    parser.add_argument("--ext", default="mkv")
    parser.add_argument("--size", default="1920x1080")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--skip-stages", action="store_true")
    parser.add_argument("--before", type=Path, help="an older checkout, run interleaved")
    parser.add_argument("--mode", default="overlap", choices=["serial", "overlap", "stages"])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run = run_stage_shares if args.mode == "stages" else run_export
        print(json.dumps(run(args)))
        return
    load = os.getloadavg()[0]
    print(f"input: {args.input} ({args.codec} out, device {args.device}), {args.frames} frames")
    print(f"load average at start: {load:.1f} on {os.cpu_count()} cores (runs interleaved)")
    modes = ("serial", "overlap") + (("before",) if args.before else ())
    totals = {m: {"frames": 0, "seconds": 0.0, "model_seconds": 0.0} for m in modes}
    first: dict | None = None
    for repeat in range(args.repeats):
        for mode in modes:
            if mode == "before":
                r = child(args, mode="overlap", code=args.before.resolve())
            else:
                r = child(args, mode=mode)
            first = first or (r if mode == "overlap" else None)
            for key in totals[mode]:
                totals[mode][key] += r[key]
            model_fps = r["frames"] / r["model_seconds"]
            print(
                f"  run {repeat + 1} {mode:8s}: {model_fps:6.2f} model-only, "
                f"{r['frames'] / r['seconds']:6.2f} end-to-end frames/s, "
                f"peak {r['peak_rss_mib']:.0f} MiB",
                flush=True,
            )
    for mode, t in totals.items():
        print(
            f"{mode:8s} model-only {t['frames'] / t['model_seconds']:6.2f} frames/s, "
            f"end-to-end {t['frames'] / t['seconds']:6.2f} frames/s, "
            f"end-to-end/model-only {t['model_seconds'] / t['seconds']:.3f}"
        )
    if args.before:
        print(f"before: {args.before} (overlapped, interleaved with this code's runs)")
    gain = totals["serial"]["seconds"] / totals["overlap"]["seconds"]
    print(f"overlapped end to end is {gain:.2f}x the serial speed")
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_memory:
            looped = loop_film(Path(args.input), Path(tmp) / "looped.mp4", args.loop)
            long = child(args, mode="overlap", input=str(looped), frames=args.loop * args.frames)
            short = first or child(args, mode="overlap")
            growth = long["peak_rss_mib"] / short["peak_rss_mib"] - 1
            print(
                f"peak memory: {short['peak_rss_mib']:.0f} MiB for {short['frames']} frames, "
                f"{long['peak_rss_mib']:.0f} MiB for {long['frames']} frames "
                f"({100 * growth:+.1f} %)"
            )
        if not args.skip_stages:
            big = upscale(Path(args.input), Path(tmp) / "big.mp4", args.size, args.frames)
            s = child(args, mode="stages", input=str(big))
            busy = s["decode"] + s["model"] + s["maths"] + s["encode"]
            shares = ", ".join(
                f"{k} {100 * s[k] / busy:.0f} %" for k in ("decode", "model", "maths", "encode")
            )
            print(f"{s['size']} in series: {s['frames'] / s['seconds']:.2f} frames/s; {shares}")
            o = child(args, mode="overlap", input=str(big))
            print(f"{s['size']} overlapped end to end: {o['frames'] / o['seconds']:.2f} frames/s")
    t = totals["overlap"]
    print(f"end-to-end/model-only: {t['model_seconds'] / t['seconds']:.3f}")


if __name__ == "__main__":
    main()
