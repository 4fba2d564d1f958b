"""The ``flowchroma`` command line.

Exit codes: 0 done, 1 failed (one clear line on stderr; the traceback goes to the log,
or to stderr with ``--debug``), 130 cancelled with Ctrl+C.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from flowchroma_core import __version__
from flowchroma_core.errors import FlowChromaError

logger = logging.getLogger(__name__)


def _cmd_model_info(args: argparse.Namespace) -> int:
    """Describe a model file (or the default design), and time one clip on this machine."""
    import torch

    from flowchroma_core.device import autocast, describe_device, select_device
    from flowchroma_core.model import DEFAULT_CONFIG, FlowChroma
    from flowchroma_core.weights import load_model

    device = select_device(args.device)
    if args.model:
        model, meta = load_model(
            args.model, backbone_weights=args.backbone_weights or "pretrained", device=device
        )
        print(f"model file:   {args.model} (FlowChroma {meta.flowchroma_version}, {meta.created})")
        if meta.training:
            print(f"trained on:   {meta.training}")
    else:
        model = (
            FlowChroma(DEFAULT_CONFIG, backbone_weights=args.backbone_weights or "pretrained")
            .to(device)
            .eval()
        )
        print("model file:   none (the default design, untrained weights)")
    cfg = model.config
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="flowchroma", description="Colorize black-and-white film."
    )
    parser.add_argument("--version", action="version", version=f"flowchroma {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("model-info", help="describe a model and time one clip")
    p.add_argument("--model", type=Path, help="a FlowChroma .safetensors model file")
    p.add_argument(
        "--backbone-weights", type=Path, help="a file with the backbone's ImageNet weights"
    )
    p.add_argument("--device", default="auto", help="auto, cuda or cpu")
    p.add_argument("--precision", default="fp32", help="fp32, fp16 or bf16 (CUDA only)")
    p.add_argument("--time", action="store_true", help="time one clip's forward pass")
    p.set_defaults(func=_cmd_model_info)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from flowchroma_core.logs import setup_logging

    args = build_parser().parse_args(argv)
    log_path = setup_logging(console_level=logging.DEBUG if args.debug else logging.WARNING)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("cancelled", file=sys.stderr)
        return 130
    except (FlowChromaError, ValueError, OSError) as e:
        logger.info("command failed", exc_info=True)  # the log file keeps the traceback
        if args.debug:
            raise
        hint = f" (details in {log_path})" if log_path else ""
        print(f"flowchroma: error: {e}{hint}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
