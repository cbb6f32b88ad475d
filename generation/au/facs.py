"""The datasets' own FACS codes -> per-frame AU curves (`AUTrack`, source "facs").

A clip's coding gives its AUs (`Clip.aus`, e.g. ("R12", "14", "4B")) and its onset, apex
and offset frames. Each coded AU becomes a piecewise-linear curve: 0 up to the onset,
rising linearly to the apex, falling linearly to 0 at the offset, 0 after it. Its peak is
the coded intensity, A-E -> 1-5, or 1 when none is coded (micro-expressions are mostly
coded without one). A side prefix (L, R: the subject's left or right; T, B: top or bottom;
U: unilateral) does not change the curve and is kept in `meta["sides"]`. AUs outside
OpenFace's 17 (e.g. AU 43, 61) and tokens that are not AU codes are listed in
`meta["ignored"]`. An apex at the onset or
the offset gives a one-sided ramp; onset = offset gives a single frame at the peak.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np

from fme.core.errors import DataError
from generation.au import AU_NAMES, AUTrack

_TOKEN = re.compile(r"^(?:AU)?([LRTBU]?)(\d+)([A-E]?)$")
INTENSITY_LETTERS = "ABCDE"


def parse_code(token: str) -> tuple[str, int, float | None]:
    """(side, AU number, intensity 1-5 or None) of a FACS token: 'R12' -> ('R', 12, None),
    '4B' -> ('', 4, 2.0), 'AU1' -> ('', 1, None)."""
    text = re.sub(r"\s|\.0$", "", str(token)).upper()
    m = _TOKEN.match(text)
    if m is None:
        raise DataError(f"not a FACS AU code: {token!r}", hint="Use e.g. 12, R12, 4B or AU1.")
    side, number, letter = m.groups()
    return side, int(number), (INTENSITY_LETTERS.index(letter) + 1.0) if letter else None


def ramp(n_frames: int, onset: int, apex: int, offset: int, peak: float = 1.0) -> np.ndarray:
    """(T,) 0 outside [onset, offset], `peak` at the apex, linear between (0-based)."""
    if not 0 <= onset <= apex <= offset < n_frames:
        raise DataError(
            f"onset {onset}, apex {apex}, offset {offset} are not ordered inside 0..{n_frames - 1}"
        )
    t = np.arange(n_frames, dtype=np.float64)
    out = np.zeros(n_frames)
    if apex > onset:
        rise = (t >= onset) & (t <= apex)
        out[rise] = (t[rise] - onset) / (apex - onset)
    if offset > apex:
        fall = (t >= apex) & (t <= offset)
        out[fall] = (offset - t[fall]) / (offset - apex)
    out[apex] = 1.0
    return peak * out


def facs_track(
    aus: Iterable[str] | str,
    n_frames: int,
    onset_index: int,
    apex_index: int,
    offset_index: int,
    fps: float | None = None,
) -> AUTrack:
    """The FACS curves of a clip's AU codes (a tuple of tokens or a sheet string '4+7')."""
    if isinstance(aus, str):
        from generation.data.readers import parse_aus

        aus = parse_aus(aus)
    values = np.zeros((n_frames, len(AU_NAMES)), dtype=np.float32)
    sides: dict[str, str] = {}
    ignored: list[str] = []
    for token in aus:
        try:
            side, number, intensity = parse_code(token)
        except DataError:  # a sheet's odd token ('4?', 'A1'): noted, the others still count
            ignored.append(str(token))
            continue
        name = f"AU{number:02d}"
        if name not in AU_NAMES:
            ignored.append(str(token))
            continue
        curve = ramp(n_frames, onset_index, apex_index, offset_index, intensity or 1.0)
        k = AU_NAMES.index(name)
        values[:, k] = np.maximum(values[:, k], curve)
        if side:
            sides[name] = side
    meta = {
        "codes": list(aus),
        "sides": sides,
        "ignored": ignored,
        "onset_index": onset_index,
        "apex_index": apex_index,
        "offset_index": offset_index,
    }
    return AUTrack(values=values, source="facs", fps=fps, meta=meta)


def clip_facs_track(clip, fps: float | None = None) -> AUTrack:
    """`facs_track` of a `Clip` (dataset reader) or `PreparedClip` (its manifest row)."""
    return facs_track(
        clip.aus, clip.n_frames, clip.onset_index, clip.apex_index, clip.offset_index, fps
    )
