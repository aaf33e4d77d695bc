"""Build small ICC v2 RGB matrix/TRC profiles for tests (Adobe RGB, Display P3, ...).

Layout per ICC.1:2001-04 (v2.1): a 128-byte header, a tag table, then
``desc``, ``wtpt``, ``rXYZ``/``gXYZ``/``bXYZ`` (D50-adapted primaries) and
``rTRC``/``gTRC``/``bTRC`` (a pure gamma curve) tags. LittleCMS reads these
like any monitor profile.
"""

from __future__ import annotations

import struct

D50 = (0.9642, 1.0, 0.8249)
#: D50-adapted colourant XYZ (as in the published profiles) and gamma.
DISPLAY_P3 = ((0.5151, 0.2412, -0.0011), (0.2920, 0.6922, 0.0419), (0.1571, 0.0666, 0.7841), 2.2)
ADOBE_RGB = ((0.6097, 0.3111, 0.0195), (0.2053, 0.6257, 0.0609), (0.1492, 0.0632, 0.7446), 2.2)


def _s15(v: float) -> bytes:
    return struct.pack(">i", round(v * 65536))


def _xyz(xyz) -> bytes:
    return b"XYZ \0\0\0\0" + b"".join(_s15(v) for v in xyz)


def _curve(gamma: float) -> bytes:
    return b"curv\0\0\0\0" + struct.pack(">IH", 1, round(gamma * 256)) + b"\0\0"


def _desc(text: str) -> bytes:
    ascii_ = text.encode() + b"\0"
    body = b"desc\0\0\0\0" + struct.pack(">I", len(ascii_)) + ascii_ + struct.pack(">II", 0, 0) + b"\0\0\0" + b"\0" * 67
    return body + b"\0" * (-len(body) % 4)


def rgb_profile(name: str, primaries=DISPLAY_P3) -> bytes:
    """An ICC v2 RGB display profile named ``name`` with the given primaries and gamma."""
    r, g, b, gamma = primaries
    tags = [(b"desc", _desc(name)), (b"wtpt", _xyz(D50)), (b"rXYZ", _xyz(r)), (b"gXYZ", _xyz(g)),
            (b"bXYZ", _xyz(b)), (b"rTRC", _curve(gamma)), (b"gTRC", _curve(gamma)), (b"bTRC", _curve(gamma)),
            (b"cprt", b"text\0\0\0\0" + b"CC0\0")]
    table_size = 4 + 12 * len(tags)
    offset = 128 + table_size
    table, data = struct.pack(">I", len(tags)), b""
    for sig, body in tags:
        table += sig + struct.pack(">II", offset + len(data), len(body))
        data += body + b"\0" * (-len(body) % 4)
    size = 128 + table_size + len(data)
    header = (struct.pack(">I", size) + b"lcms" + bytes([2, 0x10, 0, 0]) + b"mntrRGB XYZ " + b"\0" * 12 + b"acsp"
              + b"APPL" + b"\0" * 4 + b"\0" * 8 + b"\0" * 8 + struct.pack(">I", 0) + b"".join(_s15(v) for v in D50)
              + b"lcms" + b"\0" * 16 + b"\0" * 28)
    assert len(header) == 128
    return header + table + data
