"""Overlapping sliding windows over a scene and seam-free stitching in row strips.

Windows of ``window`` pixels step by ``window - overlap``; the last window of a
row or column is shifted back to end at the scene border (mmseg's
``slide_inference`` grid), so every window has the full size.

Stitching. Each window's logits are accumulated with a weight that tapers
towards the window sides that lie inside the scene (sides on the scene border
keep full weight). Along such a side the weight is 0 for the outermost
``margin`` pixels, whose logits are distorted by the zero padding of the
network, then rises as ``sin^2`` over the next ``overlap - 2 * margin``
pixels. For two neighbours overlapping by exactly ``overlap`` pixels the two
weights add up to 1 at every pixel (``sin^2 + cos^2``); everywhere the
accumulated logits are divided by the accumulated weight. So a network whose
receptive field reaches at most ``margin`` pixels gives the same logits as a
forward pass over the whole scene, and for larger receptive fields the
border artefacts are faded out instead of leaving seams.

Memory. Windows are processed one window row at a time; the accumulator holds
one window height of rows over the scene width. Once a window row is done,
the rows above the next window row are final and leave the accumulator
(:meth:`StripAccumulator.pop_rows`); the rest is carried on.
"""
from typing import Dict, List, Tuple

import numpy as np


def window_starts(size: int, window: int, stride: int) -> List[int]:
    """Start offsets of the windows along one axis of ``size`` pixels."""
    if size <= window:
        return [0]
    count = -(-(size - window) // stride) + 1
    return [min(index * stride, size - window) for index in range(count)]


def taper(distance: np.ndarray, overlap: int, margin: int) -> np.ndarray:
    """Weight at ``distance`` pixels from a window side inside the scene."""
    ramp = np.clip((distance - margin + 0.5) / (overlap - 2 * margin), 0.0, 1.0)
    return np.sin(0.5 * np.pi * ramp) ** 2


def taper_profile(length: int, start: int, size: int, overlap: int,
                  margin: int) -> np.ndarray:
    """1-D weights of a window ``[start, start + length)`` of an axis of ``size``."""
    distance = np.arange(length, dtype=np.float64)
    weight = np.ones(length)
    if start > 0:
        weight *= taper(distance, overlap, margin)
    if start + length < size:
        weight *= taper(distance[::-1], overlap, margin)
    return weight


class WindowGrid:
    """The windows covering a ``(height, width)`` scene, in window rows.

    Args:
        shape (tuple[int, int]): Scene height and width.
        window (int): Window side; clipped to the scene size.
        overlap (int): Overlap of neighbouring windows (pixels).
        margin (int, optional): Border pixels of a window that get no weight
            where it overlaps a neighbour. Defaults to ``overlap // 4``.
    """

    def __init__(self, shape: Tuple[int, int], window: int, overlap: int, margin: int = None):
        self.height, self.width = shape
        self.window_h, self.window_w = min(window, self.height), min(window, self.width)
        if margin is None:
            margin = overlap // 4
        if not 0 <= 2 * margin < overlap < window:
            raise ValueError(f'Need 0 <= 2 * margin < overlap < window; got window={window}, '
                             f'overlap={overlap}, margin={margin}.')
        self.overlap, self.margin = overlap, margin
        stride = window - overlap
        self.rows = window_starts(self.height, self.window_h, stride)
        self.cols = window_starts(self.width, self.window_w, stride)

    def __len__(self) -> int:
        return len(self.rows) * len(self.cols)

    def strip_end(self, index: int) -> int:
        """Rows above this are final once window row ``index`` is done."""
        return self.rows[index + 1] if index + 1 < len(self.rows) else self.height

    def weight(self, row: int, col: int) -> np.ndarray:
        """``(window_h, window_w)`` float32 stitching weight of a window."""
        wy = taper_profile(self.window_h, row, self.height, self.overlap, self.margin)
        wx = taper_profile(self.window_w, col, self.width, self.overlap, self.margin)
        return np.outer(wy, wx).astype(np.float32)


class StripAccumulator:
    """Weighted logits, weights and invalid flags of one window height of rows.

    Args:
        num_channels (int): Logit channels.
        height (int): Rows held (the window height).
        width (int): Scene width.
    """

    def __init__(self, num_channels: int, height: int, width: int):
        self.origin = 0
        self.logits = np.zeros((num_channels, height, width), np.float32)
        self.weights = np.zeros((height, width), np.float32)
        self.flags = np.zeros((height, width), np.uint8)

    def add(self, logits: np.ndarray, weight: np.ndarray, flags: np.ndarray,
            row: int, col: int) -> None:
        """Accumulate one window's ``(C, h, w)`` logits at scene ``(row, col)``."""
        top = row - self.origin
        h, w = weight.shape
        if top < 0 or top + h > self.weights.shape[0]:
            raise IndexError(f'window rows {row}..{row + h} outside the held rows '
                             f'{self.origin}..{self.origin + self.weights.shape[0]}')
        region = np.s_[top:top + h, col:col + w]
        self.logits[(slice(None), ) + region] += logits * weight
        self.weights[region] += weight
        self.flags[region] |= flags

    def pop_rows(self, end: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Remove and return ``(logits, weights, flags)`` of rows ``origin..end``."""
        count = end - self.origin
        out = (self.logits[:, :count].copy(), self.weights[:count].copy(),
               self.flags[:count].copy())
        rest = self.weights.shape[0] - count
        for rows in (self.logits.swapaxes(0, 1), self.weights, self.flags):
            rows[:rest] = rows[count:]
            rows[rest:] = 0
        self.origin = end
        return out

    def state_dict(self) -> Dict[str, np.ndarray]:
        return dict(origin=np.array(self.origin), logits=self.logits, weights=self.weights,
                    flags=self.flags)

    def load_state_dict(self, state: Dict[str, np.ndarray]) -> None:
        self.origin = int(state['origin'])
        for key in ('logits', 'weights', 'flags'):
            getattr(self, key)[...] = state[key]
