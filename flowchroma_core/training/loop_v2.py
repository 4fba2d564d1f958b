"""The v2 training loop: colour classes, the flow-warped temporal term, simulated guidance.

Same habits as ``loop.py`` (AdamW, warm-up + cosine, clipping, checkpoints that are complete
model files, exact resume: batches are a function of (seed, step)); what differs is the
data (``spatial_data``: cached backbone maps and flow) and the loss:

* ``classes``: rebalanced cross-entropy over the a*b* bins at the head's resolution
  (stride 4), for video clips and photographs, plus ``temporal_weight`` times the
  occlusion-masked flow-warped consistency of the expected a*b* of consecutive frames;
* ``mse``: regression of a*b* (the seed's loss) with the same temporal term, for the
  ablation of classes against a mean.

From ``guide_from`` on, clips carry simulated restorer points and reference stills
(``spatial_data.simulate_hints``), so one run gives the automatic model first and then
fine-tunes it for guidance, every guidance path starting from zero weights.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm import tqdm

from flowchroma_core.colour import lab
from flowchroma_core.model.device import select_device
from flowchroma_core.model.files import load_model
from flowchroma_core.model.flowchroma_v2 import HINT_SCALE, FlowChromaV2, temperature
from flowchroma_core.model.network import create_model
from flowchroma_core.training import colour_classes as cc
from flowchroma_core.training.config import TrainConfig
from flowchroma_core.training.data import luma_lightness
from flowchroma_core.training.loop import (
    _load_optimizer,
    _save_checkpoint,
    checkpoints,
    finish_run,
    lr_at,
)
from flowchroma_core.training.spatial_data import (
    Batch,
    SpatialSampler,
    build_carried,
    build_spatial_cache,
)

logger = logging.getLogger(__name__)


def _io(rgb: Tensor) -> tuple[Tensor, Tensor]:
    """RGB (B, T, 3, H, W) -> L input (B, T, 1, H, W) and true a*b* at stride 4 (CIE units)."""
    b, t = rgb.shape[:2]
    l = lab.normalize_l(luma_lightness(rgb))
    ab = lab.rgb_to_lab(rgb.flatten(0, 1))[:, 1:]
    ab = F.avg_pool2d(ab, 4)
    return l, ab.view(b, t, *ab.shape[1:])


def _clip_loss(
    model: FlowChromaV2, out: Tensor, ab: Tensor, flow: Tensor | None, cfg: TrainConfig
) -> tuple[Tensor, dict[str, float]]:
    b, t = out.shape[:2]
    flat = out.flatten(0, 1)
    if model.config.head == "classes":
        main = cc.class_loss(flat, ab.flatten(0, 1), model.bins, model.bin_weights)
        pred = cc.expected_ab(flat, model.bins) / HINT_SCALE
    else:
        pred = torch.tanh(flat) * (128.0 / HINT_SCALE)
        main = F.mse_loss(pred, ab.flatten(0, 1) / HINT_SCALE)
    logs = {"main": main.item()}
    loss = main
    if flow is not None and t > 1 and cfg.train.temporal_weight:
        temporal = cc.temporal_loss(pred.view(b, t, *pred.shape[1:]), flow)
        loss = loss + cfg.train.temporal_weight * temporal
        logs["temporal"] = temporal.item()
    return loss, logs


def _blend_loss(model: FlowChromaV2, l: Tensor, out: Tensor, rgb: Tensor, hints: Tensor) -> Tensor:
    """L1 of the final a*b* (decoded, upsampled, blended with the hints at full resolution)
    against the truth, over the clips that have hints (a*b* / 128 units)."""
    guided = (hints[:, :, 2] > 0).flatten(1).any(1)
    if not guided.any():
        return out.new_zeros(())
    final = model.finish(l[guided], out[guided], hints=hints[guided])
    b, t = final.shape[:2]
    truth = lab.rgb_to_lab(rgb[guided].flatten(0, 1))[:, 1:].view(b, t, 2, *rgb.shape[-2:])
    return (final - truth / 128.0).abs().mean()


def guidance_parameters(model: FlowChromaV2) -> list[torch.nn.Parameter]:
    """Freeze all but the guidance paths, so the automatic result stays exactly as it was.

    Trained: the hint slices of the first convolution and of the three fusions (their other
    input slices get zero gradients from a hook), the reference matcher and the blend.
    """
    for p in model.parameters():
        p.requires_grad_(False)
    trained = []

    def keep_last(n: int):
        def hook(grad: Tensor) -> Tensor:
            grad = grad.clone()
            grad[:, :-n] = 0
            return grad

        return hook

    for conv, n in [(model.encoder[0], 3), (model.fuse16, 6), (model.fuse8, 6), (model.fuse4, 6)]:
        conv.weight.requires_grad_(True)
        conv.weight.register_hook(keep_last(n))
        trained.append(conv.weight)
    for name in ("match_proj", "blend"):
        if hasattr(model, name):
            for p in getattr(model, name).parameters():
                p.requires_grad_(True)
                trained.append(p)
    model.match_scale.requires_grad_(True)
    trained.append(model.match_scale)
    return trained


def _from_file(cfg: TrainConfig, cache_dir: Path) -> tuple[FlowChromaV2, object]:
    """The model of ``init_from`` with this run's guidance blend setting: its weights, the
    new paths at their zero start."""
    start, _ = load_model(Path(cfg.train.init_from), backbone_weights="pretrained")
    model_cfg = replace(start.config, guidance=True, guide_blend=cfg.model.guide_blend)
    model = create_model(model_cfg, backbone_weights="pretrained")
    missing, unexpected = model.load_state_dict(start.state_dict(), strict=False)
    if unexpected or any(not k.startswith("blend.") for k in missing):
        raise ValueError(
            f"{cfg.train.init_from}: weights do not fit: {missing[:3]} {unexpected[:3]}"
        )
    cache = build_spatial_cache(cfg.data, model, cache_dir, photo_stride=cfg.data.photo_stride)
    logger.info("starting from %s", cfg.train.init_from)
    return model, cache


def _step_loss(model: FlowChromaV2, batch: Batch, cfg: TrainConfig) -> tuple[Tensor, dict]:
    l, ab = _io(batch.rgb)
    out, _ = model.forward_head(
        l,
        features=batch.features,
        hints=batch.hints,
        references=batch.references,
        reference_features=batch.reference_features,
        reference_present=batch.reference_present,
    )
    loss, logs = _clip_loss(model, out, ab, batch.flow, cfg)
    if cfg.train.blend_weight and model.config.guide_blend and batch.hints is not None:
        blend = _blend_loss(model, l, out, batch.rgb, batch.hints)
        loss = loss + cfg.train.blend_weight * blend
        logs["blend"] = blend.item()
    if batch.photos.numel():
        pl, pab = _io(batch.photos)
        pout, _ = model.forward_head(pl, features=batch.photo_features, hints=batch.photo_hints)
        ploss, plogs = _clip_loss(model, pout, pab, None, cfg)
        n_v, n_p = batch.rgb.shape[0] * batch.rgb.shape[1], batch.photos.shape[0]
        loss = (loss * n_v + ploss * n_p) / (n_v + n_p)
        logs["photo_main"] = plogs["main"]
    return loss, logs


@torch.no_grad()
def validate_v2(model: FlowChromaV2, clips: list[Batch], cfg: TrainConfig) -> dict[str, float]:
    """Loss, a*b* error of the decoded colours (default vividness) and colourfulness ratio."""
    model.eval()
    losses, errors, sat_pred, sat_true = [], [], [], []
    for batch in clips:
        l, ab = _io(batch.rgb)
        out, _ = model.forward_head(l, features=batch.features)
        loss, _ = _clip_loss(model, out, ab, batch.flow, cfg)
        pred = model.decode(out.flatten(0, 1)) * 128.0
        losses.append(loss.item())
        errors.append((pred - ab.flatten(0, 1)).abs().mean().item())
        sat_pred.append(pred.norm(dim=1).mean().item())
        sat_true.append(ab.norm(dim=1).mean().item())
    model.train()
    n = max(1, len(clips))
    return {
        "val_loss": sum(losses) / n,
        "val_ab_mae": sum(errors) / n,
        "val_chroma_pred": sum(sat_pred) / n,
        "val_chroma_true": sum(sat_true) / n,
    }


def _new_model(cfg: TrainConfig, cache_dir: Path) -> tuple[FlowChromaV2, object]:
    """Build the cache with a provisional model, then the model with the data's bins."""
    provisional = replace(cfg.model, colour_bins=max(2, cfg.model.colour_bins))
    probe = create_model(provisional, backbone_weights="pretrained")
    cache = build_spatial_cache(cfg.data, probe, cache_dir, photo_stride=cfg.data.photo_stride)
    if cfg.model.head != "classes":
        return probe, cache
    bins, weights = cc.bins_and_weights(cache.ab_counts)
    model_cfg = replace(cfg.model, colour_bins=len(bins))
    model = create_model(model_cfg, backbone_weights="pretrained")
    model.bins.copy_(torch.from_numpy(bins))
    model.bin_weights.copy_(torch.from_numpy(weights))
    logger.info("%d colour classes in the training data", len(bins))
    return model, cache


