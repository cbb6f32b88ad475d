"""The `Clip` record that every dataset reader returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from generation.data.facs import AUCell

# MEGC2019 composite classes, in this order everywhere (recognizer outputs, tables).
LABELS: tuple[str, ...] = ("negative", "positive", "surprise")
#: The datasets' published frame rates (frames per second): CASME II and SAMM 200, SMIC-HS
#: 100, CAS(ME)^2 and CAS(ME)^3 30.
DATASET_FPS: dict[str, float] = {
    "casme2": 200.0,
    "samm": 200.0,
    "smic": 100.0,
    "casme_sq": 30.0,
    "casme3": 30.0,
}


def dataset_fps(dataset: str, root: str | Path | None = None) -> float | None:
    """A dataset's frame rate: a synthetic corpus's own (its `synth.json` under `root`),
    else the published one (`DATASET_FPS`); None when unknown."""
    if root is not None:
        settings = Path(root) / "synth.json"
        if settings.is_file():
            import json

            try:
                return float(json.loads(settings.read_text())["fps"])
            except (ValueError, KeyError, TypeError):
                pass
    return DATASET_FPS.get(dataset)


@dataclass(frozen=True)
class Clip:
    """One micro-expression clip of a dataset.

    `onset`, `apex` and `offset` are the dataset's own frame numbers (as in the coding
    sheet and file names); `frames[k]` is the path of the k-th frame in temporal order,
    and `frame_numbers[k]` its dataset frame number. `label` is the MEGC2019 composite
    label (one of LABELS): the published list's (`generation.data.composite`), None when the
    list leaves the clip out (the synthetic corpus, which no list holds, is labelled by
    its emotion). `emotion_label` is the 3-class label the emotion alone gives
    (`generation.data.readers.megc2019_label`). `aus` are the AUs coded as present;
    `au_cell` the whole parsed sheet cell (alternatives, references, notes, the raw text).
    `corrections` says what the reader changed in the sheet's row (an apex outside
    onset..offset, a missing onset), one sentence each. `video` is the clip's video file
    when it is one (`frames[k]` is then that file for every k); `face_search` lets the
    face come after the onset (a clip of one's own without a coding: the first frame with
    a face is taken as the onset). `fps` is the clip's frame rate (`dataset_fps`, or a
    video's container rate), None when unknown.
    """

    dataset: str
    subject: str
    clip_id: str
    frames: tuple[Path, ...]
    frame_numbers: tuple[int, ...]
    onset: int
    apex: int
    offset: int
    emotion: str
    label: str | None
    aus: tuple[str, ...] = field(default_factory=tuple)
    emotion_label: str | None = None
    au_cell: AUCell = field(default_factory=AUCell)
    corrections: tuple[str, ...] = ()
    #: a clip that is one video file (`fme prepare videos`): `frames` then repeats its path
    video: Path | None = None
    #: the face may come after the onset: the first frame with one becomes the onset
    face_search: bool = False
    fps: float | None = None  # frames per second, when the dataset or video says

    @property
    def key(self) -> str:
        """A name unique across datasets: `<dataset>/<subject>/<clip_id>`."""
        return f"{self.dataset}/{self.subject}/{self.clip_id}"

    @property
    def n_frames(self) -> int:
        return len(self.frames)

    def index_of(self, frame_number: int) -> int:
        """Position in `frames` of a dataset frame number (the nearest one if absent)."""
        nums = self.frame_numbers
        if frame_number in nums:
            return nums.index(frame_number)
        return min(range(len(nums)), key=lambda k: abs(nums[k] - frame_number))

    @property
    def onset_index(self) -> int:
        return self.index_of(self.onset)

    @property
    def apex_index(self) -> int:
        return self.index_of(self.apex)

    @property
    def offset_index(self) -> int:
        return self.index_of(self.offset)
