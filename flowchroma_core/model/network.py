"""The FlowChroma recurrent video colorizer.

Layout follows timm's habit: building blocks first, then the model with fixed method
names, then the configurations.

Data flow for a clip of T luminance frames (B, T, 1, H, W), L scaled to [-1, 1]:

* a time-distributed CNN encoder turns every frame into a (256, H/8, W/8) grid;
* the encoder grid is mean-pooled per frame (padding excluded) and a 2-layer LSTM runs
  over the clip, then a dense layer: the clip's temporal context (256);
* a frozen ImageNet classifier sees every frame's luminance repeated thrice and gives
  pre-softmax logits (1000): the semantics that pick plausible colours;
* both vectors are tiled over the encoder grid, concatenated with it, fused by a 1x1
  convolution and decoded to a*b* in [-1, 1] at the input resolution.

Improvements over the published design: the pooled features ignore letterbox padding
(masked mean); the LSTM state can be passed in and returned so inference carries it across
clips; backbone logits can be computed once per frame and passed in.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from flowchroma_core.model import backbones

logger = logging.getLogger(__name__)

LSTMState = tuple[Tensor, Tensor]
"""Hidden and cell state of the temporal LSTM, each (num_layers, B, lstm_size)."""


# --------------------------------------------------------------------------- blocks


class Encoder(nn.Module):
    """3x3 convolutions with ReLU; stride 2 where the configuration says so."""

    def __init__(self, in_channels: int, widths: tuple[int, ...], strides: tuple[int, ...]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for width, stride in zip(widths, strides, strict=True):
            layers += [nn.Conv2d(in_channels, width, 3, stride=stride, padding=1), nn.ReLU()]
            in_channels = width
        self.layers = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)


class Decoder(nn.Module):
    """Convolutions with x2 upsampling between stages, tanh a*b*, final bilinear x2."""

    def __init__(
        self,
        in_channels: int,
        stages: tuple[tuple[int, ...], ...],
        mid_upsample: Literal["nearest", "bilinear"],
    ) -> None:
        super().__init__()
        self.mid_upsample = mid_upsample
        self.stages = nn.ModuleList()
        for stage in stages:
            layers: list[nn.Module] = []
            for width in stage:
                layers += [nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU()]
                in_channels = width
            self.stages.append(nn.Sequential(*layers))
        self.head = nn.Conv2d(in_channels, 2, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        for i, stage in enumerate(self.stages):
            if i:
                x = _upsample2(x, self.mid_upsample)
            x = stage(x)
        return _upsample2(torch.tanh(self.head(x)), "bilinear")


def _upsample2(x: Tensor, mode: Literal["nearest", "bilinear"]) -> Tensor:
    if mode == "nearest":
        return F.interpolate(x, scale_factor=2.0, mode="nearest")
    return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)


def masked_mean(x: Tensor, mask: Tensor | None) -> Tensor:
    """Mean over H, W of (N, C, H, W), weighted by a (N, 1, H, W) mask (padding = 0)."""
    if mask is None:
        return x.mean(dim=(2, 3))
    weight = mask.to(x.dtype)
    total = weight.sum(dim=(2, 3)).clamp_min(1e-6)
    return (x * weight).sum(dim=(2, 3)) / total


# --------------------------------------------------------------------------- model


def standardize(logits: Tensor) -> Tensor:
    """Each frame's classifier logits to zero mean and unit spread across the classes.

    Raw logits are an order of magnitude larger than the encoder's features and would
    swamp the fusion layer; standardising keeps what the classifier ranks high, at the
    scale of the rest, with no parameter to learn.
    """
    return (logits - logits.mean(-1, keepdim=True)) / (logits.std(-1, keepdim=True) + 1e-6)


class FlowChroma(nn.Module):
    """Predicts a*b* for a clip of luminance frames; see the module docstring."""

    state_batch_dims = (1, 1)
    """The batch axis of each tensor of the state (the LSTM's h and c, (layers, B, size)):
    runs batched together stack their states there (``pipeline/batching.py``). A state of
    None is the same as zeros."""

    def __init__(
        self,
        config: FlowChromaConfig | None = None,
        *,
        backbone_weights: Literal["pretrained", "random"] | Path = "random",
        allow_download: bool = False,
    ) -> None:
        super().__init__()
        self.config = config = config or FlowChromaConfig()
        self.encoder = Encoder(1, config.encoder_widths, config.encoder_strides)
        enc_out = config.encoder_widths[-1]
        self.lstm = nn.LSTM(
            enc_out, config.lstm_size, num_layers=config.lstm_layers, batch_first=True
        )
        self.temporal_dense = nn.Linear(config.lstm_size, config.temporal_size)
        self.backbone_spec = backbones.get_backbone_spec(config.backbone)
        fused_in = enc_out + config.backbone_classes + config.temporal_size
        self.fusion = nn.Conv2d(fused_in, config.fusion_width, 1)
        self.decoder = Decoder(config.fusion_width, config.decoder_stages, config.mid_upsample)
        # Frozen (requires_grad False) and left out of model files: see weights.py.
        self.backbone, self.backbone_source = backbones.create_backbone(
            config.backbone, weights=backbone_weights, allow_download=allow_download
        )
        self._init_weights()

    def _init_weights(self) -> None:
        """He initialisation for the ReLU convolutions, a small one for the tanh head.

        PyTorch's default (uniform, variance 1/(3 fan_in)) shrinks the signal by about half
        per ReLU layer: through the 8-layer encoder and the decoder the picture all but
        vanished, and training collapsed to a constant a*b* (a dead last decoder layer).
        """
        for name, module in self.named_modules():
            if name.startswith("backbone") or not isinstance(module, nn.Conv2d):
                continue
            if module is self.decoder.head:
                nn.init.xavier_uniform_(module.weight, gain=0.1)
            else:
                nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
            nn.init.zeros_(module.bias)

    def train(self, mode: bool = True) -> FlowChroma:
        super().train(mode)
        self.backbone.eval()  # frozen: its batch-norm statistics never update
        return self

    @torch.no_grad()
    def backbone_features(self, l: Tensor) -> Tensor:
        """Pre-softmax logits (B, T, 1000) for luminance frames (B, T, 1, H, W) in [-1, 1].

        The frames should be whole (padding included is fine: the classifier sees what the
        model sees). Compute once per frame and pass to ``forward`` to avoid repeats.
        """
        b, t = l.shape[:2]
        gray = ((l.flatten(0, 1).float() + 1.0) * 0.5).clamp(0.0, 1.0)
        x = backbones.preprocess_luminance(gray, self.backbone_spec)
        logits = self.backbone(x)
        return logits.float().view(b, t, -1)

    def forward(
        self,
        l: Tensor,
        *,
        features: Tensor | None = None,
        mask: Tensor | None = None,
        state: LSTMState | None = None,
        carry_at: int | None = None,
        vividness: float | None = None,
    ) -> tuple[Tensor, LSTMState]:
        """Colorize a clip.

        Args:
            l: luminance (B, T, 1, H, W) scaled to [-1, 1]; H, W multiples of 8.
            features: cached backbone logits (B, T, 1000); computed here when absent.
            mask: valid (non-padding) area, (B, 1, H, W) or (B, T, 1, H, W) in [0, 1].
            state: LSTM state from the previous clip of the same shot, or None to start.
            carry_at: return the state after the first ``carry_at`` frames instead of after
                the last, for a next clip that starts inside this one (overlapping windows).
            vividness: annealing temperature of a colour-class model's decoding (None: the
                model's default); a regression model ignores it.

        Returns:
            a*b* (B, T, 2, H, W) in [-1, 1] and the LSTM state to carry on with.
        """
        b, t, _, h, w = l.shape
        cfg = self.config
        if h % cfg.grid_stride or w % cfg.grid_stride:
            raise ValueError(f"frame size {h}x{w} is not a multiple of {cfg.grid_stride}")
        if features is None:
            features = self.backbone_features(l)
        enc = self.encoder(l.flatten(0, 1))  # (B*T, C, h', w')
        gh, gw = enc.shape[-2:]

        grid_mask = None
        if mask is not None:
            m = mask if mask.dim() == 5 else mask.unsqueeze(1).expand(b, t, *mask.shape[1:])
            grid_mask = F.adaptive_avg_pool2d(m.flatten(0, 1).to(enc.dtype), (gh, gw))
        pooled = masked_mean(enc, grid_mask).view(b, t, -1)
        if carry_at is None or carry_at == t:
            seq, state = self.lstm(pooled, state)
        else:
            if not 0 < carry_at < t:
                raise ValueError(f"carry_at must be in 1..{t}, got {carry_at}")
            head, state = self.lstm(pooled[:, :carry_at], state)
            tail, _ = self.lstm(pooled[:, carry_at:], state)
            seq = torch.cat([head, tail], dim=1)
        temporal = F.relu(self.temporal_dense(seq))  # (B, T, temporal)

        tiles = torch.cat([standardize(features.to(enc.dtype)), temporal], dim=-1).flatten(0, 1)
        tiles = tiles[:, :, None, None].expand(-1, -1, gh, gw)
        fused = F.relu(self.fusion(torch.cat([enc, tiles], dim=1)))
        ab = self.decoder(fused)
        return ab.view(b, t, 2, h, w), state

    def trainable_parameters(self) -> int:
        """Number of trainable parameters (the frozen backbone excluded)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)


