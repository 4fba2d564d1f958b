"""The training loop: AdamW, warm-up + cosine schedule, clipping, checkpoints, exact resume.

Every checkpoint is a complete FlowChroma model file (usable for colorizing) plus an
optimizer file beside it, both safetensors. The schedule is a function of the step and
batches are a function of (seed, step), so resuming from step k continues the very loss
curve an uninterrupted run draws (bit for bit on the CPU with the same thread count).
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import Tensor
from tqdm import tqdm

from flowchroma_core.colour import lab
from flowchroma_core.fileio import atomic_path
from flowchroma_core.model.device import autocast, select_device
from flowchroma_core.model.files import load_model, save_model
from flowchroma_core.model.network import FlowChroma
from flowchroma_core.training.config import TrainConfig
from flowchroma_core.training.data import ClipSampler, DataCache, build_cache, luma_lightness

logger = logging.getLogger(__name__)

_CHECKPOINT = re.compile(r"^step_(\d{7})\.safetensors$")


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up, then cosine decay to a tenth of the peak."""
    t = cfg.train
    if step < t.warmup:
        return t.lr * (step + 1) / t.warmup
    progress = (step - t.warmup) / max(1, t.steps - t.warmup)
    return t.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def to_model_io(rgb: Tensor) -> tuple[Tensor, Tensor]:
    """RGB clips (B, T, 3, H, W) -> model input L and target a*b*, both (B, T, C, H, W)."""
    l = lab.normalize_l(luma_lightness(rgb))
    ab = lab.normalize_ab(lab.rgb_to_lab(rgb)[..., 1:, :, :])
    return l, ab


def temporal_error(pred: Tensor, target: Tensor) -> Tensor:
    """Mean |change of the prediction between frames - change of the truth|."""
    return ((pred[:, 1:] - pred[:, :-1]) - (target[:, 1:] - target[:, :-1])).abs().mean()


def clip_loss(pred: Tensor, target: Tensor, cfg: TrainConfig) -> Tensor:
    """The seed's MSE, or Huber (less pull to grey) plus a temporal-consistency term."""
    t = cfg.train
    if t.loss == "mse":
        return F.mse_loss(pred, target)
    huber = F.huber_loss(pred, target, delta=t.huber_delta) / t.huber_delta
    return huber + t.temporal_weight * temporal_error(pred, target)


def checkpoints(run_dir: Path) -> list[tuple[int, Path]]:
    folder = Path(run_dir) / "checkpoints"
    found = []
    if folder.is_dir():
        for p in folder.iterdir():
            if m := _CHECKPOINT.match(p.name):
                found.append((int(m[1]), p))
    return sorted(found)


def _save_checkpoint(
    model: FlowChroma, opt: torch.optim.Optimizer, step: int, run_dir: Path, training: dict
) -> Path:
    folder = run_dir / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"step_{step:07d}.safetensors"
    state = opt.state_dict()
    tensors = {
        f"state.{idx}.{name}": (v if isinstance(v, Tensor) else torch.tensor(v))
        .detach()
        .cpu()
        .contiguous()
        for idx, s in state["state"].items()
        for name, v in s.items()
    }
    groups = [{k: v for k, v in g.items()} for g in state["param_groups"]]
    with atomic_path(folder / f"step_{step:07d}.optim.safetensors") as tmp:
        save_file(tensors, str(tmp), metadata={"param_groups": json.dumps(groups)})
    save_model(model, path, training={**training, "step": step})  # written last: marks completion
    return path


def _load_optimizer(opt: torch.optim.Optimizer, model_path: Path) -> None:
    optim_path = model_path.with_name(model_path.name.replace(".safetensors", ".optim.safetensors"))
    from safetensors import safe_open

    with safe_open(str(optim_path), framework="pt") as f:
        groups = json.loads(f.metadata()["param_groups"])
    tensors = load_file(optim_path)
    state: dict[int, dict[str, Tensor]] = {}
    for key, value in tensors.items():
        _, idx, name = key.split(".", 2)
        state.setdefault(int(idx), {})[name] = value
    opt.load_state_dict({"state": state, "param_groups": groups})


@torch.no_grad()
def validate(
    model: FlowChroma, clips: list[tuple[Tensor, Tensor]], device: torch.device
) -> dict[str, float]:
    """Mean a*b* MSE and temporal error on the held-out clips."""
    model.eval()
    mse, temporal = [], []
    for rgb, feats in clips:
        l, ab = to_model_io(rgb[None].to(device))
        pred, _ = model(l, features=feats[None].to(device))
        mse.append(F.mse_loss(pred, ab).item())
        temporal.append(temporal_error(pred, ab).item())
    model.train()
    n = max(1, len(clips))
    return {"val_mse": sum(mse) / n, "val_temporal": sum(temporal) / n}


