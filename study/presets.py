"""Study presets: named lists of comparison sets, and the method labels they use.

`fme study create --preset NAME` adds a preset's sets to those given with `--set`; the CLI's
choices and help come from `PRESETS`. A set is (method A, method B); a label is a study
method's name (`--method LABEL=DIR`), and `LABELS` gives the label of each training variant
of `generation.models`. This module imports nothing, so the CLI reads it without loading the
database layer.
"""

from __future__ import annotations

# The variant names of `generation.models` and the labels the papers use.
LABELS: dict[str, str] = {
    "fomm": "FOMM",
    "fomm-ewp": "FOMM+EWP",
    "fomm-awp": "FOMM+AWP",
    "mraa": "MRAA",
    "mraa-awp": "MRAA+AWP",
    "famgan": "FAMGAN",
    "tpsmm": "TPSMM",
    "tpsmm-ewp": "TPSMM+EWP",
    "tpsmm-awp": "TPSMM+AWP",
    "tpsmm-au": "TPSMM-AU",
    "liveportrait": "LivePortrait",
}

PRESETS: dict[str, list[tuple[str, str]]] = {
    # The TIP paper's four sets: the prior on FOMM (none, EWP, AWP), on MRAA, and across.
    "paper": [
        ("FOMM", "FOMM+EWP"),
        ("FOMM+EWP", "FOMM+AWP"),
        ("MRAA", "MRAA+AWP"),
        ("MRAA+AWP", "FOMM+AWP"),
    ],
    # MEGC2021's generation challenge: FAMGAN (third by the experts) against FOMM with EWP
    # (first).
    "megc2021": [("FAMGAN", "FOMM+EWP")],
    # The paper's question asked of TPSMM (the base of the MEGC2022 entry): does the prior
    # help (none vs EWP), does learning its weights help (EWP vs AWP), and is TPSMM with the
    # prior better than the prior's FOMM (AWP vs AWP, as the paper's MRAA+AWP vs FOMM+AWP).
    "tpsmm": [
        ("TPSMM", "TPSMM+EWP"),
        ("TPSMM+EWP", "TPSMM+AWP"),
        ("TPSMM+AWP", "FOMM+AWP"),
    ],
    # MEGC2022's generation entry (TPSMM with landmark keypoints and AU differences) against
    # MEGC2021's winner (FOMM with EWP), as the MEGC2022 paper compares them.
    "megc2022": [("TPSMM-AU", "FOMM+EWP")],
    # LivePortrait's released weights, zero-shot (trained on ~69 million macro-motion
    # frames), against the prior's best trained families on the micro-expression clips.
    "liveportrait": [("LivePortrait", "FOMM+AWP"), ("LivePortrait", "TPSMM+AWP")],
}


def describe(name: str) -> str:
    """A preset as one line: `name: A vs B, C vs D`."""
    return f"{name}: " + ", ".join(f"{a} vs {b}" for a, b in PRESETS[name])
