"""Reference stills for the black-and-white films, made as a restorer would, and contact
sheets of automatic against guided colour (issue 10, closing note item 4).

    python benchmarks/guidance_sheets.py --model FILE [--out /tmp/W_sheets]

For each film of ``shared/data/bw`` and each of its shots (the colorizer's own cut
detection):

1. the shot's first frame is written as a PNG exactly as ``flowchroma frame FILM N``
   writes it (``guidance.film_source.export_frame``);
2. that still is coloured through the model with a few restorer-like points per object
   (``POINTS`` below: chosen by eye on the exported frames, colours typical of the object:
   skin, olive drab, desert sand, sky, lawn, ...), and the result saved as
   ``refs/<film>/ref_NNNNNN.png``;
3. the film is colorized twice, automatically and with that folder of stills as its
   references (``--references DIR``), and the first, middle and last frame of every shot
   are laid out as rows [grey | automatic | guided | reference still].

With ``--other-content`` each still is given for its shot's *last* frame instead: it is
then other content than its frame, so the colorizer matches it to every frame by features
(``pipeline.matching``) instead of carrying it by flow, which shows what a still of
another moment of the shot does.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from flowchroma_core.colour import lab
from flowchroma_core.evaluation.contact_sheet import SheetRow, write_contact_sheet
from flowchroma_core.evaluation.run import to_rgb8
from flowchroma_core.guidance import baselines
from flowchroma_core.guidance.film_source import export_frame, guidance_for_film, scan_cuts
from flowchroma_core.guidance.points import patch_from_fractions, rasterise
from flowchroma_core.guidance.references import scan_reference_dir
from flowchroma_core.guidance.spread import spread_hints
from flowchroma_core.model.session import ModelSession
from flowchroma_core.pipeline.colorizer import Colorizer
from flowchroma_core.pipeline.framing import letterbox, plan_placement
from flowchroma_core.pipeline.options import ColorizeOptions
from flowchroma_core.video.reader import luma_matrix, open_video

BW = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "bw"

# (x, y) as fractions of the frame, a*, b*, what it is
SKIN, OLIVE, SAND, SKY = (18.0, 22.0), (-3.0, 17.0), (5.0, 20.0), (-4.0, -20.0)
POINTS: dict[str, dict[int, list[tuple[float, float, tuple[float, float], str]]]] = {
    "a-bomb_blast_effects_part.mp4": {
        0: [
            (0.37, 0.34, SKIN, "face"),
            (0.35, 0.14, OLIVE, "cap"),
            (0.28, 0.62, OLIVE, "jacket"),
            (0.69, 0.31, (8.0, 25.0), "wooden slats"),
            (0.75, 0.03, SKY, "sky"),
            (0.93, 0.31, (4.0, 15.0), "hills"),
        ],
        44: [
            (0.50, 0.47, (0.0, 2.0), "white sign"),
            (0.09, 0.19, (-3.0, -14.0), "sky"),
            (0.85, 0.90, SAND, "ground"),
        ],
        134: [
            (0.50, 0.20, SKY, "sky"),
            (0.85, 0.12, SKY, "sky, right"),
            (0.86, 0.42, (0.0, -8.0), "distant hills, hazy"),
            (0.50, 0.56, OLIVE, "truck"),
            (0.30, 0.80, SAND, "desert"),
            (0.60, 0.88, (-8.0, 16.0), "scrub"),
        ],
        299: [
            (0.76, 0.12, SKY, "sky"),
            (0.55, 0.06, SKY, "sky, between the helmets"),
            (0.50, 0.20, OLIVE, "helmet"),
            (0.52, 0.44, OLIVE, "uniform"),
            (0.38, 0.12, SKY, "sky, left of the helmet"),
            (0.30, 0.35, OLIVE, "uniform, left"),
            (0.35, 0.80, (2.0, 25.0), "dry grass, left"),
            (0.78, 0.84, (2.0, 25.0), "dry grass"),
        ],
    },
    "chaplin.mp4": {
        0: [
            (0.27, 0.45, (1.0, -6.0), "dark coat"),
            (0.50, 0.62, (-25.0, 25.0), "lawn"),
            (0.15, 0.62, (-25.0, 25.0), "lawn, left of the man"),
            (0.45, 0.35, (-25.0, 25.0), "lawn behind"),
            (0.60, 0.82, (2.0, 10.0), "sidewalk"),
            (0.60, 0.47, (2.0, 10.0), "path between the lawns"),
            (0.26, 0.11, (3.0, 10.0), "hat"),
            (0.30, 0.82, (0.0, -2.0), "trousers"),
            (0.14, 0.85, (2.0, 10.0), "sidewalk, left"),
            (0.47, 0.16, (2.0, 8.0), "white columns"),
            (0.76, 0.25, (4.0, 14.0), "stone pillar"),
            (0.15, 0.15, (-18.0, 22.0), "trees"),
            (0.56, 0.10, (10.0, 18.0), "building"),
        ],
    },
}
POINT_SIZE = 0.03  # side of each point, as a fraction of the frame width


@torch.inference_mode()
def colour_still(session: ModelSession, grey_png: Path, points: list, out: Path) -> None:
    """The grey still coloured by the model from ``points`` (spread over their regions, as
    the product does); written as an 8-bit PNG."""
    model = session.model
    h, w = model.config.input_height, model.config.input_width
    rgb = cv2.imread(str(grey_png))[..., ::-1].copy()
    lightness, _ = baselines.split_lab(rgb)
    l_full = torch.from_numpy(lightness)
    l_in, placement = letterbox(lab.normalize_l(l_full)[None], h, w, white=1.0, black=-1.0)
    place = plan_placement(*lightness.shape, h, w)
    patches = [patch_from_fractions(x, y, POINT_SIZE, a, b, place) for x, y, (a, b), _ in points]
    # the points spread over their regions inside the picture, as the product's Guidance
    # does for every keyframe (guidance/film.py, ``_spread``)
    hint = rasterise(patches, h, w)
    rows = slice(placement.top, placement.top + placement.inner_h)
    cols = slice(placement.left, placement.left + placement.inner_w)
    inside = ((l_in[0, rows, cols] + 1.0) / 2.0).float().contiguous()
    hint[:, rows, cols] = spread_hints(hint[:, rows, cols].contiguous(), inside)
    hints = hint[None, None]
    mask = placement.valid_mask(h, w)[None]
    ab, _ = model(l_in[None, None], mask=mask, hints=hints)
    ab_full = lab.denormalize_ab(placement.restore(ab[0, 0].float(), mode="bilinear"))
    coloured = baselines.compose(lightness, ab_full.permute(1, 2, 0).numpy())
    cv2.imwrite(str(out), np.ascontiguousarray(coloured[..., ::-1]))


def frames_of(session, film: Path, options: ColorizeOptions, wanted: set[int], guidance=None):
    """RGB of the wanted frames, automatic or guided."""
    out: dict[int, np.ndarray] = {}
    with open_video(film) as reader:
        info = reader.info
        matrix = luma_matrix(info)
        run = Colorizer(session).run(
            reader.frames(0, max(wanted) + 1), options.replace(matrix=matrix), guidance=guidance
        )
        for f in run:
            if f.index in wanted:
                out[f.index] = to_rgb8(f.luma, f.cb, f.cr, info=info, matrix=matrix)
                out[-f.index - 1] = to_rgb8(f.luma, None, None, info=info, matrix=matrix)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", required=True)
    parser.add_argument("--out", type=Path, default=Path("/tmp/W_sheets"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--films", help="comma-separated subset of the films (default: all)")
    parser.add_argument(
        "--other-content",
        action="store_true",
        help="give each shot's still for the shot's last frame: other content than that "
        "frame, so it is matched by features through the shot instead of carried by flow",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    torch.set_num_threads(args.threads)
    session = ModelSession.load(args.model, device="cpu")
    cfg = session.model.config
    options = ColorizeOptions()
    for film_name, per_shot in POINTS.items():
        if args.films and film_name not in args.films.split(","):
            continue
        begin = time.perf_counter()
        film = BW / film_name
        stem = film_name.split(".")[0]
        with open_video(film) as reader:
            count = len(reader)
        cuts = scan_cuts(film, threshold=options.cut_threshold)
        starts = [0, *cuts]
        if sorted(per_shot) != starts:
            raise SystemExit(
                f"{film_name}: shots start at {starts}; POINTS names {sorted(per_shot)}"
            )
        refs = args.out / "refs" / stem
        refs.mkdir(parents=True, exist_ok=True)
        shots = list(zip(starts, [*cuts, count], strict=True))
        given = {a: (b - 1 if args.other_content else a) for a, b in shots}  # still's frame
        for start in starts:
            grey = export_frame(film, start, args.out / f"{stem}_frame_{start:06d}.png")
            colour_still(session, grey, per_shot[start], refs / f"ref_{given[start]:06d}.png")
        wanted = {i for a, b in shots for i in (a, (a + b - 1) // 2, b - 1)}
        auto = frames_of(session, film, options, wanted)
        guidance = guidance_for_film(
            film,
            model_size=(cfg.input_height, cfg.input_width),
            cut_threshold=options.cut_threshold,
            references=scan_reference_dir(refs),
        )
        guided = frames_of(session, film, options, wanted, guidance)
        rows = []
        for a, b in shots:
            still = cv2.imread(str(refs / f"ref_{given[a]:06d}.png"))[..., ::-1]
            for label, i in (("first", a), ("middle", (a + b - 1) // 2), ("last", b - 1)):
                tiles = (
                    ("grey", auto[-i - 1]),
                    ("automatic", auto[i]),
                    ("guided", guided[i]),
                    (f"reference (frame {a}, given for {given[a]})", still),
                )
                rows.append(SheetRow(f"shot {a}-{b - 1} {label} #{i}", tiles))
        sheet = write_contact_sheet(rows, args.out / f"{stem}_sheet.png")
        seconds = time.perf_counter() - begin
        print(f"{film_name}: {len(shots)} shot(s) {shots}; {sheet} ({seconds:.0f} s)")


if __name__ == "__main__":
    main()
