"""FlowChroma v2: spatial semantics from the frozen backbone, colour classes, guidance inputs.

The shape of the published design is kept (a per-frame CNN on L*, a frozen ImageNet
backbone, an LSTM over the clip, fusion, a decoder) and three things are added:

* **Spatial semantics.** The frozen ``tf_efficientnet_lite*`` backbone runs on the frame at
  the model's own input size; its feature maps at strides 4, 8, 16 and 32 enter the decoder
  as U-Net skips at matching scales, next to the standardised global logits and the LSTM's
  clip context. The network can now tell which pixel is grass and which is sky.
* **Local recurrence.** Besides the pooled LSTM, a ConvGRU at stride 16 carries a map of
  colour state from frame to frame (and across clips: it is part of the state returned),
  reset at cuts exactly as the LSTM is.
* **Colour classes.** The head predicts, per pixel at stride 4, a distribution over the
  in-gamut a*b* bins of a grid of 10 (Zhang, Isola and Efros 2016), trained with class
  rebalancing and decoded by the annealed mean. The user's *vividness* sets both the
  annealing temperature and how much of the rebalancing is taken back before decoding
  (``decode``): at 0 the calibrated mean (the colour with the least expected error), at 1
  the rebalanced, annealed colour (rare, saturated colours favoured).
* **Guidance** (restorer points and reference stills), every path fed by inputs that are
  zero when there is no guidance, so that without guidance the result is exactly the
  automatic one: hint channels (a_h, b_h, confidence) at the input and pooled again at
  strides 4/8/16; reference stills matched to each frame by a cosine softmax on the
  backbone's stride-8/16 features (Deep Exemplar's non-local warp, several references
  concatenated as DeepRemaster does), giving warped reference a*b* and a similarity map.

Features of the backbone are packed per frame into one vector (logits, then each map
flattened) so that callers cache, slice and stack them exactly as they did the logits.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from flowchroma_core.model import backbones

if TYPE_CHECKING:
    from flowchroma_core.model.network import FlowChromaConfig

V2State = tuple[Tensor, Tensor, Tensor]
"""LSTM hidden and cell (layers, B, lstm) and the ConvGRU map (B, gru, H/16, W/16)."""

HINT_SCALE = 110.0
"""Hint and reference a*b* are divided by this (ideepcolor's convention)."""

FEATURE_STRIDES = (4, 8, 16, 32)
GRID = 10.0
"""Side of the a*b* grid the colour classes quantise (Zhang et al. 2016)."""

DEFAULT_VIVIDNESS = 0.6
"""Used when a model file does not name its own measured default."""


def temperature(vividness: float) -> float:
    """Annealing temperature for a vividness in [0, 1]: 0 the mean (muted), 1 near the mode."""
    v = min(1.0, max(0.0, float(vividness)))
    return 1.0 - 0.85 * v


def prior_correction(vividness: float) -> float:
    """How much of the class rebalancing ``decode`` takes back for a vividness in [0, 1].

    Training weights each pixel's loss by the inverse of its colour's (smoothed) frequency,
    so the predicted distribution over-weights rare colours by about that weight: dividing
    it back out (subtracting the log weight from the logits) gives the calibrated
    distribution, whose mean has the least expected error. 1 at vividness 0 (calibrated),
    0 at vividness 1 (as trained). Measured on DAVIS (``docs/TRAINING.md``): full correction
    +0.7 dB PSNR, and the grey test card's cast from +2.3/-5.3 to +2.1/-1.2.
    """
    return 1.0 - min(1.0, max(0.0, float(vividness)))


class GuideBlend(nn.Module):
    """Full-resolution trust in carried colour: ``ab + presence * gate * (hint - ab)``.

    The network itself sees the hints only through its stride-2 input and pooled maps, so
    its output (stride 4, upsampled) cannot keep the fine colour edges of a reference still
    carried by flow. This small network decides per pixel, from the frame's L*, the hint
    and its confidence and the network's own a*b*, how far to take the carried colour
    instead. ``presence`` (confidence > 0) makes it exactly the identity without guidance.
    """

    def __init__(self, hidden: int = 16) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(6, hidden, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, hidden, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, 1, 1),
        )

    def forward(self, ab: Tensor, l: Tensor, hints: Tensor) -> Tensor:
        """``ab`` (N, 2, H, W) in [-1, 1] (a*b* / 128), ``l`` (N, 1, H, W) normalised L*,
        ``hints`` (N, 3, H, W) (a*/110, b*/110, confidence) -> blended a*b* (N, 2, H, W)."""
        hint_ab = hints[:, :2] * (HINT_SCALE / 128.0)
        conf = hints[:, 2:3]
        gate = self.gate(ab, l, hint_ab, conf)
        return ab + (conf > 0).to(ab) * gate * (hint_ab - ab)

    def gate(self, ab: Tensor, l: Tensor, hint_ab: Tensor, conf: Tensor) -> Tensor:
        """(N, 1, H, W) how far to take the hint's a*b* (``hint_ab``, on ``ab``'s scale)."""
        return torch.sigmoid(self.net(torch.cat([l, hint_ab, conf, ab], 1)))


