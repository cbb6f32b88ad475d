"""Study design: register methods' videos, pair them by sample, assign pairs to participants.

A method is a folder of generated videos named `<driving>-<template>.mp4` (the MEGC naming);
the same file name in two folders is the same sample. `create_study` pairs the samples two
methods share for every comparison set, reports the samples a method lacks, and refuses a
set that would be empty. Only files inside the study's folders are registered (a symlink
that leads outside is refused), and every check runs before anything is written.

Each participant (`enroll`) gets a seeded random order of all pairs, with A's side drawn so
that every participant sees A on the left for half of the pairs and, over each two
consecutive participants, every pair has A once on each side. Catch trials put a visibly
corrupted copy of a video beside the original; `Study.max_catch_failures` is the exclusion
rule (more failures than that excludes the participant). A study's catch clips live in a
folder of its own, named by its id and a random token (`studies/<name>/catch-<id>-<token>`
or under `--media`), so two studies never write over each other's clips, even when their
names map to one folder or they sit in two databases.
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db.models import (
    CONSENT_LEN,
    DEMOGRAPHICS,
    LABEL_LEN,
    NAME_LEN,
    TEXT_LEN,
    Assignment,
    CatchTrial,
    ComparisonSet,
    Expert,
    Method,
    Pair,
    Participant,
    Study,
    Video,
    utcnow,
)
from fme.core.digest import sha256_file
from fme.core.errors import ConfigError, DataError, VideoError
from study.presets import LABELS as PAPER_LABELS  # noqa: F401  (re-exported)
from study.presets import PRESETS
from study.recruitment import check_code, check_exit_url
from study.sequential import SequentialPlan

log = logging.getLogger(__name__)

VIDEO_SUFFIX = ".mp4"

# The paper's four comparison sets (method A, method B).
PAPER_SETS: list[tuple[str, str]] = PRESETS["paper"]

_NAME = re.compile(r"^[\w][\w .+\-]*$")


@dataclass(frozen=True)
class VideoFile:
    """A video found in a study folder, probed and hashed (nothing stored yet)."""

    path: Path
    sample: str
    driving: str
    template: str
    sha256: str
    n_frames: int
    fps: float
    width: int
    height: int


@dataclass
class StudyCreated:
    """What `create_study` did: pairs per set, and the samples each method lacks."""

    study_id: int
    name: str
    pairs_per_set: dict[str, int]
    missing: dict[str, list[str]] = field(default_factory=dict)
    n_videos: int = 0
    n_catch: int = 0

    def summary(self) -> str:
        lines = [f"study {self.name!r}: {self.n_videos} videos, {self.n_catch} catch trials"]
        lines += [f"  {name}: {n} pairs" for name, n in self.pairs_per_set.items()]
        for label, samples in self.missing.items():
            if samples:
                shown = ", ".join(samples[:5]) + (" ..." if len(samples) > 5 else "")
                lines.append(f"  {label} lacks {len(samples)} sample(s): {shown}")
        return "\n".join(lines)


def set_name(a: str, b: str) -> str:
    return f"{a} vs {b}"


MANIFEST = "manifest.csv"


def parse_sample(path: str | Path) -> tuple[str, str]:
    """`<driving>-<template>.mp4` -> (driving, template); the template is after the last '-'."""
    stem = Path(path).stem
    driving, sep, template = stem.rpartition("-")
    if not sep or not driving or not template:
        return stem, ""
    return driving, template


def read_set_manifest(folder: Path) -> dict[str, tuple[str, str]]:
    """{video file name: (driving, template)} of a set's `manifest.csv` (`fme megc` writes
    one, with `path`, `driving` and `template` columns); {} when the folder has none.
    DataError naming the file when it lacks those columns."""
    import csv

    path = folder / MANIFEST
    if not path.is_file():
        return {}
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        have = set(reader.fieldnames or [])
        missing = [c for c in ("path", "driving", "template") if c not in have]
        if missing:
            raise DataError(
                f"the set's manifest has no column {', '.join(missing)}",
                path,
                "Give it path, driving and template columns (as `fme megc` writes), or remove it.",
            )
        return {
            Path(row["path"]).name: (row["driving"].strip(), row["template"].strip())
            for row in reader
            if row.get("path")
        }


def sample_names(path: Path, manifest: dict[str, tuple[str, str]]) -> tuple[str, str]:
    """(driving, template) of a set's video: its `manifest.csv` row when there is one, else
    its name split at the '-'; a name with more than one '-' and no manifest row is refused
    (DataError naming the file): `0-f1-su-ph` could be any of three splits."""
    if path.name in manifest:
        return manifest[path.name]
    if path.stem.count("-") > 1:
        raise DataError(
            "cannot tell the driving clip from the template: the name has more than one '-'",
            path,
            f"Add a {MANIFEST} with path, driving and template columns beside the videos "
            "(`fme megc` writes one), or rename the video <driving>-<template>.mp4 with one '-'.",
        )
    return parse_sample(path)


def is_inside(path: str | Path, folder: str | Path) -> bool:
    """True when `path`, with every symlink resolved, lies inside `folder` (also resolved)."""
    try:
        Path(path).resolve(strict=True).relative_to(Path(folder).resolve(strict=True))
    except (OSError, ValueError):
        return False
    return True


def check_label(label: str, what: str = "method label") -> str:
    label = str(label).strip()
    if not label or len(label) > LABEL_LEN or not _NAME.match(label):
        raise ConfigError(
            f"{what} {label!r} is not valid",
            hint=f"Use 1-{LABEL_LEN} letters, digits, spaces or . _ + - (e.g. FOMM+EWP).",
        )
    return label


def check_folder(folder: str | Path, allowed_root: str | Path | None = None) -> Path:
    """The resolved folder; DataError when missing or outside `allowed_root`."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise DataError("folder not found", folder, "Give a folder of <driving>-<template>.mp4.")
    if allowed_root is not None and not is_inside(folder, allowed_root):
        raise DataError(
            f"folder is outside the allowed root {allowed_root}",
            folder,
            "Move the videos under that root or change FME_VIDEO_ROOT.",
        )
    return folder.resolve()


