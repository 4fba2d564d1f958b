"""Restorer guidance, measured (issue 10): the figures of the closing note, as tables.

    python benchmarks/guidance_measure.py davis  --model FILE [--max-frames 30] [--every 5]
                                                 [--other-content [--no-matching]]
    python benchmarks/guidance_measure.py sweep  --model FILE [--photos 100] [--gate max]
    python benchmarks/guidance_measure.py cpu    --model FILE [--frames 32] [--seek 230]

* ``davis``: the 20 DAVIS sequences, frame 0 as the keyframe. First the true frame 0 as a
  reference still (``evaluation.guided``: no colour, automatic, pasted, DIS flow, guided;
  PSNR, SSIM, colourfulness, CDC, warp error; PSNR by distance from the keyframe), with each
  sequence's guided - flow PSNR and the worst; then a mismatched reference (frame 0 of the
  next sequence, alphabetically, cyclic): guided - automatic PSNR, mean and worst.
  ``--other-content`` (a diagnostic) takes every still for other content than its frame,
  so the true frame 0 is matched by features (``pipeline.matching``), never carried: its
  "guided" row is then what a still of another moment of the shot gives; ``--no-matching``
  leaves such stills to the network's learned matcher alone, as before the fixed matcher.
* ``sweep``: 0, 1, 2, 5, 10, 20, 50 simulated points (``guidance.points.simulate_points``,
  one draw of 50 per image with a fixed seed, the first N used, spread over the image by
  ``guidance.spread`` as a keyframe's points are) on held-out photos (odd
  indexes of the sorted ``photos_more``: training took every 2nd photo of photos +
  photos_more from index 0, and photos has an even count) and on DAVIS first frames; each
  image covered and centre-cropped to the model input; PSNR on 8-bit RGB of the image's own
  L* with the predicted a*b*. ``--gate`` (a diagnostic) replaces the full-resolution
  blend's learned gate by a fixed rule: 1, the hint's confidence, or the larger of the two.
* ``cpu``: seconds per frame of the colorizer on this CPU on a real film (chaplin), without
  and with one reference still for the shot; interleaved runs, the median of each; and how
  long a frame far from its still (``--seek``) waits for the still's carried colour.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from flowchroma_core.colour import lab
from flowchroma_core.evaluation.guided import GuidanceMode, evaluate_guided, evaluate_guided_video
from flowchroma_core.evaluation.run import expand_inputs
from flowchroma_core.guidance import baselines
from flowchroma_core.guidance.film import Guidance, NearbyGuidance
from flowchroma_core.guidance.film_source import guidance_for_film
from flowchroma_core.guidance.points import rasterise, simulate_points
from flowchroma_core.guidance.propagate import to_gray8
from flowchroma_core.guidance.references import ReferenceSpec
from flowchroma_core.guidance.spread import spread_hints
from flowchroma_core.model.session import ModelSession
from flowchroma_core.pipeline.colorizer import Colorizer
from flowchroma_core.pipeline.guided import WindowGuide
from flowchroma_core.pipeline.options import ColorizeOptions
from flowchroma_core.training.data import cover
from flowchroma_core.video.reader import open_video, read_rgb

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
POINTS = (0, 1, 2, 5, 10, 20, 50)


def _session(args: argparse.Namespace) -> ModelSession:
    torch.set_num_threads(args.threads)
    return ModelSession.load(args.model, device="cpu")


def cmd_davis(args: argparse.Namespace) -> None:
    session = _session(args)
    if args.other_content:  # diagnostic: never carried, always matched
        Guidance._is_same_frame = lambda self, frame, still, grey: False
    if args.no_matching:  # diagnostic: the network's learned matcher alone
        WindowGuide.with_matches = lambda self, features, guided: guided
    seqs = expand_inputs([DATA / "davis"])
    if args.sequences:
        seqs = [s for s in seqs if s.name in args.sequences.split(",")]
    options = ColorizeOptions()
    begin = time.perf_counter()
    report = evaluate_guided(
        seqs,
        session=session,
        mode=GuidanceMode("first-frame"),
        options=options,
        every=args.every,
        max_frames=args.max_frames,
        out_json=args.out_json,
    )
    print(f"model: {args.model}; first {args.max_frames} frames per sequence")
    print(report.table())
    print("\nper sequence: PSNR guided - flow, guided - automatic (dB)")
    deltas = []
    for v in report.report.videos:
        d = v.methods["guided"].psnr - v.methods["flow"].psnr
        deltas.append(d)
        da = v.methods["guided"].psnr - v.methods["automatic"].psnr
        print(f"  {v.name:<20} {d:+7.2f} {da:+7.2f}")
    print(f"mean guided - flow {np.mean(deltas):+.2f} dB; worst {min(deltas):+.2f} dB")
    print(f"({time.perf_counter() - begin:.0f} s)")
    if args.still_hints:
        _with_still_hints(args, session, seqs, options, report)
    if args.skip_mismatch:
        return
    print("\nmismatched reference: frame 0 of the next sequence")
    firsts = [next(read_rgb(s, max_frames=1)) for s in seqs]
    losses = []
    for i, seq in enumerate(seqs):
        other = firsts[(i + 1) % len(seqs)]
        result, _ = evaluate_guided_video(
            seq,
            session=session,
            mode=GuidanceMode("first-frame"),
            options=options,
            every=args.every,
            max_frames=args.max_frames,
            reference=other,
            automatic=False,  # measured above, on the same frames
        )
        auto = next(v for v in report.report.videos if v.name == seq.name)
        loss = result.methods["guided"].psnr - auto.methods["automatic"].psnr
        losses.append(loss)
        print(f"  {seq.name:<20} ref {seqs[(i + 1) % len(seqs)].name:<20} {loss:+7.3f} dB")
    print(f"mismatched - automatic: mean {np.mean(losses):+.3f} dB, worst {min(losses):+.3f} dB")


def _with_still_hints(args, session, seqs, options, report) -> None:
    """The same sequences with the still also read as a grid of points on frame 0."""
    begin = time.perf_counter()
    print(f"\nthe still also as points on frame 0, every {args.still_hints} of the width")
    rows, pooled, deltas = [], [], []
    for seq in seqs:
        result, distances = evaluate_guided_video(
            seq,
            session=session,
            mode=GuidanceMode("first-frame"),
            options=options,
            every=args.every,
            max_frames=args.max_frames,
            still_hints=args.still_hints,
            automatic=False,  # measured above, on the same frames
        )
        rows.append(result.methods["guided"])
        pooled += distances["guided"]
        flow = next(v for v in report.report.videos if v.name == seq.name).methods["flow"]
        deltas.append(result.methods["guided"].psnr - flow.psnr)
        print(f"  {seq.name:<20} guided+points - flow {deltas[-1]:+7.2f} dB")
    mean = {k: np.nanmean([getattr(r, k) for r in rows]) for k in ("psnr", "ssim", "cdc")}
    warp = np.nanmean([r.warp_error for r in rows])
    colourful = np.nanmean([r.colourfulness for r in rows])
    print(
        f"guided+pts  {mean['psnr']:8.2f} {mean['ssim']:7.4f} {colourful:10.2f} "
        f"{mean['cdc']:9.5f} {warp:9.5f}"
    )
    print(f"mean guided+points - flow {np.mean(deltas):+.2f} dB; worst {min(deltas):+.2f} dB")
    seq_scores = baselines.SequenceScores(name="all", frames=0, psnr={"g": pooled})
    binned = baselines.by_distance([seq_scores], "g")
    print("by distance: " + ", ".join(f"{b} {v:.2f} ({n})" for b, v, n in binned))
    print(f"({time.perf_counter() - begin:.0f} s)")


@torch.inference_mode()
def _sweep(session: ModelSession, images: list[np.ndarray]) -> dict[int, list[float]]:
    model = session.model
    h, w = model.config.input_height, model.config.input_width
    out: dict[int, list[float]] = {n: [] for n in POINTS}
    for k, rgb in enumerate(images):
        rgb = np.ascontiguousarray(cover(rgb, h, w))
        lightness, ab = baselines.split_lab(rgb)
        l = lab.normalize_l(torch.from_numpy(lightness))[None, None, None]
        feats = model.backbone_features(l)
        patches = simulate_points(np.moveaxis(ab, -1, 0), max(POINTS), np.random.default_rng(k))
        grey = torch.from_numpy(to_gray8(rgb).astype(np.float32) / 255.0)
        for n in POINTS:
            # spread over the image as a film's keyframe points are (guidance.film)
            hints = spread_hints(rasterise(patches[:n], h, w), grey)[None, None] if n else None
            pred, _ = model(l, features=feats, hints=hints)
            pred_ab = lab.denormalize_ab(pred[0, 0]).permute(1, 2, 0).numpy()
            out[n].append(baselines.psnr(baselines.compose(lightness, pred_ab), rgb))
    return out


GATES = {
    "one": lambda learned, conf: torch.ones_like(conf),
    "conf": lambda learned, conf: conf,
    "max": lambda learned, conf: torch.maximum(learned, conf),
}


def _fixed_gate(model: torch.nn.Module, name: str) -> None:
    """A diagnostic: replace the full-resolution blend's learned gate (``GuideBlend.gate``)
    by a fixed rule, to see how far the learned one is from simple alternatives."""
    learned, rule = model.blend.gate, GATES[name]
    model.blend.gate = lambda ab, l, hint_ab, conf: rule(learned(ab, l, hint_ab, conf), conf)


def cmd_sweep(args: argparse.Namespace) -> None:
    session = _session(args)
    if args.gate != "learned":
        _fixed_gate(session.model, args.gate)
    more = sorted(
        p for p in (DATA / "photos_more").iterdir() if p.suffix.lower() in {".jpg", ".png", ".jpeg"}
    )
    held_out = more[1::2][: args.photos]
    photos = [cv2.imread(str(p))[..., ::-1] for p in held_out]
    davis = [next(read_rgb(s, max_frames=1)) for s in expand_inputs([DATA / "davis"])]
    print(f"model: {args.model}" + (f"; blend gate: {args.gate}" if args.gate != "learned" else ""))
    for name, images in (
        (f"held-out photos ({len(photos)})", photos),
        (f"DAVIS first frames ({len(davis)})", davis),
    ):
        begin = time.perf_counter()
        scores = _sweep(session, images)
        base = np.mean(scores[0])
        print(f"\n{name}: PSNR (dB) by number of points ({time.perf_counter() - begin:.0f} s)")
        print(f"{'points':>7} {'PSNR':>7} {'gain':>7}")
        for n in POINTS:
            print(f"{n:>7d} {np.mean(scores[n]):7.2f} {np.mean(scores[n]) - base:+7.2f}")
        means = [np.mean(scores[n]) for n in POINTS]
        print("monotone:", all(b >= a for a, b in itertools.pairwise(means)))


def _time_run(session: ModelSession, film: Path, frames: int, guidance) -> float:
    options = ColorizeOptions(cut_threshold=0.0)
    with open_video(film) as reader:
        begin = time.perf_counter()
        n = sum(
            1 for _ in Colorizer(session).run(reader.frames(0, frames), options, guidance=guidance)
        )
    return (time.perf_counter() - begin) / n


def _seek(film: Path, still: Path, size: tuple[int, int], frame: int) -> None:
    """What a frame far from its shot's still waits for the still's carried colour: asked
    for alone as the preview's approximate frame asks (``NearbyGuidance``: not carried from
    further than ``STILL_REACH``), then by an exact run cold (carried from the still), then
    a frame earlier (from the state kept on the way)."""
    times = []
    for nearby in (True, False):
        g = guidance_for_film(
            film, model_size=size, cut_threshold=0.0, references=[ReferenceSpec(0, still)]
        )
        g.window(0, 1)  # the still read and recognised as its own frame
        source = NearbyGuidance(g) if nearby else g
        for at in (frame,) if nearby else (frame, frame - 1):
            begin = time.perf_counter()
            source.window(at, at + 1)
            times.append(time.perf_counter() - begin)
    print(
        f"a still's colour at frame {frame}: {times[0]:.2f} s for the approximate preview "
        f"(not carried), {times[1]:.2f} s exact and cold, {times[2]:.2f} s for frame "
        f"{frame - 1} after it"
    )


def cmd_cpu(args: argparse.Namespace) -> None:
    """Two kinds of still cost differently: one of other content is only matched by the
    network's features; one of the shot's own frame (its grey coloured) is also carried
    through the shot by DIS flow, two flow fields per frame."""
    session = _session(args)
    film = DATA / "bw" / "chaplin.mp4"
    cfg = session.model.config
    other = Path("/tmp") / "guidance_cpu_other.png"
    first = next(read_rgb(DATA / "davis" / "blackswan", max_frames=1))
    cv2.imwrite(str(other), first[..., ::-1])
    own = Path("/tmp") / "guidance_cpu_own.png"
    grey = next(read_rgb(film, max_frames=1)).astype(np.float32) / 255.0
    l_star = lab.rgb_to_lab(torch.from_numpy(grey).permute(2, 0, 1)[None])[0, :1]
    tinted = torch.cat([l_star, torch.full_like(l_star, 12.0), torch.full_like(l_star, 25.0)])
    rgb = lab.lab_to_rgb(tinted, clip=True).permute(1, 2, 0).numpy()
    cv2.imwrite(str(own), np.rint(rgb[..., ::-1] * 255).astype(np.uint8))
    runs: dict[str, list[float]] = {"automatic": [], "other content": [], "its own frame": []}
    _time_run(session, film, 8, None)  # warm-up
    for _ in range(args.repeats):
        runs["automatic"].append(_time_run(session, film, args.frames, None))
        for name, still in (("other content", other), ("its own frame", own)):
            g = guidance_for_film(
                film,
                model_size=(cfg.input_height, cfg.input_width),
                cut_threshold=0.0,
                references=[ReferenceSpec(0, still)],
            )
            runs[name].append(_time_run(session, film, args.frames, g))
    print(f"model: {args.model}; {args.frames} frames of {film.name}, {args.threads} threads")
    _seek(film, own, (cfg.input_height, cfg.input_width), args.seek)
    auto = statistics.median(runs["automatic"])
    for name, values in runs.items():
        value = statistics.median(values)
        listed = ", ".join(f"{x * 1000:.0f}" for x in values)
        label = "automatic" if name == "automatic" else f"one still, {name}"
        print(f"{label:<26} {value * 1000:7.1f} ms/frame  ratio {value / auto:.3f}  ({listed})")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name, func in (("davis", cmd_davis), ("sweep", cmd_sweep), ("cpu", cmd_cpu)):
        p = sub.add_parser(name)
        p.add_argument("--model", required=True)
        p.add_argument("--threads", type=int, default=2)
        p.set_defaults(func=func)
        if name == "davis":
            p.add_argument("--max-frames", type=int, default=30)
            p.add_argument("--every", type=int, default=5)
            p.add_argument("--sequences")
            p.add_argument("--out-json", type=Path)
            p.add_argument("--skip-mismatch", action="store_true")
            p.add_argument("--other-content", action="store_true")
            p.add_argument("--no-matching", action="store_true")
            p.add_argument(
                "--still-hints",
                type=float,
                default=0.0,
                help="also read the still as a grid of points this far apart (width fraction)",
            )
        elif name == "sweep":
            p.add_argument("--photos", type=int, default=100)
            p.add_argument(
                "--gate",
                choices=["learned", *GATES],
                default="learned",
                help="diagnostic: the blend's gate fixed to 1, to the confidence, or to the "
                "larger of the learned gate and the confidence",
            )
        else:
            p.add_argument("--frames", type=int, default=32)
            p.add_argument("--repeats", type=int, default=3)
            p.add_argument("--seek", type=int, default=230, help="frame for the seek timing")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    logging.getLogger("flowchroma_core.evaluation.guided").setLevel(logging.INFO)  # progress
    args.func(args)


if __name__ == "__main__":
    main()
