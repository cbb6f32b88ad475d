"""Blinded media: the bytes of a study's video, served only from the study's own folders.

The browser never sees a path, a file name or a method label: the app embeds the bytes
(see `study.pages.player`), after checking that the registered file still lies inside the
folder it was registered from (a method folder, the study's catch-clip folder or its
driving-clip folder) and still has the registered SHA-256. The MP4 is remuxed without its
container and stream metadata (a title or comment tag could name the method).
"""

from __future__ import annotations

import io
import logging
import tempfile
from functools import lru_cache
from pathlib import Path

from sqlalchemy.orm import Session

from db.models import Method, Study, Video
from fme.core.errors import DataError
from study.design import is_inside, sha256_file

log = logging.getLogger(__name__)


def allowed_folder(session: Session, video: Video) -> str | None:
    """The folder a video may be served from (None when it has none)."""
    if video.kind == "method" and video.method_id is not None:
        method = session.get(Method, video.method_id)
        return method.folder if method else None
    study = session.get(Study, video.study_id)
    if study is None:
        return None
    return study.media_dir if video.kind == "catch" else study.driving_dir


def checked_path(session: Session, video_id: int) -> Path:
    """The file of a registered video, only if it is inside its folder and unchanged."""
    video = session.get(Video, int(video_id))
    if video is None:
        raise DataError(f"video {video_id} is not registered")
    folder = allowed_folder(session, video)
    path = Path(video.path)
    if folder is None or not is_inside(path, folder):
        raise DataError(f"video {video_id} is outside its study's folders; it is not served")
    stat = path.stat()
    if _sha256(str(path), stat.st_mtime_ns, stat.st_size) != video.sha256:
        raise DataError(
            f"video {video_id} changed on disk since the study was created; it is not served",
            hint="Recreate the study from the current files.",
        )
    return path


@lru_cache(maxsize=256)
def _sha256(path: str, _mtime_ns: int, _size: int) -> str:
    return sha256_file(path)


@lru_cache(maxsize=64)
def _blinded(path: str, _mtime_ns: int, _size: int) -> bytes:
    return strip_metadata(Path(path).read_bytes())


def strip_metadata(data: bytes) -> bytes:
    """The MP4 remuxed (no re-encode) without container or stream tags; the input if that fails."""
    try:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "v.mp4"
            _remux(data, out)
            return out.read_bytes()
    except Exception as err:  # a file PyAV cannot remux is served as registered
        log.warning("could not strip metadata (%s); serving the file as is", err)
        return data


def _remux(data: bytes, out: Path) -> None:
    import av

    with av.open(io.BytesIO(data)) as src:
        stream = src.streams.video[0]
        with av.open(str(out), "w", format="mp4", options={"movflags": "+faststart"}) as dst:
            dst.metadata.clear()
            ostream = dst.add_stream_from_template(stream)
            ostream.metadata.clear()
            for packet in src.demux(stream):
                if packet.dts is None:
                    continue
                packet.stream = ostream
                dst.mux(packet)


def video_bytes(session: Session, video_id: int) -> bytes:
    """The blinded bytes of a registered video (see `checked_path`)."""
    path = checked_path(session, video_id)
    stat = path.stat()
    return _blinded(str(path), stat.st_mtime_ns, stat.st_size)