def scan_folder(folder: str | Path, allowed_root: str | Path | None = None) -> list[VideoFile]:
    """Every `*.mp4` directly in `folder`, probed and hashed; driving and template from the
    folder's `manifest.csv` when it has one, else from the names (`sample_names`).

    DataError when the folder has no videos or a file leads outside the folder; VideoError
    (naming the file) when a file is not a video PyAV can decode.
    """
    from generation.data.video import probe

    root = check_folder(folder, allowed_root)
    files = sorted(p for p in root.iterdir() if p.suffix.lower() == VIDEO_SUFFIX)
    if not files:
        raise DataError(
            f"no {VIDEO_SUFFIX} videos in the folder",
            root,
            "Each method folder holds <driving>-<template>.mp4 files (e.g. `fme megc` output).",
        )
    manifest = read_set_manifest(root)
    videos = []
    for path in files:
        if not path.is_file() or not is_inside(path, root):
            raise DataError(
                "file leads outside its method folder (symlink?)",
                path,
                "Copy the video into the folder instead of linking it.",
            )
        info = probe(path)
        if info.n_frames <= 0 or info.codec == "images":
            raise VideoError("file has no video frames", path, "Re-encode it as H.264 MP4.")
        driving, template = sample_names(path, manifest)
        videos.append(
            VideoFile(
                path=path,
                sample=path.stem,
                driving=driving,
                template=template,
                sha256=sha256_file(path),
                n_frames=info.n_frames,
                fps=float(info.fps or 25.0),
                width=info.width,
                height=info.height,
            )
        )
    return videos


