"""Where citizens' pictures are kept: one file per picture, named by its SHA-256 under the day
it came in, written whole or not at all (a temporary file, fsync, rename, fsync of the
directory), so a crash never leaves half a picture under a real name."""

from __future__ import annotations

import contextlib
import datetime
import os
from pathlib import Path
from typing import Any

from intake.pictures import Picture


class MediaStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def put(self, picture: Picture, now: float) -> tuple[dict[str, Any], bool]:
        """Store the picture (once: the same bytes again are the same file); what to file,
        and whether this call wrote the file."""
        day = datetime.datetime.fromtimestamp(now, datetime.UTC).strftime("%Y%m%d")
        folder = self.root / day
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{picture.sha256}{picture.suffix}"
        created = not path.exists()
        if created:
            temporary = folder / f".{picture.sha256}.{os.getpid()}.part"
            try:
                with temporary.open("wb") as out:
                    out.write(picture.data)
                    out.flush()
                    os.fsync(out.fileno())
                temporary.rename(path)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    temporary.unlink()
            directory = os.open(folder, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
        record = {
            "path": str(path),
            "sha256": picture.sha256,
            "size": len(picture.data),
            "content_type": picture.content_type,
            "width": picture.width,
            "height": picture.height,
            "exif_location": (
                None
                if picture.location is None
                else {"lat": picture.location[0], "lon": picture.location[1]}
            ),
            "exif_error": picture.location_error,
        }
        return record, created

    def remove(self, filed: list[dict[str, Any]]) -> None:
        """Take back pictures stored for a report that could not be filed."""
        for item in filed:
            with contextlib.suppress(FileNotFoundError):
                Path(item["path"]).unlink()
