"""The synthetic micro-expression corpus: real faces, an AU library, a landmark warp.

`fme synth` (`write_corpus`) writes it in the CASME II layout; `render_cross` renders any
subject's face driven by any clip's AU track, the ground truth for motion transfer.
"""

from generation.synth.aus import AU_NAMES, AU_NUMBERS, EMOTIONS, au_pattern, expression
from generation.synth.corpus import (
    SHEET_COLUMNS,
    SynthClip,
    SynthConfig,
    list_clip_keys,
    load_identity,
    load_track,
    render_cross,
    write_corpus,
)
from generation.synth.identities import Identity, make_identities
from generation.synth.render import render_clip
from generation.synth.track import ClipTrack, make_track, track_landmarks
from generation.synth.warp import LandmarkWarp

__all__ = [
    "AU_NAMES",
    "AU_NUMBERS",
    "EMOTIONS",
    "SHEET_COLUMNS",
    "ClipTrack",
    "Identity",
    "LandmarkWarp",
    "SynthClip",
    "SynthConfig",
    "au_pattern",
    "expression",
    "list_clip_keys",
    "load_identity",
    "load_track",
    "make_identities",
    "make_track",
    "render_clip",
    "render_cross",
    "track_landmarks",
    "write_corpus",
]