def train_v2(
    cfg: TrainConfig,
    *,
    stop_after: int | None = None,
    on_step: Callable[[int, float], None] | None = None,
) -> Path:
    """Train (or resume) a v2 run; returns the final model file (see ``loop.train``)."""
    t = cfg.train
    run_dir = Path(t.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if t.threads:
        torch.set_num_threads(t.threads)
    device = select_device(t.device)
    torch.manual_seed(t.seed)
    cache_dir = Path(cfg.data.cache_dir) if cfg.data.cache_dir else run_dir / "cache"
    found = checkpoints(run_dir)
    if found:
        step0, path = found[-1]
        model, _ = load_model(path, backbone_weights="pretrained", device=device)
        cache = build_spatial_cache(cfg.data, model, cache_dir, photo_stride=cfg.data.photo_stride)
        logger.info("resuming %s from step %d", run_dir, step0)
    else:
        step0 = 0
        model, cache = _from_file(cfg, cache_dir) if t.init_from else _new_model(cfg, cache_dir)
        model.to(device)
    if model.config.guide_blend:
        scale = cfg.data.carried_finest_scale
        build_carried(cache, finest_scale=None if scale < 0 else scale)
    model.train()
    sampler = SpatialSampler(
        cache,
        clip_length=cfg.model.clip_length,
        clips=t.batch,
        photos=t.photos,
        seed=t.seed,
        guide_from=t.guide_from if t.guide_from >= 0 else None,
        spread_points=t.spread_points,
    )
    val = sampler.validation()
    params = (
        guidance_parameters(model)
        if t.guidance_only
        else [p for p in model.parameters() if p.requires_grad]
    )
    opt = torch.optim.AdamW(params, lr=t.lr, weight_decay=t.weight_decay)
    if found:
        _load_optimizer(opt, found[-1][1])
    meta = {
        "data": cache.summary,
        "config_file": cfg.source,
        "loss": t.loss,
        "batch": t.batch,
        "seed": t.seed,
        "settings": asdict(t),
        "colour_classes": int(model.config.colour_bins),
        "annealing": "T = 1 - 0.85 * vividness",
        "default_temperature": temperature(model.config.vividness),
    }
    log_path = run_dir / "log.jsonl"
    if log_path.exists():
        kept = [r for r in log_path.read_text().splitlines() if json.loads(r)["step"] <= step0]
        log_path.write_text("".join(r + "\n" for r in kept))
    last = found[-1][1] if found else None
    begin, frames_done = time.perf_counter(), 0
    bar = tqdm(range(step0, t.steps), initial=step0, total=t.steps, desc="training", unit="step")
    for step in bar:
        if stop_after is not None and step == stop_after:
            break
        for group in opt.param_groups:
            group["lr"] = lr_at(step, cfg)
        batch = sampler.batch(step)
        loss, logs = _step_loss(model, batch, cfg)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(params, t.clip_grad)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss is {loss.item()} at step {step}")
        opt.step()
        frames_done += batch.rgb.shape[0] * batch.rgb.shape[1] + batch.photos.shape[0]
        rate = frames_done / (time.perf_counter() - begin)
        done = step + 1
        record = {
            "step": done,
            "loss": loss.item(),
            "lr": lr_at(step, cfg),
            "grad_norm": float(grad_norm),
            "frames_per_s": rate,
            **logs,
        }
        if done % t.validate_every == 0 or done == t.steps:
            record.update(validate_v2(model, val, cfg))
        with log_path.open("a") as log:
            log.write(json.dumps(record) + "\n")
        bar.set_postfix(loss=f"{loss.item():.4f}", fps=f"{rate:.1f}")
        if on_step is not None:
            on_step(done, loss.item())
        if done % t.checkpoint_every == 0 or done == t.steps:
            last = _save_checkpoint(model, opt, done, run_dir, {**meta, **record})
    bar.close()
    return finish_run(model, opt, last, step0, run_dir, meta, t.steps, stop_after)
