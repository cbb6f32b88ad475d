"""`fme demo`: the whole toolkit in one sitting, on the synthetic corpus, on CPU.

synthetic corpus -> preparation -> short training of the paper's five variants -> MEGC-style
sets -> recognizers and the automatic evaluation -> a study with the paper's four comparison
sets in SQLite -> reports -> the app on http://localhost:8501. `--with famgan,tpsmm` (or
`--famgan`, `--tpsmm`) adds optional method groups (`GROUPS`): each is trained, gets its
MEGC-style sets and its rows in Table VI, and adds its study preset's comparison sets.

Each stage calls the same `fme` sub-command a user would type, and leaves a marker holding
the settings it depends on in OUT/.stages/; a second run skips every stage whose marker
matches, so it only serves the app, and a run that adds a group trains only that group's
variants. `--fast` uses smaller settings (a different marker, so a fast and a full demo never
mix their results).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from fme.core.options import port_number
from study.presets import LABELS, PRESETS

STUDY_NAME = "demo"
HOLDOUT = 0.34  # a third of the subjects (full 8: 3, fast 6: 2) held out for the MEGC-style sets


def _labelled(*variants: str) -> dict[str, str]:
    """Study method label -> training variant, the labels of `study.presets`."""
    return {LABELS[v]: v for v in variants}


@dataclass(frozen=True)
class MethodGroup:
    """Methods the demo adds on request: trained, in the MEGC-style sets, in Table VI, and in
    the study with the comparison sets of a study preset."""

    methods: dict[str, str]  # label -> variant
    preset: str  # the `study.presets` preset whose sets the demo's study adds

    def describe(self) -> str:
        sets = ", ".join(f"{a} vs {b}" for a, b in PRESETS[self.preset])
        return f"{', '.join(self.methods)}; study sets {sets}"


#: the paper's methods, always in the demo (the study's `paper` preset)
METHODS: dict[str, str] = _labelled("fomm", "fomm-ewp", "fomm-awp", "mraa", "mraa-awp")
#: the optional groups, by the name `--with` takes (each also has a flag `--NAME`)
GROUPS: dict[str, MethodGroup] = {
    "famgan": MethodGroup(_labelled("famgan"), "megc2021"),
    "tpsmm": MethodGroup(_labelled("tpsmm", "tpsmm-ewp", "tpsmm-awp"), "tpsmm"),
    "megc2022": MethodGroup(_labelled("tpsmm-au"), "megc2022"),
}


@dataclass(frozen=True)
class Settings:
    subjects: int = 8
    clips_per_subject: int = 4
    corpus_size: int = 128
    fps: int = 50
    size: int = 64
    iterations: int = 300
    batch_size: int = 4
    recognizer_iterations: int = 100
    recognizer_width: float = 0.25
    recognizer_frames: int = 8
    recognizer_size: int = 64
    recognizer_batch: int = 16
    recognizer_lr: float = 1e-3
    max_drivers: int = 6
    seed: int = 0
    groups: tuple[str, ...] = ()  # names in GROUPS

    @property
    def methods(self) -> dict[str, str]:
        """Label -> variant of every method in this demo: the paper's, then the groups'."""
        out = dict(METHODS)
        for name in self.groups:
            out.update(GROUPS[name].methods)
        return out

    @property
    def sets(self) -> list[tuple[str, str]]:
        """The study's comparison sets: the paper's, then each group's preset's."""
        out = list(PRESETS["paper"])
        for name in self.groups:
            out += [s for s in PRESETS[GROUPS[name].preset] if s not in out]
        return out

    def key(self, *, groups: bool) -> str:
        """The marker of a stage: every setting, the groups only where the stage reads them."""
        values = asdict(self)
        if not groups:
            values.pop("groups")
        return json.dumps(values, sort_keys=True)


FULL = Settings()
FAST = Settings(
    subjects=6,
    clips_per_subject=2,
    corpus_size=96,
    fps=30,
    iterations=10,
    batch_size=2,
    recognizer_iterations=8,
    recognizer_width=0.125,
    recognizer_frames=4,
    recognizer_size=32,
    recognizer_batch=8,
    max_drivers=3,
)


def demo_inputs(paths: dict[str, Path], folder: Path, max_drivers: int) -> tuple[Path, Path]:
    """Templates and drivers of the demo's MEGC-style sets, all from held-out subjects.

    The templates are the neutral faces of the subjects every run held out; the drivers
    are those subjects' clips. No generated video shows a face or a motion seen in training.
    """
    from generation.training.train import read_holdout

    held = read_holdout(paths["runs"] / METHODS["FOMM"])
    if not held:
        raise SystemExit("demo: the FOMM run wrote no hold-out subjects")
    templates = folder / "templates"
    shutil.rmtree(templates, ignore_errors=True)
    templates.mkdir(parents=True)
    subjects = [key.rsplit("/", 1)[-1] for key in held]
    for subject in subjects:
        shutil.copy(paths["corpus"] / "identities" / f"{subject}.png", templates / f"{subject}.png")
    from generation.data.prepared import load_prepared

    clips = [c for c in load_prepared(paths["prepared"]) if c.subject in subjects and c.label]
    # one clip per class first, so that even a short list has every class
    by_label: dict[str, list] = {}
    for clip in clips:
        by_label.setdefault(clip.label, []).append(clip)
    ordered = [
        c for rank in range(len(clips)) for cs in by_label.values() for c in cs[rank : rank + 1]
    ]
    keys = [c.key for c in ordered[:max_drivers]]
    drivers = folder / "drivers.txt"
    drivers.write_text("\n".join(keys) + "\n")
    return templates, drivers


def _fme(*argv: str) -> None:
    """Run one `fme` sub-command in this process; stop the demo if it fails."""
    from fme.cli import main

    status = main([str(a) for a in argv])
    if status:
        raise SystemExit(f"demo: `fme {' '.join(map(str, argv))}` failed (exit {status})")


class Stages:
    """Runs named stages once; a marker with the settings records each finished one."""

    def __init__(self, out: Path):
        self.marks = out / ".stages"
        self.marks.mkdir(parents=True, exist_ok=True)
        self.total = 0
        self.index = 0

    def run(self, name: str, func: Callable[[], None], key: str) -> None:
        self.index += 1
        mark = self.marks / f"{name}.json"
        head = f"[{self.index}/{self.total}] {name}"
        if mark.is_file() and mark.read_text() == key:
            print(f"{head}: done earlier, skipped", flush=True)
            return
        print(f"{head} ...", flush=True)
        start = time.perf_counter()
        func()
        mark.write_text(key)
        print(f"{head}: {time.perf_counter() - start:.0f} s", flush=True)


def run_pipeline(out: Path, s: Settings) -> dict[str, Path]:
    """All stages up to the study and its reports; returns the main paths."""
    paths = {
        "corpus": out / "corpus",
        "prepared": out / "prepared",
        "runs": out / "runs",
        "sets": out / "sets",
        "recognizers": out / "recognizers",
        "reports": out / "reports",
        "db": out / "fme.db",
    }
    st = Stages(out)
    # (name, what it does, whether it reads the groups: only those stages rerun when they change)
    stages: list[tuple[str, Callable[[], None], bool]] = []

    def synth() -> None:
        shutil.rmtree(paths["corpus"], ignore_errors=True)
        _fme(
            "synth", paths["corpus"], "--subjects", s.subjects, "--clips-per-subject",
            s.clips_per_subject, "--seed", s.seed, "--size", s.corpus_size, "--fps", s.fps,
        )  # fmt: skip

    def prepare() -> None:
        _fme("prepare", "casme2", paths["corpus"], paths["prepared"], "--size", s.size)

    stages += [("synthetic corpus", synth, False), ("preparation", prepare, False)]

    for variant in s.methods.values():

        def train(variant: str = variant) -> None:
            run = paths["runs"] / variant
            shutil.rmtree(run, ignore_errors=True)
            _fme(
                "train", "--variant", variant, "--data", paths["prepared"], "--out", run,
                "--size", s.size, "--iterations", s.iterations, "--seed", s.seed,
                "--holdout", HOLDOUT, "--batch-size", s.batch_size, "--sample-every", s.iterations,
                "--quiet",
            )  # fmt: skip

        stages.append((f"train {variant}", train, False))

    inputs = out / "megc-inputs"

    def megc_inputs() -> None:
        demo_inputs(paths, inputs, s.max_drivers)

    stages.append(("MEGC-style inputs", megc_inputs, False))
    for label, variant in s.methods.items():

        def megc(label: str = label, variant: str = variant) -> None:
            _fme(
                "megc", "--checkpoint", paths["runs"] / variant / "checkpoint.pt",
                "--templates", inputs / "templates", "--drivers", inputs / "drivers.txt",
                "--data", paths["prepared"], "--out", paths["sets"] / label, "--seed", s.seed,
                "--fps", 100, "--quiet",  # MEGC-style sets: the MEGC convention's 100 fps
            )  # fmt: skip

        stages.append((f"MEGC-style set {label}", megc, False))

    def recognizers() -> None:
        _fme(
            "eval", "train-recognizers", "--data", paths["prepared"], "--out",
            paths["recognizers"], "--iterations", s.recognizer_iterations, "--width",
            s.recognizer_width, "--frames", s.recognizer_frames, "--size", s.recognizer_size,
            "--batch-size", s.recognizer_batch, "--lr", s.recognizer_lr, "--seed", s.seed,
            "--quiet",
        )  # fmt: skip

    def auto() -> None:
        sets = [a for label in s.methods for a in ("--set", f"{label}={paths['sets'] / label}")]
        _fme(
            "eval", "auto", "--recognizers", paths["recognizers"], *sets,
            "--real", paths["prepared"], "--out", paths["reports"] / "auto", "--seed", s.seed,
        )  # fmt: skip

    stages += [("recognizers", recognizers, False), ("automatic evaluation", auto, True)]

    def study() -> None:
        paths["db"].unlink(missing_ok=True)
        methods = [
            a for label in s.methods for a in ("--method", f"{label}={paths['sets'] / label}")
        ]
        sets = [a for a, b in s.sets for a in ("--set", f"{a}:{b}")]
        _fme(
            "study", "create", STUDY_NAME, *methods, *sets, "--catch", 2, "--seed", s.seed,
            "--db", f"sqlite:///{paths['db']}", "--media", out / "catch",
        )  # fmt: skip

    stages.append(("study", study, True))
    st.total = len(stages)
    for name, func, reads_groups in stages:
        st.run(name, func, s.key(groups=reads_groups))
    return paths


def serve(db: Path, port: int, address: str) -> int:
    """Serve the demo study with `fme study serve` (which prints the links)."""
    if not os.environ.get("FME_ADMIN_PASSWORD"):
        print(
            "demo: the admin page stays closed until you set a password: stop, then run "
            "`FME_ADMIN_PASSWORD=... make demo` (or put admin_password in "
            ".streamlit/secrets.toml).",
            flush=True,
        )
    cmd = [sys.executable, "-m", "fme", "study", "serve", "--db", f"sqlite:///{db.resolve()}",
           "--port", str(port), "--host", address]  # fmt: skip
    try:
        return subprocess.call(cmd)
    except KeyboardInterrupt:
        return 0


def settings_of(args: argparse.Namespace) -> Settings:
    """The demo's settings from its options: --fast, --seed, --with and the group flags."""
    settings = FAST if args.fast else FULL
    if args.seed is not None:
        settings = replace(settings, seed=args.seed)
    groups = [*(args.groups or []), *(name for name in GROUPS if getattr(args, name))]
    # --with's order, then the flags' (GROUPS order); each group once
    return replace(settings, groups=tuple(dict.fromkeys(groups)))


