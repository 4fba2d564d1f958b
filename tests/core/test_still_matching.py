"""A still of other content matched to frames by fixed feature similarity (``pipeline.matching``):
a frame whose features are the still's, moved, takes the still's colours, moved, with full
confidence; unrelated features, one-sided matches and a frame that on the whole resembles
the still too little give none."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from flowchroma_core.pipeline.matching import FRAME_GATE, match_still, merge_hints

C, Y, X = 64, 4, 6


def _key(seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(C, Y, X, generator=g), dim=0)


def _cell_colours() -> torch.Tensor:
    """(2, Y, X): a distinct a*/b* per cell, at the scale hints use (|v| < 1)."""
    a = torch.linspace(-0.6, 0.6, Y * X).view(Y, X)
    return torch.stack([a, -a.flip(0)])


def test_a_frame_of_the_stills_content_moved_takes_its_colours_moved() -> None:
    key, ab = _key(), _cell_colours()
    query = torch.roll(key, shifts=1, dims=2)[None]  # the same content one cell to the right
    hints = match_still(query, key, ab, (Y, X))
    torch.testing.assert_close(hints[0, :2], torch.roll(ab, shifts=1, dims=2), atol=1e-3, rtol=0)
    assert hints[0, 2].min() > 0.99


def test_unrelated_content_gives_no_confidence() -> None:
    hints = match_still(_key(1)[None], _key(2), _cell_colours(), (Y, X))
    assert hints[0, 2].max() == 0.0


def _blurred(key: torch.Tensor, similarity: float, seed: int = 3) -> torch.Tensor:
    """``key`` mixed with noise orthogonal to it, so every cell's cosine to its own is
    ``similarity`` (and to other cells near 0)."""
    g = torch.Generator().manual_seed(seed)
    noise = torch.randn(C, Y, X, generator=g)
    noise = F.normalize(noise - (noise * key).sum(0, keepdim=True) * key, dim=0)
    return similarity * key + (1 - similarity**2) ** 0.5 * noise


def test_a_frame_that_resembles_the_still_too_little_takes_nothing_from_it() -> None:
    key, ab = _key(), _cell_colours()
    low, high = FRAME_GATE
    unsure = match_still(_blurred(key, low - 0.02)[None], key, ab, (Y, X))[0, 2]
    assert unsure.max() == 0.0  # each cell's own match is mutual, but the frame is gated
    sure = match_still(_blurred(key, high + 0.05)[None], key, ab, (Y, X))[0, 2]
    assert sure.min() > 0.4


def test_a_match_that_is_not_mutual_gives_no_confidence() -> None:
    key, ab = _key(), _cell_colours()
    query = key[:, :1, :1].expand(C, Y, X)[None]  # every frame cell looks like still cell (0, 0)
    conf = match_still(query, key, ab, (Y, X))[0, 2]
    # still cell (0, 0) leads back to one frame cell (the first of the ties): only cells
    # within one cell of it count, the others are one-sided matches
    assert conf[:2, :2].min() > 0.99
    assert conf[2:].max() == 0.0 and conf[:, 2:].max() == 0.0


def test_the_hints_are_brought_to_the_frame_size_and_merged_by_confidence() -> None:
    key, ab = _key(), _cell_colours()
    hints = match_still(key[None], key, ab, (4 * Y, 4 * X))
    assert hints.shape == (1, 3, 4 * Y, 4 * X)
    carried = torch.zeros(1, 1, 3, 4 * Y, 4 * X)
    carried[..., 2, :, : 2 * X] = 1.0  # the left half carried with full confidence, grey
    matched = hints[None] * torch.tensor([1.0, 1.0, 0.8]).view(3, 1, 1)  # confidence 0.8
    merged = merge_hints(carried, matched)
    assert torch.equal(merged[..., :, : 2 * X], carried[..., :, : 2 * X])  # 1 beats 0.8
    assert torch.equal(merged[..., :, 2 * X :], matched[..., :, 2 * X :])  # 0.8 beats 0
    assert torch.equal(merge_hints(None, matched), matched)