def resolve_sets(
    methods: dict[str, str | Path], sets: list[tuple[str, str]] | None, preset: str | None = None
) -> list[tuple[str, str]]:
    """The sets to build: `sets` plus a preset's; every label must be a given method."""
    out: list[tuple[str, str]] = []
    if preset:
        if preset not in PRESETS:
            raise ConfigError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
        out += PRESETS[preset]
    out += [tuple(s) for s in sets or []]
    if not out:
        raise ConfigError("no comparison set given", hint="Add --set A:B or --preset paper.")
    seen: set[tuple[str, str]] = set()
    unique: list[tuple[str, str]] = []
    for a, b in out:
        for label in (a, b):
            if label not in methods:
                raise ConfigError(
                    f"comparison set {a}:{b} names method {label!r}, which was not given",
                    hint=f"Add --method {label}=DIR (given: {', '.join(methods) or 'none'}).",
                )
        if a == b:
            raise ConfigError(f"comparison set {a}:{b} compares a method with itself")
        if (a, b) in seen or (b, a) in seen:
            continue
        seen.add((a, b))
        unique.append((a, b))
    return unique


def corrupt(frames: np.ndarray, seed: int = 0) -> np.ndarray:
    """A visibly corrupted copy: upside down, 8x coarser blocks and strong noise."""
    rng = np.random.default_rng(seed)
    t, h, w, _ = frames.shape
    block = max(2, min(h, w) // 16)
    small = frames[:, ::block, ::block].astype(np.float32)
    big = np.repeat(np.repeat(small, block, axis=1), block, axis=2)[:, :h, :w]
    noisy = big + rng.normal(0, 60, size=big.shape)
    return np.clip(noisy[:, ::-1], 0, 255).astype(np.uint8)


def _video_row(study_id: int, vf: VideoFile, kind: str, method_id: int | None) -> Video:
    return Video(
        study_id=study_id,
        method_id=method_id,
        kind=kind,
        path=str(vf.path),
        sha256=vf.sha256,
        n_frames=vf.n_frames,
        fps=vf.fps,
        width=vf.width,
        height=vf.height,
        sample=vf.sample,
        driving=vf.driving,
        template=vf.template,
    )


def _safe_dirname(name: str) -> str:
    return re.sub(r"[^\w.+-]+", "_", name).strip("._") or "study"


def _shared_samples(
    scanned: dict[str, list[VideoFile]], pairs_of: list[tuple[str, str]]
) -> tuple[dict[str, list[str]], dict[tuple[str, str], list[str]]]:
    """(the samples each method lacks, warned about; the samples both methods of each set
    have, a DataError where a set would be empty)."""
    by_sample = {label: {v.sample: v for v in vids} for label, vids in scanned.items()}
    all_samples = set().union(*(set(s) for s in by_sample.values()))
    missing = {label: sorted(all_samples - set(s)) for label, s in by_sample.items()}
    for label, lacks in missing.items():
        if lacks:
            log.warning("%s lacks %d sample(s): %s", label, len(lacks), ", ".join(lacks[:10]))
    shared: dict[tuple[str, str], list[str]] = {}
    for a, b in pairs_of:
        common = sorted(set(by_sample[a]) & set(by_sample[b]))
        if not common:
            raise DataError(
                f"comparison set {set_name(a, b)} would be empty: no file name is in both "
                f"folders ({a}: {', '.join(sorted(by_sample[a])[:3])}; "
                f"{b}: {', '.join(sorted(by_sample[b])[:3])})",
                hint="Both folders need videos of the same samples, named "
                "<driving>-<template>.mp4.",
            )
        shared[(a, b)] = common
    return missing, shared


def _add_methods(
    session: Session,
    study_id: int,
    folders: dict[str, Path],
    scanned: dict[str, list[VideoFile]],
    driving: list[VideoFile],
) -> tuple[dict[str, Method], dict[tuple[str, str], Video]]:
    """The method rows and their video rows (by label and sample), and the driving clips'."""
    method_rows = {}
    video_rows: dict[tuple[str, str], Video] = {}
    for label, folder in folders.items():
        m = Method(study_id=study_id, label=label, folder=str(folder))
        session.add(m)
        session.flush()
        method_rows[label] = m
        for vf in scanned[label]:
            row = _video_row(study_id, vf, "method", m.id)
            session.add(row)
            video_rows[(label, vf.sample)] = row
    for vf in driving:
        session.add(_video_row(study_id, vf, "driving", None))
    session.flush()
    return method_rows, video_rows


def _add_sets(
    session: Session,
    study_id: int,
    pairs_of: list[tuple[str, str]],
    shared: dict[tuple[str, str], list[str]],
    method_rows: dict[str, Method],
    video_rows: dict[tuple[str, str], Video],
) -> dict[str, int]:
    """A comparison set per (A, B), in order, with a pair per shared sample; the pairs per set."""
    pairs_per_set = {}
    for position, (a, b) in enumerate(pairs_of):
        cs = ComparisonSet(
            study_id=study_id,
            name=set_name(a, b),
            position=position,
            method_a_id=method_rows[a].id,
            method_b_id=method_rows[b].id,
        )
        session.add(cs)
        session.flush()
        for sample in shared[(a, b)]:
            session.add(
                Pair(
                    study_id=study_id,
                    set_id=cs.id,
                    sample=sample,
                    video_a_id=video_rows[(a, sample)].id,
                    video_b_id=video_rows[(b, sample)].id,
                    is_catch=False,
                )
            )
        pairs_per_set[cs.name] = len(shared[(a, b)])
    return pairs_per_set


def _add_catch_trials(
    session: Session,
    study_id: int,
    catch_sources: list[tuple[str, VideoFile]],
    video_rows: dict[tuple[str, str], Video],
    media: Path,
    seed: int,
) -> None:
    """A corrupted clip under `media` and a catch pair (the original is the right answer) per
    source."""
    for i, (label, vf) in enumerate(catch_sources):
        bad = _write_catch_clip(vf, media / f"catch_{i:03d}.mp4", seed=seed + i)
        bad_row = _video_row(study_id, bad, "catch", None)
        bad_row.sample = f"catch_{i:03d}"
        session.add(bad_row)
        session.flush()
        pair = Pair(
            study_id=study_id,
            set_id=None,
            sample=vf.sample,
            video_a_id=video_rows[(label, vf.sample)].id,
            video_b_id=bad_row.id,
            is_catch=True,
        )
        session.add(pair)
        session.flush()
        session.add(
            CatchTrial(
                pair_id=pair.id,
                corrupted_video_id=bad_row.id,
                correct="A",
                corruption="flip+pixelate+noise",
            )
        )


def create_study(
    session: Session,
    name: str,
    methods: dict[str, str | Path],
    sets: list[tuple[str, str]] | None = None,
    catch: int = 0,
    seed: int = 0,
    *,
    preset: str | None = None,
    max_catch_failures: int = 0,
    driving_dir: str | Path | None = None,
    media_dir: str | Path | None = None,
    allowed_root: str | Path | None = None,
    planned_n: int | None = None,
    looks: str | None = None,
    spending: str | None = None,
    sequential_alpha: float = 0.05,
) -> StudyCreated:
    """Create study `name` from method folders and comparison sets (A, B); commits.

    `catch` catch trials per participant (corrupted clips are written to the study's own
    folder `catch-<id>-<token>` under `media_dir`, default `studies/<name>`); `driving_dir` holds the driving clips `<driving>.mp4`
    shown to experts; `allowed_root` (the app's FME_VIDEO_ROOT) confines every folder.
    The stopping rule is fixed here and never changes: `planned_n` finished participants
    (the admin page hides p-values until then), optionally with a sequential plan, `looks`
    ("0.5,0.75,1": fractions of planned_n) and `spending` ("obrien-fleming" or "pocock") at
    level `sequential_alpha` (see `study.sequential`).
    Raises ConfigError/DataError/VideoError before writing anything.
    """
    name = str(name).strip()
    if not name or len(name) > NAME_LEN or not _NAME.match(name):
        raise ConfigError(
            f"study name {name!r} is not valid",
            hint=f"Use 1-{NAME_LEN} letters, digits, spaces or . _ + -.",
        )
    if session.scalar(select(Study.id).where(Study.name == name)) is not None:
        raise DataError(
            f"a study named {name!r} already exists",
            hint="Choose another name (or export and delete the old database).",
        )
    if not methods:
        raise ConfigError("no method given", hint="Add --method LABEL=DIR for each method.")
    methods = {check_label(k): v for k, v in methods.items()}
    pairs_of = resolve_sets(methods, sets, preset)
    if catch < 0 or max_catch_failures < 0:
        raise ConfigError("catch trials and allowed catch failures must be >= 0")
    plan = check_stopping_rule(planned_n, looks, spending, sequential_alpha)

    scanned = {label: scan_folder(folder, allowed_root) for label, folder in methods.items()}
    folders = {label: check_folder(folder, allowed_root) for label, folder in methods.items()}
    if len(set(folders.values())) < len(folders):
        raise ConfigError("two methods share one folder; each method needs its own folder")
    missing, shared = _shared_samples(scanned, pairs_of)
    driving: list[VideoFile] = []
    driving_root = None
    if driving_dir is not None:
        driving_root = check_folder(driving_dir, allowed_root)
        driving = scan_folder(driving_root, allowed_root)

    # Everything checked: write the catch clips, then the rows, in one transaction.
    rng = np.random.default_rng([seed, 7])
    media_root = Path(media_dir) if media_dir else Path("studies") / _safe_dirname(name)
    catch_sources: list[tuple[str, VideoFile]] = []
    if catch:
        from fme.core.outputs import output_dir

        output_dir(media_root, "--media", existing="reuse")  # the study adds its own folder
        pool = [(label, v) for label in methods for v in scanned[label]]
        picks = rng.choice(len(pool), size=catch, replace=catch > len(pool))
        catch_sources = [pool[i] for i in picks]

    study = Study(
        name=name,
        seed=seed,
        max_catch_failures=max_catch_failures,
        catch_per_participant=catch,
        driving_dir=str(driving_root) if driving_root else None,
        planned_n=planned_n,
        sequential_looks=",".join(f"{t:g}" for t in plan.looks) if plan else None,
        sequential_spending=plan.rule if plan else None,
        sequential_alpha=plan.alpha if plan else None,
    )
    session.add(study)
    media = media_root
    try:
        session.flush()
        if catch:
            media = media_root / f"catch-{study.id}-{secrets.token_hex(4)}"
            media.mkdir(parents=True)  # new: never another study's folder
            media = media.resolve()
            study.media_dir = str(media)
        method_rows, video_rows = _add_methods(session, study.id, folders, scanned, driving)
        pairs_per_set = _add_sets(session, study.id, pairs_of, shared, method_rows, video_rows)
        _add_catch_trials(session, study.id, catch_sources, video_rows, media, seed)
        session.commit()
    except Exception as err:
        session.rollback()
        if media is not media_root:  # this study's own folder: nothing else is in it
            import shutil

            shutil.rmtree(media, ignore_errors=True)
        if isinstance(err, IntegrityError) and any(
            t in str(err.orig) for t in ("studies.name", "Key (name)=")
        ):
            # another `fme study create` of this name committed first, just now
            raise DataError(
                f"a study named {name!r} already exists (another run created it just now)",
                hint="Choose another name, or use the study the other run made.",
            ) from None
        raise
    return StudyCreated(
        study_id=study.id,
        name=name,
        pairs_per_set=pairs_per_set,
        missing={k: v for k, v in missing.items() if v},
        n_videos=len(video_rows) + len(driving),
        n_catch=len(catch_sources),
    )


def _write_catch_clip(source: VideoFile, out: Path, seed: int) -> VideoFile:
    from generation.data.video import read_video, write_mp4

    frames = read_video(source.path)
    write_mp4(out, corrupt(frames, seed), fps=source.fps)
    return VideoFile(
        path=out,
        sample=out.stem,
        driving=source.driving,
        template=source.template,
        sha256=sha256_file(out),
        n_frames=len(frames),
        fps=source.fps,
        width=source.width,
        height=source.height,
    )


def get_study(session: Session, name: str) -> Study:
    study = session.scalar(select(Study).where(Study.name == name))
    if study is None:
        names = list(session.scalars(select(Study.name).order_by(Study.id)))
        raise DataError(
            f"no study named {name!r}",
            hint=f"Known studies: {', '.join(names) or 'none'} (create one with fme study create).",
        )
    return study


def _sides(n: int, seed: int, index: int) -> np.ndarray:
    """1 where A goes left: half of the n pairs; participant 2j+1 gets 2j's complement."""
    rng = np.random.default_rng([seed, 1, index // 2])
    bits = np.zeros(n, dtype=np.int8)
    bits[: n // 2] = 1
    if n % 2:
        bits[-1] = rng.integers(0, 2)
    bits = rng.permutation(bits)
    return 1 - bits if index % 2 else bits


def plan_assignments(pair_ids: list[int], seed: int, index: int) -> list[tuple[int, str]]:
    """(pair_id, a_side) in presentation order for the participant with this join index."""
    pair_ids = sorted(pair_ids)
    sides = _sides(len(pair_ids), seed, index)
    order = np.random.default_rng([seed, 2, index]).permutation(len(pair_ids))
    return [(pair_ids[i], "left" if sides[i] else "right") for i in order]


# An unfinished participant holds a place towards the target for this long after enrolling
# (then the place is freed for someone else, as recruitment platforms time out a session).
PLACE_HOLD_S = 3600.0


def demographics_fields(study: Study) -> list[str]:
    """The demographics the study asks, in order (all of DEMOGRAPHICS unless configured)."""
    if study.demographics is None:
        return list(DEMOGRAPHICS)
    return [f for f in study.demographics.split(",") if f]


def check_demographics(fields: str | list[str] | None) -> str | None:
    """A comma-separated subset of DEMOGRAPHICS (None keeps all; "" or "none" asks none)."""
    if fields is None:
        return None
    items = fields.split(",") if isinstance(fields, str) else list(fields)
    items = [f.strip().lower() for f in items if f.strip()]
    if items == ["none"]:
        return ""
    bad = [f for f in items if f not in DEMOGRAPHICS]
    if bad:
        raise ConfigError(
            f"unknown demographics field(s) {', '.join(bad)}",
            hint=f"Choose from {', '.join(DEMOGRAPHICS)} (comma-separated), or 'none'.",
        )
    return ",".join(dict.fromkeys(items))


def check_stopping_rule(
    planned_n: int | None,
    looks: str | None = None,
    spending: str | None = None,
    alpha: float = 0.05,
):
    """The stopping rule of a new study, checked: a planned N (> 1) and, with `looks`, a
    `study.sequential.SequentialPlan` (returned; None without looks)."""
    if planned_n is not None and int(planned_n) < 2:
        raise ConfigError(
            f"the planned N must be at least 2 participants, got {planned_n}",
            hint="Give --planned-n as the number of finished participants the study needs.",
        )
    if looks is None and spending is None:
        return None
    if planned_n is None:
        raise ConfigError(
            "a sequential plan needs a planned N: its looks are fractions of it",
            hint="Add --planned-n N (or leave out --looks and --spending).",
        )
    if looks is None:
        raise ConfigError("--spending needs --looks (e.g. --looks 0.5,0.75,1)")
    return SequentialPlan.parse(looks, spending or "obrien-fleming", alpha)


def check_settings(**settings) -> dict:
    """The hosting settings of `configure_study`, checked and normalised (ConfigError for the
    first bad one), so that a caller can check them before it writes anything."""
    checks = {
        "target_finished": _check_target,
        "consent_text": _check_consent,
        "demographics": check_demographics,
        "completion_url": lambda v: check_exit_url(v, "completion URL"),
        "completion_code": lambda v: check_code(v, "completion code"),
        "screenout_url": lambda v: check_exit_url(v, "screen-out URL"),
        "screenout_code": lambda v: check_code(v, "screen-out code"),
        "min_view_s": lambda v: _check_seconds(v, "minimum viewing time", zero_ok=True),
        "min_view_loop": bool,
        "pair_time_limit_s": lambda v: _check_seconds(v, "time limit per pair"),
    }
    unknown = set(settings) - set(checks)
    if unknown:
        raise ConfigError(f"unknown study setting(s): {', '.join(sorted(unknown))}")
    return {key: checks[key](value) for key, value in settings.items()}


def configure_study(session: Session, study: Study | str, **settings) -> Study:
    """Change a study's hosting settings and commit: `target_finished` (a positive count, or
    None for no target), `consent_text` (Markdown, None for the app's own), `demographics`
    (see `check_demographics`), `completion_url`/`completion_code`,
    `screenout_url`/`screenout_code`, and the timing of each pair: `min_view_s`,
    `min_view_loop` (both videos played through once) and `pair_time_limit_s` (None: no
    limit). Everything is checked before anything is written."""
    if isinstance(study, str):
        study = get_study(session, study)
    for key, value in check_settings(**settings).items():
        setattr(study, key, value)
    session.commit()
    return study


def _check_target(value) -> int | None:
    if value is None:
        return None
    if int(value) != value or int(value) < 1:
        raise ConfigError(
            f"target of finished participants must be a positive whole number, got {value}"
        )
    if int(value) % 2:
        log.warning(
            "target %d is odd: A's side is balanced over each two participants, so one pair "
            "of sides stays unmatched",
            value,
        )
    return int(value)


def _check_seconds(value, what: str, zero_ok: bool = False) -> float | None:
    """Seconds >= 0 (`zero_ok`: 0 is the default of no minimum) or > 0 / None (no limit)."""
    if value is None:
        return 0.0 if zero_ok else None
    seconds = float(value)
    if not seconds >= 0 or seconds > 3600 or (seconds == 0 and not zero_ok):
        raise ConfigError(
            f"{what} must be {'0' if zero_ok else 'more than 0'} to 3600 seconds, got {value}"
        )
    return seconds if seconds or zero_ok else None


def _check_consent(value) -> str | None:
    if value is None or not str(value).strip():
        return None
    if len(str(value)) > CONSENT_LEN:
        raise ConfigError(f"consent text is longer than {CONSENT_LEN} characters")
    return str(value).strip()


def set_open(session: Session, study: Study | str, is_open: bool) -> Study:
    """Open or close a study to new and returning participants; commits. Nothing stored is
    touched: a closed study keeps every vote, and its participants continue where they
    stopped once it is reopened."""
    if isinstance(study, str):
        study = get_study(session, study)
    study.is_open = bool(is_open)
    study.closed_at = None if is_open else utcnow()
    session.commit()
    return study


@dataclass(frozen=True)
class Enrolment:
    """Whether a study takes new participants, and why not."""

    open: bool
    reason: str  # "", "closed" or "full"
    finished: int
    holding: int  # unfinished participants who still hold a place
    target: int | None


def enrolment(session: Session, study: Study, now=None, exclude: int | None = None) -> Enrolment:
    """Counted in the database: a closed study takes nobody; a study with a target takes
    nobody once its finished participants plus those still holding a place reach it
    (`exclude`: a participant id left out of the count, the one being enrolled)."""
    finished = int(
        session.scalar(
            select(func.count(Participant.id)).where(
                Participant.study_id == study.id, Participant.finished_at.is_not(None)
            )
        )
        or 0
    )
    now = now or utcnow()
    from datetime import timedelta

    since = now - timedelta(seconds=PLACE_HOLD_S)
    holding = int(
        session.scalar(
            select(func.count(Participant.id)).where(
                Participant.study_id == study.id,
                Participant.finished_at.is_(None),
                Participant.created_at >= since,
                Participant.id != (exclude if exclude is not None else -1),
            )
        )
        or 0
    )
    target = study.target_finished
    if not study.is_open:
        return Enrolment(False, "closed", finished, holding, target)
    if target is not None and finished + holding >= target:
        return Enrolment(False, "full", finished, holding, target)
    return Enrolment(True, "", finished, holding, target)


def participant_for_platform(
    session: Session, study: Study, platform_pid: str
) -> Participant | None:
    """The study's participant with this platform id (one at most: a unique constraint)."""
    return session.scalar(
        select(Participant).where(
            Participant.study_id == study.id, Participant.platform_pid == platform_pid
        )
    )


def enroll(
    session: Session,
    study: Study | str,
    *,
    age: int | None = None,
    gender: str | None = None,
    vision: str | None = None,
    country: str | None = None,
    comment: str | None = None,
    consent: bool = True,
    platform=None,
) -> Participant:
    """A new participant (random opaque token) with all pairs assigned; commits.

    `platform` (a `study.recruitment.PlatformIds`) stores the recruitment platform's ids; a
    platform id that already has a session in this study gets that session back, never a
    second one (also when two tabs enrol at once: the unique constraint decides). Raises
    DataError when the study is closed or has reached its target of finished participants.
    """
    if not consent:
        raise DataError("a participant must consent before taking part")
    if isinstance(study, str):
        study = get_study(session, study)
    if platform is not None:
        existing = participant_for_platform(session, study, platform.pid)
        if existing is not None:
            return existing
    if not study.is_open:
        raise DataError(f"study {study.name!r} is closed")
    if age is not None and not 18 <= int(age) <= 120:
        raise DataError(f"age must be 18-120, got {age}")
    texts = dict(gender=gender, vision=vision, country=country, comment=comment)
    limits = dict(gender=32, vision=32, country=LABEL_LEN, comment=TEXT_LEN)
    for key, value in texts.items():
        if value is not None and len(str(value)) > limits[key]:
            raise DataError(f"{key} is longer than {limits[key]} characters")
    pair_ids = list(session.scalars(select(Pair.id).where(Pair.study_id == study.id)))
    if not pair_ids:
        raise DataError(f"study {study.name!r} has no pairs")
    participant = Participant(
        study_id=study.id,
        token=secrets.token_urlsafe(16),
        consent_at=utcnow(),
        age=int(age) if age is not None else None,
        **{k: (str(v).strip() or None) if v is not None else None for k, v in texts.items()},
    )
    if platform is not None:
        participant.platform = platform.platform
        participant.platform_pid = platform.pid
        participant.platform_study_id = platform.study_id
        participant.platform_session_id = platform.session_id
    try:
        if session.get_bind().dialect.name != "sqlite":
            # One enrolment at a time per study (a row lock; SQLite has one writer, taken by
            # the insert below), so that the target and the join index are counted right.
            session.execute(select(Study.id).where(Study.id == study.id).with_for_update())
        session.add(participant)
        session.flush()
        state = enrolment(session, study, exclude=participant.id)
        if not state.open:
            session.rollback()
            if state.reason == "closed":
                raise DataError(f"study {study.name!r} is closed")
            raise DataError(
                f"study {study.name!r} has reached its target of {state.target} finished "
                "participants; enrolment has stopped"
            )
        index = session.scalar(
            select(func.count(Participant.id)).where(
                Participant.study_id == study.id, Participant.id < participant.id
            )
        )
        for position, (pair_id, side) in enumerate(
            plan_assignments(pair_ids, study.seed, int(index))
        ):
            session.add(
                Assignment(
                    participant_id=participant.id, pair_id=pair_id, position=position, a_side=side
                )
            )
        session.commit()
    except IntegrityError:
        session.rollback()
        if platform is not None:  # the same platform id enrolled in another tab just now
            existing = participant_for_platform(session, study, platform.pid)
            if existing is not None:
                return existing
        raise
    except Exception:
        session.rollback()
        raise
    return participant


def add_expert(session: Session, study: Study | str, name: str) -> Expert:
    """A new expert of the study with a random opaque token (their rating link); commits."""
    if isinstance(study, str):
        study = get_study(session, study)
    name = str(name).strip()
    if not name or len(name) > NAME_LEN:
        raise DataError(f"expert name must be 1-{NAME_LEN} characters")
    if session.scalar(select(Expert.id).where(Expert.study_id == study.id, Expert.name == name)):
        raise DataError(f"study {study.name!r} already has an expert named {name!r}")
    expert = Expert(study_id=study.id, name=name, token=secrets.token_urlsafe(16))
    session.add(expert)
    session.commit()
    return expert
