"""Video and image I/O: frame folders, any video PyAV opens, H.264 MP4, GIF, contact sheets.

Frames are numpy arrays of uint8, (H, W, 3) for an image and (T, H, W, 3) for a clip.
MP4s are H.264 in yuv420p, the format Chromium plays; odd sizes are padded to even.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, UnidentifiedImageError

from fme.core.errors import VideoError
from fme.core.outputs import atomic_path

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".gif", ".m4v")
_NUMBER = re.compile(r"(\d+)")


@dataclass(frozen=True)
class VideoInfo:
    n_frames: int
    fps: float
    width: int
    height: int
    codec: str


def frame_number(path: str | Path) -> int:
    """The last number in a file's stem (`img046.jpg` -> 46, `006_05562.jpg` -> 5562)."""
    numbers = _NUMBER.findall(Path(path).stem)
    if not numbers:
        raise VideoError("frame file name has no frame number", path)
    return int(numbers[-1])


def list_frames(folder: str | Path) -> list[Path]:
    """Image files of a folder, sorted by the last number in their names."""
    folder = Path(folder)
    if not folder.is_dir():
        raise VideoError("frame folder not found", folder, "Check the dataset root and layout.")
    frames = [p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES]
    numbered = [p for p in frames if _NUMBER.search(p.stem)]
    return sorted(numbered, key=lambda p: (frame_number(p), p.name))


