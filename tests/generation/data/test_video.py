"""Video I/O: H.264 files that decode with the right codec, count and content."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from fme.core.errors import VideoError
from generation.data.video import (
    contact_sheet,
    frame_number,
    list_frames,
    probe,
    read_image,
    read_video,
    write_gif,
    write_mp4,
)


def _ramp(t: int = 12, h: int = 48, w: int = 64) -> np.ndarray:
    """A clip whose mean brightness rises frame by frame."""
    frames = np.zeros((t, h, w, 3), np.uint8)
    for k in range(t):
        frames[k] = 20 + 15 * k
        frames[k, 10:20, 5 + 2 * k : 15 + 2 * k] = 255  # a moving bar
    return frames


def test_mp4_is_h264_yuv420p_with_every_frame(tmp_path):
    import av

    clip = _ramp()
    path = write_mp4(tmp_path / "clip.mp4", clip, fps=100)
    info = probe(path)
    assert (info.codec, info.n_frames, info.width, info.height) == ("h264", 12, 64, 48)
    assert info.fps == pytest.approx(100)
    with av.open(str(path)) as c:
        assert c.streams.video[0].codec_context.pix_fmt == "yuv420p"
    back = read_video(path)
    assert back.shape == clip.shape
    # lossy, but close, and the brightness order survives
    assert np.abs(back.astype(int) - clip.astype(int)).mean() < 4
    assert np.all(np.diff(back.reshape(12, -1).mean(1)) > 5)


def test_odd_size_is_padded_to_even(tmp_path):
    info = probe(write_mp4(tmp_path / "odd.mp4", _ramp(3, 33, 51)))
    assert (info.width, info.height, info.n_frames) == (52, 34, 3)


def test_frame_folder_sorted_numerically(tmp_path):
    clip = _ramp(11)
    for k in range(11):  # img1 .. img11 without leading zeros: lexical order would be wrong
        Image.fromarray(clip[k]).save(tmp_path / f"img{k + 1}.png")
    files = list_frames(tmp_path)
    assert [frame_number(f) for f in files] == list(range(1, 12))
    np.testing.assert_array_equal(read_video(tmp_path), clip)


def test_grayscale_image_becomes_three_channels(tmp_path):
    Image.fromarray(np.full((5, 7), 99, np.uint8)).save(tmp_path / "g.bmp")
    im = read_image(tmp_path / "g.bmp")
    assert im.shape == (5, 7, 3) and (im == 99).all()


def test_corrupt_image_and_video_name_the_file(tmp_path):
    bad = tmp_path / "img3.jpg"
    bad.write_bytes(b"not a jpeg")
    with pytest.raises(VideoError, match="img3.jpg"):
        read_image(bad)
    badv = tmp_path / "broken.mp4"
    badv.write_bytes(b"\x00" * 100)
    with pytest.raises(VideoError, match="broken.mp4"):
        read_video(badv)
    with pytest.raises(VideoError, match="not found"):
        read_video(tmp_path / "missing")


def test_gif_and_contact_sheet(tmp_path):
    clip = _ramp(4)
    gif = write_gif(tmp_path / "a.gif", clip, fps=10)
    with Image.open(gif) as im:
        assert im.n_frames == 4
    sheet = contact_sheet(tmp_path / "s.png", [list(clip), list(clip[:2])], labels=["a", "bb"])
    with Image.open(sheet) as im:
        w, h = im.size
    assert h == 2 * 48 + 3 * 4 and w > 4 * 64