def _conv(cin: int, cout: int, k: int = 3, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2)


class ConvGRUCell(nn.Module):
    """A convolutional GRU: a map of state updated per frame (3x3 gates)."""

    def __init__(self, in_channels: int, hidden: int) -> None:
        super().__init__()
        self.hidden = hidden
        self.gates = _conv(in_channels + hidden, 2 * hidden)
        self.candidate = _conv(in_channels + hidden, hidden)

    def forward(self, x: Tensor, h: Tensor | None) -> Tensor:
        if h is None:
            h = x.new_zeros(x.shape[0], self.hidden, *x.shape[-2:])
        z, r = torch.sigmoid(self.gates(torch.cat([x, h], 1))).chunk(2, 1)
        n = torch.tanh(self.candidate(torch.cat([x, r * h], 1)))
        return (1 - z) * h + z * n


def feature_shapes(
    spec: backbones.BackboneSpec, channels: tuple[int, ...], height: int, width: int
) -> list[tuple[int, int, int]]:
    """(C, H, W) of the backbone maps at strides 4..32 for an input of height x width."""
    return [
        (c, math.ceil(height / s), math.ceil(width / s))
        for c, s in zip(channels, FEATURE_STRIDES, strict=True)
    ]


class FlowChromaV2(nn.Module):
    """Predicts a*b* for a clip of luminance frames; see the module docstring."""

    state_batch_dims = (1, 1, 0)
    """The batch axis of each tensor of the state (the LSTM's h and c, (layers, B, size);
    the ConvGRU's map, (B, C, h, w)): runs batched together stack their states there
    (``pipeline/batching.py``). A state of None is the same as zeros."""

    def __init__(
        self, config: FlowChromaConfig, *, backbone_weights="random", allow_download=False
    ) -> None:
        super().__init__()
        self.config = cfg = config
        self.backbone_spec = backbones.get_backbone_spec(cfg.backbone)
        self.backbone, self.backbone_source = backbones.create_backbone(
            cfg.backbone, weights=backbone_weights, allow_download=allow_download
        )
        chans = tuple(
            i["num_chs"] for i in self.backbone.feature_info if i["reduction"] in FEATURE_STRIDES
        )
        self._indices = [
            k for k, i in enumerate(self.backbone.feature_info) if i["reduction"] in FEATURE_STRIDES
        ]
        self.feature_channels = chans
        skips = chans if cfg.spatial_skips else (0, 0, 0, 0)
        # the input is first halved (the backbone sees it whole); then four stride-2 stages
        # give maps at strides 4, 8, 16, 32 of the input, aligned with the backbone's
        e = cfg.encoder_widths
        g = 3 if cfg.guidance else 0  # hint (or reference) channels at each scale
        self.encoder = nn.ModuleList(
            [_conv(1 + g, e[0], stride=2)] + [_conv(e[i], e[i + 1], stride=2) for i in range(3)]
        )
        self.lstm = nn.LSTM(e[3], cfg.lstm_size, num_layers=cfg.lstm_layers, batch_first=True)
        self.temporal_dense = nn.Linear(cfg.lstm_size, cfg.temporal_size)
        self.semantic_dense = nn.Linear(cfg.backbone_classes, cfg.semantic_size)
        d32, d16, d8, d4 = cfg.decoder_widths
        self.fuse32 = _conv(e[3] + skips[3] + cfg.temporal_size + cfg.semantic_size, d32, 1)
        self.conv32 = _conv(d32, d32)
        self.fuse16 = _conv(d32 + e[2] + skips[2] + 2 * g, d16, 1)
        self.gru = ConvGRUCell(d16, cfg.gru_size)
        self.conv16 = _conv(d16 + cfg.gru_size, d16)
        self.fuse8 = _conv(d16 + e[1] + skips[1] + 2 * g, d8, 1)
        self.conv8 = _conv(d8, d8)
        self.fuse4 = _conv(d8 + e[0] + skips[0] + 2 * g, d4, 1)
        self.conv4 = _conv(d4, d4)
        if cfg.head == "classes" and cfg.colour_bins < 2:
            raise ValueError("a colour-class head needs colour_bins (set from the training data)")
        out = cfg.colour_bins if cfg.head == "classes" else 2
        self.head = nn.Conv2d(d4, out, 1)
        if cfg.head == "classes":
            # bin centres (a*, b*) and rebalancing weights: set from the training data
            self.register_buffer("bins", torch.zeros(cfg.colour_bins, 2))
            self.register_buffer("bin_weights", torch.ones(cfg.colour_bins))
        if cfg.guidance:
            self.match_proj = nn.Conv2d(chans[1] + chans[2], cfg.match_size, 1)
            self.match_scale = nn.Parameter(torch.tensor(math.log(50.0)))
        if cfg.guidance and cfg.guide_blend:
            self.blend = GuideBlend()
        self._init_weights()

    # ------------------------------------------------------------------ set-up

    def _init_weights(self) -> None:
        """He initialisation for ReLU convolutions; guidance inputs start at zero weight."""
        for name, module in self.named_modules():
            if name.startswith("backbone") or not isinstance(module, nn.Conv2d):
                continue
            if module is self.head:
                nn.init.xavier_uniform_(module.weight, gain=0.1)
            else:
                nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
            nn.init.zeros_(module.bias)
        if self.config.guidance:
            with torch.no_grad():
                self.encoder[0].weight[:, 1:] = 0
                for fuse in (self.fuse16, self.fuse8, self.fuse4):
                    fuse.weight[:, -6:] = 0
                if self.config.guide_blend:  # starts trusting a hint mostly (sigmoid(2))
                    nn.init.zeros_(self.blend.net[-1].weight)
                    nn.init.constant_(self.blend.net[-1].bias, 2.0)

    def train(self, mode: bool = True) -> FlowChromaV2:
        super().train(mode)
        self.backbone.eval()
        return self

    def trainable_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    # ------------------------------------------------------------------ backbone

    def _shapes(self, h: int, w: int) -> list[tuple[int, int, int]]:
        return feature_shapes(self.backbone_spec, self.feature_channels, h, w)

    def feature_size(self, h: int, w: int) -> int:
        """Length of one frame's packed backbone features at input size h x w."""
        return self.config.backbone_classes + sum(c * y * x for c, y, x in self._shapes(h, w))

    @torch.no_grad()
    def backbone_features(self, l: Tensor) -> Tensor:
        """Packed logits and feature maps (B, T, D) for luminance (B, T, 1, H, W) in [-1, 1]."""
        b, t = l.shape[:2]
        gray = ((l.flatten(0, 1).float() + 1.0) * 0.5).clamp(0.0, 1.0)
        spec = self.backbone_spec
        mean = torch.tensor(spec.mean, device=gray.device).view(1, 3, 1, 1)
        std = torch.tensor(spec.std, device=gray.device).view(1, 3, 1, 1)
        x = (gray.expand(-1, 3, -1, -1) - mean) / std
        final, maps = self.backbone.forward_intermediates(x, indices=self._indices)
        logits = self.backbone.forward_head(final)
        parts = [logits.float()] + [m.float().flatten(1) for m in maps]
        return torch.cat(parts, 1).view(b, t, -1)

    def unpack_features(self, features: Tensor, h: int, w: int) -> tuple[Tensor, list[Tensor]]:
        """Packed (N, D) -> logits (N, classes) and the four maps (N, C, H/s, W/s)."""
        n = features.shape[0]
        k = self.config.backbone_classes
        if features.shape[1] != self.feature_size(h, w):
            raise ValueError(
                f"backbone features have {features.shape[1]} values per frame; a {h}x{w} input "
                f"needs {self.feature_size(h, w)}"
            )
        logits, offset, maps = features[:, :k], k, []
        for c, y, x in self._shapes(h, w):
            maps.append(features[:, offset : offset + c * y * x].reshape(n, c, y, x))
            offset += c * y * x
        return logits, maps

    # ------------------------------------------------------------------ guidance

    def _match_features(self, maps: list[Tensor]) -> Tensor:
        """Normalised matching features at stride 8 from the backbone's stride-8/16 maps."""
        f8, f16 = maps[1], maps[2]
        x = torch.cat([f8, F.interpolate(f16, size=f8.shape[-2:], mode="nearest")], 1)
        x = self.match_proj(x)
        x = x - x.mean(1, keepdim=True)
        return F.normalize(x, dim=1)

    def _reference_maps(
        self, maps: list[Tensor], b: int, t: int, references: Tensor, ref_features: Tensor
    ) -> Tensor:
        """Warped reference a*b* and similarity at stride 8: (B*T, 3, H/8, W/8).

        ``references`` (B, R, 3, H, W) normalised Lab; ``ref_features`` (B, R, D) packed.
        """
        r = references.shape[1]
        h, w = references.shape[-2:]
        q = self._match_features(maps)  # (BT, C, y, x)
        _, ref_maps = self.unpack_features(ref_features.flatten(0, 1).float(), h, w)
        k = self._match_features(ref_maps)  # (BR, C, y, x)
        c, y, x = q.shape[1:]
        q = q.view(b, t, c, y * x).transpose(2, 3)  # (B, T, P, C)
        k = k.view(b, r, c, y * x).permute(0, 2, 1, 3).reshape(b, c, r * y * x)  # (B, C, R*P)
        cos = torch.einsum("btpc,bcq->btpq", q, k)
        ref_ab = references[:, :, 1:].float()  # a*/110, b*/110, like the hints
        ab = F.adaptive_avg_pool2d(ref_ab.flatten(0, 1), (y, x)).view(b, r, 2, y * x)
        ab = ab.permute(0, 2, 1, 3).reshape(b, 2, r * y * x)  # (B, 2, R*P)
        attn = torch.softmax(cos * self.match_scale.exp(), dim=-1)
        warped = torch.einsum("btpq,bcq->btcp", attn, ab)
        sim = cos.amax(-1).clamp_min(0).unsqueeze(2)  # (B, T, 1, P)
        out = torch.cat([warped * sim, sim], 2)
        return out.reshape(b * t, 3, y, x)

    # ------------------------------------------------------------------ forward

    def forward_head(
        self,
        l: Tensor,
        *,
        features: Tensor | None = None,
        mask: Tensor | None = None,
        state: V2State | None = None,
        carry_at: int | None = None,
        hints: Tensor | None = None,
        references: Tensor | None = None,
        reference_features: Tensor | None = None,
        reference_present: Tensor | None = None,
    ) -> tuple[Tensor, V2State]:
        """The head's output at stride 4, (B, T, classes or 2, H/4, W/4), and the state."""
        from flowchroma_core.model.network import masked_mean, standardize

        cfg = self.config
        b, t, _, h, w = l.shape
        if h % 32 or w % 32:
            raise ValueError(f"frame size {h}x{w} is not a multiple of 32")
        if carry_at is not None and not 0 < carry_at <= t:
            raise ValueError(f"carry_at must be in 1..{t}, got {carry_at}")
        if features is None:
            features = self.backbone_features(l)
        logits, maps = self.unpack_features(features.flatten(0, 1).float(), h, w)
        x = l.flatten(0, 1)
        if cfg.guidance:
            hint = x.new_zeros(b * t, 3, h, w) if hints is None else hints.flatten(0, 1).to(x.dtype)
            hint = torch.cat([hint[:, :2] * hint[:, 2:3], hint[:, 2:3]], 1)
            x = torch.cat([x, hint], 1)
            if references is not None:
                if reference_features is None:
                    reference_features = self.backbone_features(references[:, :, :1])
                ref8 = self._reference_maps(maps, b, t, references, reference_features)
                if reference_present is not None:
                    ref8 = (
                        ref8 * reference_present.to(ref8).repeat_interleave(t)[:, None, None, None]
                    )
            else:
                ref8 = x.new_zeros(b * t, 3, h // 8, w // 8)
        x = F.avg_pool2d(x, 2)
        enc = []
        for conv in self.encoder:
            x = F.relu(conv(x))
            enc.append(x)
        e4, e8, e16, e32 = enc

        def guide(size: tuple[int, int]) -> list[Tensor]:
            if not cfg.guidance:
                return []
            return [
                F.adaptive_avg_pool2d(hint, size),
                F.interpolate(ref8, size=size, mode="bilinear", align_corners=False)
                if ref8.shape[-2:] != size
                else ref8,
            ]

        def skip(i: int, size: tuple[int, int]) -> list[Tensor]:
            if not cfg.spatial_skips:
                return []
            m = maps[i]
            return [m if m.shape[-2:] == size else F.interpolate(m, size=size, mode="nearest")]

        gh, gw = e32.shape[-2:]
        grid_mask = None
        if mask is not None:
            m = mask if mask.dim() == 5 else mask.unsqueeze(1).expand(b, t, *mask.shape[1:])
            grid_mask = F.adaptive_avg_pool2d(m.flatten(0, 1).to(e32.dtype), (gh, gw))
        pooled = masked_mean(e32, grid_mask).view(b, t, -1)
        lstm_state = None if state is None else (state[0], state[1])
        gru_h = None if state is None else state[2]
        if carry_at is None or carry_at == t:
            seq, lstm_state = self.lstm(pooled, lstm_state)
            carried_lstm = lstm_state
        else:
            head, carried_lstm = self.lstm(pooled[:, :carry_at], lstm_state)
            tail, lstm_state = self.lstm(pooled[:, carry_at:], carried_lstm)
            seq = torch.cat([head, tail], 1)
        temporal = F.relu(self.temporal_dense(seq)).flatten(0, 1)
        semantic = F.relu(self.semantic_dense(standardize(logits)))
        tiles = torch.cat([temporal, semantic], 1)[:, :, None, None].expand(-1, -1, gh, gw)
        y = F.relu(self.fuse32(torch.cat([e32, *skip(3, (gh, gw)), tiles], 1)))
        y = F.relu(self.conv32(y))

        size16 = e16.shape[-2:]
        y = F.interpolate(y, size=size16, mode="nearest")
        y = F.relu(self.fuse16(torch.cat([y, e16, *skip(2, size16), *guide(size16)], 1)))
        y = y.view(b, t, *y.shape[1:])
        outs, carried_gru = [], None
        for i in range(t):
            gru_h = self.gru(y[:, i], gru_h)
            outs.append(gru_h)
            if carry_at is not None and i + 1 == carry_at:
                carried_gru = gru_h
        if carried_gru is None:
            carried_gru = gru_h
        g = torch.stack(outs, 1).flatten(0, 1)
        y = F.relu(self.conv16(torch.cat([y.flatten(0, 1), g], 1)))

        size8 = e8.shape[-2:]
        y = F.interpolate(y, size=size8, mode="nearest")
        y = F.relu(self.fuse8(torch.cat([y, e8, *skip(1, size8), *guide(size8)], 1)))
        y = F.relu(self.conv8(y))
        size4 = e4.shape[-2:]
        y = F.interpolate(y, size=size4, mode="nearest")
        y = F.relu(self.fuse4(torch.cat([y, e4, *skip(0, size4), *guide(size4)], 1)))
        y = F.relu(self.conv4(y))
        out = self.head(y)
        out = out.view(b, t, *out.shape[1:])
        new_state = (carried_lstm[0], carried_lstm[1], carried_gru)
        return out, new_state

    def decode(self, out: Tensor, vividness: float | None = None) -> Tensor:
        """Head output (..., K, y, x) -> normalised a*b* (..., 2, y, x) in [-1, 1]."""
        if self.config.head != "classes":
            return torch.tanh(out)
        v = self.config.vividness if vividness is None else vividness
        logits = out.float()
        beta = prior_correction(v)
        if beta:
            shape = [1] * logits.dim()
            shape[-3] = -1
            log_weights = torch.log(self.bin_weights.float().clamp_min(1e-6)).view(shape)
            logits = logits - beta * log_weights
        p = torch.softmax(logits / temperature(v), dim=-3)
        ab = torch.einsum("...kyx,kc->...cyx", p, self.bins.float())
        return ab / 128.0

    def forward(
        self,
        l: Tensor,
        *,
        features: Tensor | None = None,
        mask: Tensor | None = None,
        state: V2State | None = None,
        carry_at: int | None = None,
        vividness: float | None = None,
        hints: Tensor | None = None,
        references: Tensor | None = None,
        reference_features: Tensor | None = None,
    ) -> tuple[Tensor, V2State]:
        """a*b* (B, T, 2, H, W) in [-1, 1] for luminance (B, T, 1, H, W), and the state.

        Arguments as ``FlowChroma.forward``; ``hints`` (B, T, 3, H, W): a*/110, b*/110 and a
        confidence in [0, 1]; ``references`` (B, R, 3, H, W): reference stills as
        Lab (L* / 50 - 1, a* / 110, b* / 110), fitted to the input as frames
        are; ``reference_features`` their packed backbone features, if already computed.
        """
        out, state = self.forward_head(
            l,
            features=features,
            mask=mask,
            state=state,
            carry_at=carry_at,
            hints=hints,
            references=references,
            reference_features=reference_features,
        )
        return self.finish(l, out, vividness, hints).to(l.dtype), state

    def finish(
        self, l: Tensor, out: Tensor, vividness: float | None = None, hints: Tensor | None = None
    ) -> Tensor:
        """Head output (B, T, K, H/4, W/4) -> a*b* (B, T, 2, H, W): decoded, upsampled and,
        with a blend and hints, blended with the carried colour at full resolution."""
        b, t, _, h, w = l.shape
        ab = self.decode(out.flatten(0, 1), vividness)
        ab = F.interpolate(ab, size=(h, w), mode="bilinear", align_corners=False)
        if hints is not None and self.config.guidance and self.config.guide_blend:
            ab = self.blend(ab, l.flatten(0, 1).to(ab), hints.flatten(0, 1).to(ab))
        return ab.view(b, t, 2, h, w)