def _run(args: argparse.Namespace) -> int:
    from fme.core.outputs import output_dir

    output_dir(args.out, existing="reuse")  # finished stages are kept (see .stages)
    settings = settings_of(args)
    out = Path(args.out).resolve()
    start = time.perf_counter()
    paths = run_pipeline(out, settings)
    print(f"demo: everything is in {out} ({time.perf_counter() - start:.0f} s)", flush=True)
    if args.no_serve:
        return 0
    return serve(paths["db"], args.port, args.address)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the whole toolkit on the synthetic corpus, then serve")
    p.add_argument("--out", default="demo", help="folder for everything (default ./demo)")
    p.add_argument("--fast", action="store_true", help="smaller settings (under 3 minutes)")
    p.add_argument("--no-serve", action="store_true", help="stop once reports are written")
    p.add_argument("--port", type=port_number, default=8501)
    p.add_argument("--address", default="127.0.0.1", help="bind address (default localhost)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument(
        "--with",
        dest="groups",
        type=group_names,
        metavar="NAMES",
        help=f"optional method groups, comma-separated ({', '.join(GROUPS)}): trained, with "
        "their MEGC-style sets, Table VI rows and study sets",
    )
    for name, group in GROUPS.items():
        p.add_argument(
            f"--{name}", action="store_true", help=f"same as --with {name}: {group.describe()}"
        )
    p.set_defaults(func=_run)


def group_names(text: str) -> list[str]:
    """`--with famgan,tpsmm`: names in GROUPS."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in GROUPS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated names of {', '.join(GROUPS)}, got {text!r}"
        )
    return names
