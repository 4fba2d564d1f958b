"""The ``flowchroma`` command line.

Exit codes: 0 done, 1 failed (one clear line on stderr; the traceback goes to the log,
or to stderr with ``--debug``), 130 cancelled with Ctrl+C, 143 stopped by SIGTERM, 129 by
SIGHUP (both handled as Ctrl+C is: temporary files removed, finished segments of an
export kept for a resume and named). Warnings are shown once the
command has succeeded (at once with ``--debug``); after a failure they are in the log only.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

from flowchroma_core import __version__
from flowchroma_core.cli_model import cmd_model_info, cmd_train
from flowchroma_core.cli_options import (
    add_hardware_flag,
    add_option_flags,
    hardware_video_from,
    position,
    positive_int,
    session_for,
    settings_from,
)
from flowchroma_core.errors import Cancelled, FlowChromaError

if TYPE_CHECKING:
    pass

logger = logging.getLogger(__name__)


def _cmd_info(args: argparse.Namespace) -> int:
    """Print what a film is: size, exact rate, frames, colour, audio, timecode."""
    from flowchroma_core.video.reader import open_video

    with open_video(args.input, frame_rate=args.rate) as reader:
        print(reader.info.summary())
    return 0


def _cmd_colorize(args: argparse.Namespace) -> int:
    """Colorize a film into a new file with a progress bar."""
    from tqdm import tqdm

    from flowchroma_core.pipeline.export import (
        Progress,
        check_export,
        check_memory,
        check_overwrite,
        colorize_file,
    )
    from flowchroma_core.video.reader import open_video

    settings = settings_from(args)
    options = settings.colorize_options()
    hardware_video = hardware_video_from(args, settings)
    with open_video(args.input, frame_rate=args.rate) as reader:
        info = reader.info
    start = position("--start", args.start, info) if args.start else 0
    stop = position("--end", args.end, info) if args.end else None
    # a bad range, destination or guidance is answered at once, not after loading the model
    written = check_export(info, args.output, codec=args.codec, start=start, stop=stop)
    check_overwrite(written, overwrite=args.overwrite)
    check_memory(info, options)
    guided = args.reference or args.references or args.project
    if guided:
        from flowchroma_core.guidance.film_source import check_guidance_inputs, guidance_for_film
        from flowchroma_core.pipeline.guided import check_guidance_model

        specs = check_guidance_inputs(
            args.input, info.frame_count, args.reference or (), args.references, args.project
        )
    session = session_for(options)
    guidance = None
    if guided:
        check_guidance_model(session.model)
        cfg = session.model.config
        guidance = guidance_for_film(
            args.input,
            model_size=(cfg.input_height, cfg.input_width),
            cut_threshold=options.cut_threshold,
            start=start,
            stop=stop,
            project=args.project,
            references=specs,
            frame_rate=args.rate,
        )
    total = (stop if stop is not None else info.frame_count) - start
    with tqdm(total=total, unit="frame", dynamic_ncols=True, disable=args.quiet) as bar:

        def on_progress(p: Progress) -> None:
            bar.update(p.done - bar.n)
            eta = f"{p.eta:.0f}s" if p.eta is not None else "?"
            bar.set_postfix_str(f"{p.fps:.2f} fps, ETA {eta}", refresh=False)

        result = colorize_file(
            args.input,
            args.output,
            options=options,
            session=session,
            codec=args.codec,
            start=start,
            stop=stop,
            on_progress=on_progress,
            frame_rate=args.rate,
            guidance=guidance,
            overwrite=args.overwrite,
            restart=args.restart,
            segment_frames=args.segment_frames,
            hardware_video=hardware_video,
            shot_batch=args.shot_batch,
        )
    if result.resumed_frames:
        print(
            f"resumed: {result.resumed_frames} of {result.frames} frames were already "
            "colorized by an interrupted run",
            file=sys.stderr,
        )
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    print(
        f"{result.output}: {result.frames} frames in {result.seconds:.1f} s "
        f"({result.frames / max(result.seconds, 1e-9):.2f} fps), {len(result.cuts)} shot cut(s)"
    )
    return 0


def _cmd_batch(args: argparse.Namespace) -> int:
    """Colorize many films, each resumable, here or on Ray; a summary table at the end."""
    from flowchroma_core.batch.driver import BatchRequest
    from flowchroma_core.batch.films import expand_films, plan_films
    from flowchroma_core.batch.report import summary_table
    from flowchroma_core.batch.runner import run_batch

    if args.ray not in (None, "local") and Path(args.ray).exists():
        args.input.insert(0, Path(args.ray))  # `--ray film.mp4 ...`: a film, not an address
        args.ray = "local"
    settings = settings_from(args)
    codec = args.codec or settings.export_codec
    films = plan_films(expand_films(args.input), args.output, codec)
    args.output.mkdir(parents=True, exist_ok=True)
    hardware_video = hardware_video_from(args, settings)
    request = BatchRequest(
        tuple(films), settings.colorize_options(), codec, overwrite=args.overwrite,
        restart=args.restart, frame_rate=args.rate, hardware_video=hardware_video,
    )  # fmt: skip
    result = run_batch(request, use_ray=args.ray is not None,
                       address=None if args.ray == "local" else args.ray,
                       workers=args.workers, quiet=args.quiet)  # fmt: skip
    print(summary_table(result.outcomes, wall_seconds=result.seconds))
    for outcome in result.outcomes:
        for note in outcome.notes:
            print(f"note: {outcome.film.name}: {note}", file=sys.stderr)
    if result.cancelled:
        print("cancelled: started films keep their journals; run the same command again to "
              "resume", file=sys.stderr)  # fmt: skip
        return 130
    return 1 if result.failed else 0


def _cmd_frame(args: argparse.Namespace) -> int:
    """Write one source frame as an 8-bit PNG, to be coloured outside as a reference."""
    from flowchroma_core.guidance.film_source import export_frame

    written = export_frame(args.input, args.frame, args.output, frame_rate=args.rate)
    print(f"{written}: frame {args.frame} of {args.input.name}")
    return 0


def _cmd_eval_guided(args: argparse.Namespace) -> int:
    """``eval --guidance MODE``: the guided model against the flow baseline, in one run."""
    from flowchroma_core.evaluation.guided import GuidanceMode, evaluate_guided
    from flowchroma_core.evaluation.run import expand_inputs

    mode = GuidanceMode.parse(args.guidance)
    options = settings_from(args).colorize_options()
    report = evaluate_guided(
        expand_inputs(args.input),
        session=session_for(options),
        mode=mode,
        options=options,
        every=args.every,
        max_frames=args.max_frames,
        out_json=args.out_json,
    )
    print(report.table(per_video=args.per_video))
    if args.out_json:
        print(f"report: {args.out_json}")
    return 0


def check_output_file(path: Path | None, flag: str) -> None:
    """Refuse, before any slow work, an output path that cannot be written."""
    if path is None:
        return
    folder = path.parent
    if path.is_dir():
        raise FlowChromaError(f"{flag} {path}: is a folder; give a file name")
    if not folder.is_dir():
        raise FlowChromaError(f"{flag} {path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise FlowChromaError(f"{flag} {path}: the folder {folder} is not writable")
    if path.exists() and not os.access(path, os.W_OK):
        raise FlowChromaError(f"{flag} {path}: the file is write-protected")


def _cmd_eval(args: argparse.Namespace) -> int:
    """Measure colorization against colour originals (or sheet black-and-white films)."""
    # a bad destination is answered before the evaluation, not after it
    check_output_file(args.out_json, "--out-json")
    check_output_file(args.contact_sheet, "--contact-sheet")
    if args.guidance:
        return _cmd_eval_guided(args)
    from flowchroma_core.evaluation.report import EvaluationError
    from flowchroma_core.evaluation.run import (
        METHODS,
        black_and_white_sheet,
        evaluate,
        expand_inputs,
    )

    options = settings_from(args).colorize_options()
    if args.black_and_white:
        if not args.contact_sheet:
            raise EvaluationError("--black-and-white needs --contact-sheet FILE.png")
        black_and_white_sheet(
            expand_inputs(args.input),
            session_for(options),
            args.contact_sheet,
            args.sheet_frames,
            options=options,
            max_frames=args.max_frames,
        )
        print(f"contact sheet: {args.contact_sheet}")
        return 0
    methods = METHODS if args.baselines else ("model",)
    report = evaluate(
        expand_inputs(args.input),
        session=session_for(options) if "model" in methods else None,
        options=options,
        every=args.every,
        max_frames=args.max_frames,
        methods=methods,
        out_json=args.out_json,
        contact_sheet=args.contact_sheet,
    )
    print(report.table(per_video=args.per_video))
    if args.out_json:
        print(f"report: {args.out_json}")
    if args.contact_sheet:
        print(f"contact sheet: {args.contact_sheet}")
    return 0


def _add_eval_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help="measure colorization against colour originals",
        description="Turn colour videos grey, colorize them and compare with the originals: "
        "PSNR, SSIM, colourfulness, CDC and warp error, for the model and baselines.",
    )
    p.add_argument(
        "input",
        nargs="+",
        type=Path,
        help="colour videos or frame folders; a folder of folders (DAVIS) means each of them",
    )
    p.add_argument("--out-json", type=Path, help="write the full report here (JSON)")
    p.add_argument("--contact-sheet", type=Path, help="write [grey | ours | original] rows here")
    add_option_flags(p)
    p.add_argument("--every", type=int, default=5, help="PSNR/SSIM on every Nth frame (5)")
    p.add_argument("--max-frames", type=int, help="only the first N frames of each video")
    p.add_argument(
        "--baselines",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also measure the no-colour and per-frame baselines (default: yes)",
    )
    p.add_argument("--per-video", action="store_true", help="print each video's table too")
    p.add_argument(
        "--black-and-white",
        action="store_true",
        help="the inputs are black-and-white films with no colour original: only write the "
        "contact sheet (grey | ours), no scores",
    )
    p.add_argument("--sheet-frames", type=int, default=4, help="frames per film on the sheet (4)")
    p.add_argument(
        "--guidance",
        metavar="MODE",
        help="first-frame (the true frame 0 as reference still) or points:N (N simulated "
        "points on frame 0): the guided model against no colour, automatic, frame 0 pasted "
        "and frame 0 carried by DIS flow, with PSNR by distance from frame 0",
    )
    p.set_defaults(func=_cmd_eval)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="flowchroma", description="Colorize black-and-white film."
    )
    parser.add_argument("--version", action="version", version=f"flowchroma {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    from flowchroma_core.video.writer import CODEC_NAMES

    p = sub.add_parser("info", help="describe a film")
    p.add_argument("input", type=Path, help="a video file, an image folder or a pattern")
    p.add_argument("--rate", type=Fraction, help="frame rate of an image sequence (default 24)")
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser("colorize", help="colorize a film into a new file")
    p.add_argument("input", type=Path, help="a video file, an image folder or a pattern")
    p.add_argument("-o", "--output", type=Path, required=True, help="the file (or folder) to write")
    p.add_argument("--codec", choices=CODEC_NAMES, help="default: from the output's extension")
    add_hardware_flag(p)
    p.add_argument("--start", help="first frame: a number, seconds (4.5s) or timecode")
    p.add_argument("--end", help="frame after the last, in the same forms")
    add_option_flags(p)
    p.add_argument("--rate", type=Fraction, help="frame rate of an image sequence (default 24)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--reference",
        action="append",
        metavar="FRAME:IMAGE",
        help="a colour still for the shot holding FRAME (0-based); repeatable; any size",
    )
    p.add_argument(
        "--references", type=Path, metavar="DIR", help="a folder of stills named ref_NNNNNN.png"
    )
    p.add_argument(
        "--project", type=Path, metavar="FILE", help="the film's FILM.flowchroma.json project"
    )
    p.add_argument("--overwrite", action="store_true", help="replace the output if it exists")
    p.add_argument(
        "--restart",
        action="store_true",
        help="discard the segments an interrupted run of this export finished; start afresh",
    )
    p.add_argument(
        "--segment-frames",
        type=int,
        default=250,
        help="shots are grouped into segments of about this many frames, the unit a crashed "
        "export resumes from (default 250; a longer shot stays whole)",
    )
    p.add_argument(
        "--shot-batch",
        type=positive_int,
        default=1,
        metavar="K",
        help="colorize K segments side by side, their network passes batched together: "
        "for a GPU that one shot leaves idle; same output (default 1)",
    )
    p.set_defaults(func=_cmd_colorize)

    p = sub.add_parser("frame", help="write one source frame as a PNG, to colour as a reference")
    p.add_argument("input", type=Path, help="a video file, an image folder or a pattern")
    p.add_argument("frame", type=int, help="the frame number (0-based)")
    p.add_argument("-o", "--output", type=Path, required=True, help="the PNG to write")
    p.add_argument("--rate", type=Fraction, help="frame rate of an image sequence (default 24)")
    p.set_defaults(func=_cmd_frame)

    p = sub.add_parser(
        "batch",
        help="colorize many films (resumable; optionally on a Ray cluster)",
        description="Colorize films, folders of videos or list files (one path per line, "
        "# comments) into OUTDIR/<film stem>.<codec extension>. Each film is made in "
        "segments with a journal: run the same command again to resume.",
    )
    p.add_argument("input", nargs="+", type=Path, help="films, folders of videos, list files")
    p.add_argument("-o", "--output", type=Path, required=True, help="the folder to write into")
    p.add_argument("--codec", choices=CODEC_NAMES, help="default: the saved export codec")
    add_hardware_flag(p)
    p.add_argument(
        "--ray",
        nargs="?",
        const="local",
        metavar="ADDRESS",
        help="run the segments on Ray: alone, a new local instance on 127.0.0.1; with an "
        "address, join that cluster (needs: pip install 'flowchroma-studio[cluster]')",
    )
    p.add_argument("--workers", type=int, help="Ray workers (default: one per GPU, else CPU)")
    p.add_argument("--overwrite", action="store_true", help="replace outputs that exist")
    p.add_argument("--restart", action="store_true", help="discard unfinished work; start afresh")
    add_option_flags(p)
    p.add_argument("--rate", type=Fraction, help="frame rate of image sequences (default 24)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_batch)

    p = sub.add_parser("train", help="train a model from a TOML configuration (resumes)")
    p.add_argument("config", type=Path, help="training configuration (see configs/)")
    p.set_defaults(func=cmd_train)

    _add_eval_parser(sub)

    p = sub.add_parser("model-info", help="describe a model and time one clip")
    p.add_argument("--model", type=Path, help="a FlowChroma .safetensors model file")
    p.add_argument(
        "--backbone-weights", type=Path, help="a file with the backbone's ImageNet weights"
    )
    p.add_argument("--device", default="auto", help="auto, cuda or cpu")
    p.add_argument("--precision", default="fp32", help="fp32, fp16 or bf16 (CUDA only)")
    p.add_argument("--time", action="store_true", help="time one clip's forward pass")
    p.set_defaults(func=cmd_model_info)
    return parser


class _HeldWarnings(logging.Handler):
    """Warnings kept back until the command ends: shown after a success, dropped after a
    failure or a cancel, whose one line on stderr is then all the user sees (the log file
    has every warning)."""

    def __init__(self, limit: int = 100) -> None:
        super().__init__(logging.WARNING)
        self.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
        self.limit = limit
        self.lines: list[str] = []
        self.dropped = 0

    def emit(self, record: logging.LogRecord) -> None:
        if len(self.lines) < self.limit:
            self.lines.append(self.format(record))
        else:
            self.dropped += 1

    def show(self) -> None:
        for line in self.lines:
            print(line, file=sys.stderr)
        if self.dropped:
            print(f"WARNING: {self.dropped} more warnings in the log", file=sys.stderr)


class Stopped(BaseException):
    """SIGTERM or SIGHUP arrived: unwinds the command as Ctrl+C does."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise_stopped(signum: int, frame: object) -> None:
    raise Stopped(signum)


