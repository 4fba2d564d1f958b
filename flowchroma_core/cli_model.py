"""The model commands of ``flowchroma``: ``model-info`` (describe a model file and time one
clip) and ``train`` (train or resume from a TOML configuration). ``cli.py`` parses the
arguments and handles errors and exit codes for them."""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def cmd_model_info(args: argparse.Namespace) -> int:
    """Describe a model file (or the default design), and time one clip on this machine."""
    import torch

    from flowchroma_core.model.device import autocast, describe_device, select_device
    from flowchroma_core.model.files import default_model_path, load_model
    from flowchroma_core.model.network import DEFAULT_CONFIG, FlowChroma

    device = select_device(args.device)
    path = args.model or default_model_path()
    if path is not None:
        model, meta = load_model(
            path, backbone_weights=args.backbone_weights or "pretrained", device=device
        )
        shipped = "" if args.model else "the shipped default, "
        print(
            f"model file:   {path} ({shipped}FlowChroma {meta.flowchroma_version}, {meta.created})"
        )
        training = meta.training
        base = training.get("base")
        runs = [("trained:", base or training), ("fine-tuned:", training if base else {})]
        for label, run in runs:
            if not run:
                continue
            data = run.get("data", {})
            what = "guidance paths only, " if run.get("settings", {}).get("guidance_only") else ""
            print(
                f"{label:<13} {run.get('steps', run.get('step', '?'))} steps, {what}"
                f"loss {run.get('loss', '?')}, batch {run.get('batch', '?')}; "
                f"{data.get('videos', '?')} videos ({data.get('video_frames', '?')} frames), "
                f"{data.get('photos', '?')} photos"
            )
        mean = meta.evaluation.get("mean", {}).get("methods", {})
        for method, scores in mean.items():
            figures = ", ".join(f"{k} {v:.4g}" for k, v in scores.items())
            print(f"evaluation:   {method}: {figures}")
    else:
        model = (
            FlowChroma(DEFAULT_CONFIG, backbone_weights=args.backbone_weights or "pretrained")
            .to(device)
            .eval()
        )
        print("model file:   none installed (the default design, untrained weights)")
    cfg = model.config
    design = "v2: backbone maps as skips, ConvGRU" if cfg.design == "v2" else "paper: logits only"
    head = (
        f"{cfg.colour_bins} colour classes, default vividness {cfg.vividness:g}"
        if cfg.head == "classes"
        else "a*b* regression (vividness has no effect)"
    )
    guided = "; takes reference stills and colour points" if cfg.guidance else ""
    print(f"design:       {design}; {head}{guided}")
    src = model.backbone_source
    print(f"input:        {cfg.clip_length} frames of {cfg.input_height}x{cfg.input_width}")
    print(f"trainable:    {model.trainable_parameters():,} parameters")
    print(f"backbone:     {cfg.backbone} (frozen; weights: {src.kind} {src.location})")
    print(f"device:       {describe_device(device)}")
    if args.time:
        l = torch.zeros(1, cfg.clip_length, 1, cfg.input_height, cfg.input_width, device=device)
        with torch.inference_mode(), autocast(device, args.precision):
            model(l)  # warm-up
            start = time.perf_counter()
            ab, _ = model(l)
            if device.type == "cuda":
                torch.cuda.synchronize()
        elapsed = time.perf_counter() - start
        rate = cfg.clip_length / elapsed
        print(f"one clip:     {tuple(ab.shape)} in {elapsed:.2f} s ({rate:.1f} frames/s)")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    """Train (or resume) a model from a TOML configuration."""
    from flowchroma_core.training import load_train_config, train

    cfg = load_train_config(args.config)
    run_dir = Path(cfg.train.run_dir)
    print(f"run folder:   {run_dir}")
    print(f"checkpoints:  {run_dir / 'checkpoints'} (every {cfg.train.checkpoint_every} steps)")
    print(f"log:          {run_dir / 'log.jsonl'}")
    print(f"final model:  {run_dir / 'model.safetensors'}")
    print("interrupt at any time; running the same command again resumes")
    final = train(cfg)
    print(f"trained model written to {final}")
    return 0
