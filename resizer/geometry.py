"""Pure geometry of the three fit modes: which part of the source goes where.

All sizes are in pixels. The maths never produces a zero-size intermediate:
a 6000x2 banner or a 1x1 spacer gives a valid plan for any box.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from thumbnailer import api

Fit = Literal["cover", "contain", "fill"]
FITS: tuple[Fit, ...] = api.FITS  # type: ignore[assignment]


@dataclass(frozen=True)
class Plan:
    """How to render a ``src`` image into a ``box``.

    ``crop``: (left, upper, right, lower) of the source to use, in source pixels
    (floats, for Pillow's ``resize(box=...)``). ``scaled``: the size that region
    is resampled to (each side >= 1). ``offset``: where the scaled region is
    pasted on the ``box``-sized canvas (non-zero only for ``contain``).
    """

    crop: tuple[float, float, float, float]
    scaled: tuple[int, int]
    offset: tuple[int, int]
    box: tuple[int, int]


def plan(src: tuple[int, int], box: tuple[int, int], fit: Fit) -> Plan:
    """Plan the render of a ``src`` (width, height) image into ``box`` (width, height).

    - ``cover``: scale so the image covers the box, centre-crop the overflow.
    - ``contain``: scale so the image fits inside the box, centre it, pad the rest.
    - ``fill``: stretch to the box, ignoring the aspect ratio.

    Raises ``ValueError`` for a non-positive size or an unknown fit.
    """
    (sw, sh), (bw, bh) = src, box
    if min(sw, sh, bw, bh) <= 0:
        raise ValueError(f"sizes must be positive, got source {src} and box {box}")
    full = (0.0, 0.0, float(sw), float(sh))
    if fit == "fill":
        return Plan(full, (bw, bh), (0, 0), box)
    if fit == "cover":
        # The largest centred region of the source with the box's aspect ratio.
        if sw * bh > sh * bw:  # source is wider than the box
            cw = sh * bw / bh
            left = (sw - cw) / 2
            return Plan((left, 0.0, left + cw, float(sh)), (bw, bh), (0, 0), box)
        ch = sw * bh / bw
        top = (sh - ch) / 2
        return Plan((0.0, top, float(sw), top + ch), (bw, bh), (0, 0), box)
    if fit == "contain":
        scale = min(bw / sw, bh / sh)
        w = min(bw, max(1, round(sw * scale)))
        h = min(bh, max(1, round(sh * scale)))
        return Plan(full, (w, h), ((bw - w) // 2, (bh - h) // 2), box)
    raise ValueError(f"unknown fit {fit!r}; expected one of {FITS}")
