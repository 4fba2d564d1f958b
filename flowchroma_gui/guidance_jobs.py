"""Background work for the guidance editor (run in the worker pool; no Qt here).

* ``export_still``: one source frame as a PNG (``guidance.film_source.export_frame``) for
  grading outside;
* ``similarity``: the model's reference similarity map for one frame against its shot's
  reference stills, as the network computes it inside its forward pass
  (``FlowChromaV2._reference_maps``, channel 3: the best cosine similarity of each stride-8
  cell to any cell of any still, clamped at 0): where a still was matched (high) and where
  it was ignored (near 0). Returned as (h, w) floats over the frame's own area (the
  letterbox padding cropped).

torch and PyAV are imported inside the functions: the GUI thread imports this module.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from flowchroma_core.settings import Settings
    from flowchroma_gui.model_host import ModelHost
    from flowchroma_gui.qthreading import JobContext

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SimilarityMap:
    """The similarity of ``frame`` to its shot's stills, (h, w) in [0, 1] over the frame."""

    path: str
    frame: int
    revision: str
    values: np.ndarray


def export_still(ctx: JobContext, path: str, frame: int, destination: str) -> str:
    from flowchroma_core.guidance.film_source import export_frame

    return str(export_frame(path, frame, destination))


def similarity(
    ctx: JobContext,
    host: ModelHost,
    settings: Settings,
    path: str,
    frame: int,
    stills: list[str],
    revision: str,
) -> SimilarityMap:
    """The model's similarity map of ``frame`` against ``stills`` (image files)."""
    import torch

    from flowchroma_core.colour import lab
    from flowchroma_core.guidance.references import ReferenceSpec, fit_reference, load_reference
    from flowchroma_core.pipeline.framing import letterbox
    from flowchroma_core.pipeline.guided import check_guidance_model
    from flowchroma_core.video.reader import open_video

    options = settings.colorize_options()
    session = host.session(options)
    model = session.model
    check_guidance_model(model)
    cfg = model.config
    h, w = cfg.input_height, cfg.input_width
    with open_video(path) as reader:
        gray = torch.from_numpy(np.ascontiguousarray(reader[frame].gray())).float()
    l, placement = letterbox(
        lab.normalize_l(lab.gray_to_lightness(gray))[None],
        h,
        w,
        pad=options.padding,
        white=1.0,
        black=-1.0,
    )
    refs = torch.stack(
        [fit_reference(load_reference(ReferenceSpec(frame, Path(s))).rgb, h, w)[0] for s in stills]
    )
    device = session.device
    with torch.no_grad():
        l5 = l[None, None].to(device)  # (1, 1, 1, h, w)
        refs5 = refs[None].to(device)  # (1, R, 3, h, w)
        features = model.backbone_features(l5)
        _, maps = model.unpack_features(features.flatten(0, 1).float(), h, w)
        ref_features = model.backbone_features(refs5[:, :, :1])
        out = model._reference_maps(maps, 1, 1, refs5, ref_features)
    sim = out[0, 2].float().cpu().numpy()  # (h/8, w/8)
    sy, sx = sim.shape[0] / h, sim.shape[1] / w
    top, left = int(placement.top * sy), int(placement.left * sx)
    bottom = max(top + 1, round((placement.top + placement.inner_h) * sy))
    right = max(left + 1, round((placement.left + placement.inner_w) * sx))
    return SimilarityMap(path, frame, revision, np.clip(sim[top:bottom, left:right], 0.0, 1.0))