def train(
    cfg: TrainConfig,
    *,
    stop_after: int | None = None,
    on_step: Callable[[int, float], None] | None = None,
    cache: DataCache | None = None,
) -> Path:
    """Train (or resume) the run in ``cfg.train.run_dir``; returns the final model file.

    ``stop_after`` ends the process early at that step, as a kill would (for tests).
    """
    if cfg.model.design == "v2":
        from flowchroma_core.training.loop_v2 import train_v2

        return train_v2(cfg, stop_after=stop_after, on_step=on_step)
    t = cfg.train
    run_dir = Path(t.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if t.threads:
        torch.set_num_threads(t.threads)
    device = select_device(t.device)
    torch.manual_seed(t.seed)
    found = checkpoints(run_dir)
    if found:
        step0, path = found[-1]
        model, _ = load_model(path, expect=cfg.model, backbone_weights="pretrained", device=device)
        logger.info("resuming %s from step %d", run_dir, step0)
    else:
        step0 = 0
        model = FlowChroma(cfg.model, backbone_weights="pretrained").to(device)
    model.train()
    cache = cache or build_cache(
        cfg.data,
        model,
        Path(cfg.data.cache_dir) if cfg.data.cache_dir else run_dir / "cache",
        device=device,
    )
    sampler = ClipSampler(
        cache,
        clip_length=cfg.model.clip_length,
        height=cfg.model.input_height,
        width=cfg.model.input_width,
        photo_fraction=cfg.data.photo_fraction,
        seed=t.seed,
    )
    val_clips = sampler.validation_clips()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=t.lr, weight_decay=t.weight_decay)
    if found:
        _load_optimizer(opt, found[-1][1])
    scaler = torch.amp.GradScaler("cuda", enabled=device.type == "cuda" and t.precision == "fp16")
    training_meta = {
        "data": cache.summary,
        "config_file": cfg.source,
        "loss": t.loss,
        "batch": t.batch,
        "seed": t.seed,
        "settings": asdict(t),
    }
    log_path = run_dir / "log.jsonl"
    if log_path.exists():  # drop what was logged after the checkpoint we resume from
        kept = [r for r in log_path.read_text().splitlines() if json.loads(r)["step"] <= step0]
        log_path.write_text("".join(r + "\n" for r in kept))
    last_path: Path | None = found[-1][1] if found else None
    begin, clips_done = time.perf_counter(), 0
    bar = tqdm(range(step0, t.steps), initial=step0, total=t.steps, desc="training", unit="step")
    for step in bar:
        if stop_after is not None and step == stop_after:
            break
        for group in opt.param_groups:
            group["lr"] = lr_at(step, cfg)
        rgb, feats = sampler.batch(step, t.batch)
        l, ab = to_model_io(rgb.to(device))
        with autocast(device, t.precision):
            pred, _ = model(l, features=feats.to(device))
        loss = clip_loss(pred.float(), ab, cfg)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(opt)
        grad_norm = torch.nn.utils.clip_grad_norm_(params, t.clip_grad)
        scaler.step(opt)
        scaler.update()
        clips_done += t.batch
        rate = clips_done / (time.perf_counter() - begin)
        record = {
            "step": step + 1,
            "loss": loss.item(),
            "lr": lr_at(step, cfg),
            "grad_norm": float(grad_norm),
            "clips_per_s": rate,
        }
        done = step + 1
        if done % t.validate_every == 0 or done == t.steps:
            record.update(validate(model, val_clips, device))
        with log_path.open("a") as log:
            log.write(json.dumps(record) + "\n")
        bar.set_postfix(loss=f"{loss.item():.4f}", clips_s=f"{rate:.2f}")
        if on_step is not None:
            on_step(done, loss.item())
        if done % t.checkpoint_every == 0 or done == t.steps:
            last_path = _save_checkpoint(model, opt, done, run_dir, {**training_meta, **record})
    bar.close()
    return finish_run(model, opt, last_path, step0, run_dir, training_meta, t.steps, stop_after)


def finish_run(
    model: torch.nn.Module,
    opt: torch.optim.Optimizer,
    last: Path | None,
    step0: int,
    run_dir: Path,
    meta: dict,
    steps: int,
    stop_after: int | None,
) -> Path:
    """After the loop: the final model file, or (stopped early) the last checkpoint."""
    if last is None:
        last = _save_checkpoint(model, opt, step0, run_dir, meta)
    if stop_after is not None:
        return last
    final = run_dir / "model.safetensors"
    model.eval()
    save_model(model, final, training={**meta, "steps": steps})
    return final