# --------------------------------------------------------------------------- configurations


@dataclass(frozen=True)
class FlowChromaConfig:
    """Every size of the model, so tests can build a tiny one and files can be checked."""

    clip_length: int = 16
    input_height: int = 240
    input_width: int = 320
    encoder_widths: tuple[int, ...] = (64, 128, 128, 256, 256, 512, 512, 256)
    encoder_strides: tuple[int, ...] = (2, 1, 2, 1, 2, 1, 1, 1)
    lstm_size: int = 256
    lstm_layers: int = 2
    temporal_size: int = 256
    fusion_width: int = 256
    decoder_stages: tuple[tuple[int, ...], ...] = ((128,), (64, 64), (32,))
    mid_upsample: Literal["nearest", "bilinear"] = "nearest"
    backbone: str = "tf_efficientnet_lite0"
    backbone_classes: int = 1000
    # v2 (flowchroma_v2.py); "paper" is the published design above
    design: Literal["paper", "v2"] = "paper"
    head: Literal["regression", "classes"] = "regression"
    spatial_skips: bool = True
    guidance: bool = False
    colour_bins: int = 0
    semantic_size: int = 64
    gru_size: int = 48
    decoder_widths: tuple[int, ...] = (128, 96, 64, 32)
    match_size: int = 64
    guide_blend: bool = False
    vividness: float = 0.6

    def __post_init__(self) -> None:
        if self.design not in ("paper", "v2"):
            raise ValueError("design must be one of: paper, v2")
        if self.design == "v2":
            self._check_v2()
            return
        if len(self.encoder_widths) != len(self.encoder_strides):
            raise ValueError("encoder_widths and encoder_strides differ in length")
        if any(s not in (1, 2) for s in self.encoder_strides):
            raise ValueError("encoder strides must be 1 or 2")
        down = self.grid_stride
        up = 2 ** len(self.decoder_stages)  # (stages - 1) mid upsamplings + the final one
        if down != up:
            raise ValueError(f"encoder downsamples x{down} but the decoder upsamples x{up}")
        if self.input_height % down or self.input_width % down:
            raise ValueError(f"input size must be a multiple of {down}")
        if self.mid_upsample not in ("nearest", "bilinear"):
            raise ValueError("mid_upsample must be one of: nearest, bilinear")
        backbones.get_backbone_spec(self.backbone)

    def _check_v2(self) -> None:
        if len(self.encoder_widths) != 4 or len(self.decoder_widths) != 4:
            raise ValueError("a v2 model has 4 encoder widths and 4 decoder widths")
        if self.input_height % 32 or self.input_width % 32:
            raise ValueError("a v2 model's input size must be a multiple of 32")
        if self.head not in ("regression", "classes"):
            raise ValueError("head must be one of: regression, classes")
        if self.colour_bins < 0 or self.colour_bins == 1:
            raise ValueError("colour_bins must be 0 (counted on the training data) or at least 2")
        if not 0.0 <= self.vividness <= 1.0:
            raise ValueError("vividness must be in 0..1")
        backbones.get_backbone_spec(self.backbone)

    @property
    def grid_stride(self) -> int:
        """How much the encoder shrinks a frame (8 for the published design)."""
        return 2 ** sum(1 for s in self.encoder_strides if s == 2)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FlowChromaConfig:
        """Build from JSON-like data; unknown keys are an error (a newer file format)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown configuration keys: {', '.join(unknown)}")
        kwargs: dict[str, Any] = dict(data)
        for key in ("encoder_widths", "encoder_strides", "decoder_widths"):
            if key in kwargs:
                kwargs[key] = tuple(kwargs[key])
        if "decoder_stages" in kwargs:
            kwargs["decoder_stages"] = tuple(tuple(s) for s in kwargs["decoder_stages"])
        return cls(**kwargs)

    def differences(self, other: FlowChromaConfig) -> list[str]:
        """Human-readable ``name: mine != theirs`` for every differing field."""
        a, b = self.to_dict(), other.to_dict()
        return [f"{k}: {a[k]!r} != {b[k]!r}" for k in a if a[k] != b[k]]


DEFAULT_CONFIG = FlowChromaConfig()
"""The published design at 240x320, 16-frame clips, EfficientNet-Lite0 semantics."""


def create_model(
    config: FlowChromaConfig,
    *,
    backbone_weights: Literal["pretrained", "random"] | Path = "random",
    allow_download: bool = False,
) -> nn.Module:
    """The network a configuration describes: the published design or v2."""
    if config.design == "v2":
        from flowchroma_core.model.flowchroma_v2 import FlowChromaV2

        return FlowChromaV2(
            config, backbone_weights=backbone_weights, allow_download=allow_download
        )
    return FlowChroma(config, backbone_weights=backbone_weights, allow_download=allow_download)


TINY_CONFIG = FlowChromaConfig(
    clip_length=4,
    input_height=64,
    input_width=96,
    encoder_widths=(16, 32, 32, 32),
    encoder_strides=(2, 1, 2, 2),
    lstm_size=16,
    lstm_layers=2,
    temporal_size=16,
    fusion_width=32,
    decoder_stages=((32,), (16,), (16,)),
)
"""For tests and quick experiments on a CPU."""

V2_CONFIG = FlowChromaConfig(
    design="v2",
    clip_length=8,
    input_height=256,
    input_width=320,
    encoder_widths=(16, 32, 64, 96),
    lstm_size=128,
    lstm_layers=1,
    temporal_size=64,
    head="classes",
    colour_bins=313,
    guidance=True,
)
"""Colour model v2: spatial skips, ConvGRU, colour classes, guidance inputs (256x320)."""

TINY_V2_CONFIG = FlowChromaConfig(
    design="v2",
    clip_length=4,
    input_height=64,
    input_width=96,
    encoder_widths=(8, 8, 16, 16),
    lstm_size=8,
    lstm_layers=1,
    temporal_size=8,
    semantic_size=8,
    gru_size=8,
    decoder_widths=(16, 16, 16, 16),
    match_size=8,
    head="classes",
    colour_bins=16,
    guidance=True,
)
"""A v2 model for tests on a CPU."""