def _stopped_message(args: argparse.Namespace, what: str) -> str:
    """What an interrupted command leaves: nothing, or an export's finished segments."""
    output = getattr(args, "output", None)
    if args.command == "colorize" and output is not None:
        from flowchroma_core.pipeline.journal import finished_segments, work_folder

        folder = work_folder(Path(output))
        done = finished_segments(folder)
        if done:
            return (
                f"{what}: nothing was written to {output}; {done} finished segment(s) are "
                f"kept in {folder} (run the same command again to resume, or add --restart)"
            )
    return f"{what}: nothing was written"


def _is_out_of_memory(error: BaseException) -> bool:
    text = str(error).lower()
    return isinstance(error, MemoryError) or (
        isinstance(error, RuntimeError)
        and ("can't allocate memory" in text or "out of memory" in text)
    )


def main(argv: Sequence[str] | None = None) -> int:
    from flowchroma_core.logs import setup_logging

    args = build_parser().parse_args(argv)
    # --debug shows everything as it happens; otherwise warnings wait for the outcome.
    held = _HeldWarnings()
    root = logging.getLogger()
    if not args.debug:
        root.addHandler(held)  # before set-up, which warns when the log cannot be written
    log_path = setup_logging(console_level=logging.DEBUG if args.debug else logging.CRITICAL + 1)
    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {s: signal.signal(s, _raise_stopped) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        code = args.func(args)
    except (KeyboardInterrupt, Cancelled):
        print(_stopped_message(args, "cancelled"), file=sys.stderr)
        return 130
    except Stopped as e:
        logger.warning("stopped by %s", e)
        print(_stopped_message(args, f"stopped by {e}"), file=sys.stderr)
        return 128 + e.signum
    except (MemoryError, RuntimeError) as e:
        if not _is_out_of_memory(e):
            raise
        logger.info("out of memory", exc_info=True)
        if args.debug:
            raise
        print(
            "flowchroma: error: out of memory; use a smaller --window-frames, a shorter "
            "range, or close other programs",
            file=sys.stderr,
        )
        return 1
    except (FlowChromaError, ValueError, OSError) as e:
        logger.info("command failed", exc_info=True)  # the log file keeps the traceback
        if args.debug:
            raise
        hint = f" (details in {log_path})" if log_path else ""
        print(f"flowchroma: error: {e}{hint}", file=sys.stderr)
        return 1
    finally:
        root.removeHandler(held)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    held.show()
    return code


if __name__ == "__main__":
    sys.exit(main())