def to_rgb(image: np.ndarray) -> np.ndarray:
    """(H, W), (H, W, 1), (H, W, 3) or (H, W, 4) -> (H, W, 3) uint8."""
    if image.ndim == 2:
        image = image[..., None]
    if image.shape[-1] == 1:
        image = np.repeat(image, 3, axis=-1)
    elif image.shape[-1] == 4:
        image = image[..., :3]
    if image.dtype != np.uint8:
        if np.issubdtype(image.dtype, np.floating) and image.max(initial=0) <= 1.0:
            image = image * 255.0
        image = np.clip(np.rint(image), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(image)


def upright(im: Image.Image) -> Image.Image:
    """`im` turned as its EXIF orientation says (a phone photo taken sideways), as viewers
    show it; an image without the tag is returned as it is."""
    from PIL import ImageOps

    try:
        orientation = im.getexif().get(0x0112, 1)
    except Exception:  # a damaged EXIF block: show the pixels as stored
        return im
    if orientation in (None, 1):
        return im
    return ImageOps.exif_transpose(im)


def read_image(path: str | Path) -> np.ndarray:
    """One image as (H, W, 3) uint8, turned upright by its EXIF orientation; grayscale is
    replicated to 3 channels."""
    path = Path(path)
    if path.is_dir():
        raise VideoError("is a folder, expected an image file", path, "Give one face photo.")
    if not path.is_file():
        raise VideoError("image not found", path)
    try:
        with Image.open(path) as opened:
            opened.load()
            im = upright(opened)
            if im.mode.startswith("I"):  # 16/32-bit grayscale: convert("RGB") would clip it white
                wide = np.asarray(im, dtype=np.float64)
                top = 65535.0 if im.mode.startswith("I;16") or wide.max(initial=0) > 255 else 255.0
                arr = np.clip(np.rint(wide * (255.0 / top)), 0, 255).astype(np.uint8)
            else:
                arr = np.asarray(im.convert("RGB"))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise VideoError(
            f"cannot decode image ({err.__class__.__name__}: {err})",
            path,
            "Replace the file with a readable copy or remove the clip.",
        ) from err
    return to_rgb(arr)


def _open(path: Path):
    import av

    try:
        return av.open(str(path))
    except (av.error.FFmpegError, OSError, ValueError) as err:
        raise VideoError(
            f"PyAV cannot open this video ({err})",
            path,
            "Re-encode it (e.g. ffmpeg -i IN -c:v libx264 -pix_fmt yuv420p OUT.mp4).",
        ) from err


def iter_video(path: str | Path, start: int = 0) -> Iterator[np.ndarray]:
    """The frames (H, W, 3) uint8 of a frame folder or a video file one at a time, from
    index `start`: memory stays that of one frame whatever the clip's length."""
    path = Path(path)
    if path.is_dir():
        files = list_frames(path)
        if not files:
            raise VideoError("no image frames in folder", path, f"Expected {IMAGE_SUFFIXES}.")
        shape = None
        for f in files[start:]:
            frame = read_image(f)
            if shape is not None and frame.shape != shape:
                raise VideoError(f"frames of different sizes {sorted({shape, frame.shape})}", f)
            shape = frame.shape
            yield frame
        return
    if not path.is_file():
        raise VideoError("video not found", path)
    container = _open(path)
    if not container.streams.video:
        container.close()
        raise VideoError(
            "has no video stream (audio only?)", path, "Give a video with picture frames."
        )
    k = 0
    with container:
        decoded = container.decode(video=0)
        while True:
            try:
                frame = next(decoded)
            except StopIteration:
                break
            except Exception as err:  # PyAV raises many decoder errors
                if k == 0:
                    raise VideoError(f"cannot decode video ({err})", path) from err
                break  # a damaged tail: the frames before it are the clip
            if k >= start:
                yield upright_frame(frame)
            k += 1
    if k == 0:
        raise VideoError("video has no frames", path)


def read_video(path: str | Path) -> np.ndarray:
    """All frames as (T, H, W, 3) uint8, from a frame folder or a video file (`iter_video`
    reads them one at a time)."""
    return np.stack(list(iter_video(path)))


def frame_rate(path: str | Path) -> float | None:
    """A video file's frame rate from its container (the stream's average rate), None for a
    frame folder or a stream that states none."""
    path = Path(path)
    if path.is_dir() or not path.is_file():
        return None
    container = _open(path)
    with container:
        if not container.streams.video:
            return None
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return float(rate) if rate else None

def upright_frame(frame) -> np.ndarray:
    """A decoded PyAV frame as (H, W, 3) uint8, turned as the video's display matrix says
    (phones store portrait video as landscape frames with a rotation)."""
    image = frame.to_ndarray(format="rgb24")
    turns = int(round(getattr(frame, "rotation", 0) or 0)) // 90 % 4
    return np.ascontiguousarray(np.rot90(image, k=turns)) if turns else image


def probe(path: str | Path) -> VideoInfo:
    """Frame count, frame rate, size and codec of a video (frames counted by decoding)."""
    path = Path(path)
    if path.is_dir():
        files = list_frames(path)
        if not files:
            raise VideoError("no image frames in folder", path)
        h, w = read_image(files[0]).shape[:2]
        return VideoInfo(len(files), 0.0, w, h, "images")
    container = _open(path)
    with container:
        if not container.streams.video:
            raise VideoError("file has no video stream", path)
        stream = container.streams.video[0]
        codec = stream.codec_context.name
        fps = float(stream.average_rate or stream.base_rate or 0)
        n = sum(1 for _ in container.demux(stream) if _.size)
        return VideoInfo(n, fps, stream.codec_context.width, stream.codec_context.height, codec)


def _even(frames: np.ndarray) -> np.ndarray:
    t, h, w, _ = frames.shape
    ph, pw = h % 2, w % 2
    if ph or pw:
        frames = np.pad(frames, ((0, 0), (0, ph), (0, pw), (0, 0)), mode="edge")
    return frames


def _as_clip(frames: Sequence[np.ndarray] | np.ndarray, path: Path) -> np.ndarray:
    frames = np.asarray(frames) if not isinstance(frames, np.ndarray) else frames
    if frames.ndim == 3:
        frames = frames[..., None]
    if frames.ndim != 4 or len(frames) == 0:
        raise VideoError(f"expected frames of shape (T, H, W, 3), got {frames.shape}", path)
    return np.stack([to_rgb(f) for f in frames])


def write_mp4(
    path: str | Path, frames: Sequence[np.ndarray] | np.ndarray, fps: float = 25.0, crf: int = 18
) -> Path:
    """Write H.264 (yuv420p, +faststart) MP4 that browsers play; returns the path."""
    import av

    path = Path(path)
    clip = _even(_as_clip(frames, path))
    path.parent.mkdir(parents=True, exist_ok=True)
    rate = Fraction(fps).limit_denominator(1001)
    # never a half-written video under the final name (a full disk: one line, no .part)
    with (
        atomic_path(path) as tmp,
        av.open(str(tmp), mode="w", format="mp4", options={"movflags": "+faststart"}) as out,
    ):
        stream = out.add_stream("libx264", rate=rate)
        stream.width, stream.height = clip.shape[2], clip.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(crf), "preset": "medium"}
        for image in clip:
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def write_gif(
    path: str | Path, frames: Sequence[np.ndarray] | np.ndarray, fps: float = 25.0
) -> Path:
    path = Path(path)
    clip = _as_clip(frames, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    images = [Image.fromarray(f) for f in clip]
    with atomic_path(path) as tmp:
        images[0].save(
            tmp,
            format="GIF",
            save_all=True,
            append_images=images[1:],
            duration=max(1, round(1000 / fps)),
            loop=0,
        )
    return path


def write_png(path: str | Path, image: np.ndarray) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        Image.fromarray(to_rgb(image)).save(tmp, format="PNG")
    return path


def contact_sheet(
    path: str | Path,
    rows: Sequence[Sequence[np.ndarray]],
    labels: Sequence[str] | None = None,
    pad: int = 4,
) -> Path:
    """A PNG grid: one row per sequence of images, an optional label at the left of each."""
    path = Path(path)
    rows = [[to_rgb(np.asarray(im)) for im in row] for row in rows]
    if not rows or not any(rows):
        raise VideoError("contact sheet needs at least one image", path)
    cell_h = max(im.shape[0] for row in rows for im in row)
    cell_w = max(im.shape[1] for row in rows for im in row)
    label_w = 0
    if labels:
        label_w = 8 + 7 * max(len(s) for s in labels)
    n_cols = max(len(r) for r in rows)
    sheet = Image.new(
        "RGB",
        (label_w + n_cols * (cell_w + pad) + pad, len(rows) * (cell_h + pad) + pad),
        (255, 255, 255),
    )
    draw = ImageDraw.Draw(sheet)
    for r, row in enumerate(rows):
        y = pad + r * (cell_h + pad)
        if labels:
            draw.text((4, y + cell_h // 2 - 6), str(labels[r]), fill=(0, 0, 0))
        for c, im in enumerate(row):
            sheet.paste(Image.fromarray(im), (label_w + pad + c * (cell_w + pad), y))
    with atomic_path(path) as tmp:
        sheet.save(tmp, format="PNG")
    return path
