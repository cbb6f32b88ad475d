"""The error family lives in `fme.core.errors` (below every package); this name stays for old imports."""

from fme.core.errors import ConfigError, DataError, FaceNotFoundError, FMEError, VideoError

__all__ = ["ConfigError", "DataError", "FMEError", "FaceNotFoundError", "VideoError"]
