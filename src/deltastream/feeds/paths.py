"""The files an import reads: plain files, glob patterns, folders and zip archives, each
expanded to :class:`InputFile` objects whose content is read only when asked for.

* A file is itself; a ``.zip`` file (any case) is its members, each named
  ``archive.zip:folder/member.csv`` (folders inside the archive are fine). A zip whose
  directory cannot be read (corrupt, truncated, unreadable) is one file, named as the
  archive, whose reading raises :class:`~deltastream.feeds.records.FileFormatError`: an
  import reports it as failed and goes on with the rest.
* A folder is every data file under it (:data:`DATA_SUFFIXES`: ``.json``, ``.csv``,
  ``.parquet``, ``.pq``, ``.zip``, any case), recursively, sorted by path; hidden files and
  folders (a name starting with ``.``) are skipped, zips among them expanded. Inside a
  folder or an archive other files (a README, a script) are skipped and listed in
  ``skipped``; a file named on its own, or matched by a pattern, is read whatever its name.
* A pattern (``*``, ``?``, ``[``; ``**`` spans folders) is its matches, sorted, each expanded
  as above.
* The order of ``paths`` is kept; a file reached twice is listed once.

A path that does not exist (or a pattern that matches nothing) raises
:class:`~deltastream.feeds.records.FileFormatError`. Reading a zip member refuses more than
:data:`MAX_MEMBER_BYTES` uncompressed (2 GiB: a zip bomb inflates far beyond); a member
holding more than its directory entry states is not inflated past that size (it fails as
damaged).
"""

from __future__ import annotations

import glob
import os
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .records import FileFormatError

MAX_MEMBER_BYTES = 2 * 1024**3
# What a file found in a folder or an archive must be called to be imported.
DATA_SUFFIXES = (".json", ".csv", ".parquet", ".pq", ".zip")
_GLOB_CHARACTERS = frozenset("*?[")


@dataclass(frozen=True)
class InputFile:
    """One file to import: its name in reports and a function returning its bytes."""

    name: str
    read: Callable[[], bytes]


def _hidden(name: str) -> bool:
    return name.startswith(".")


def _read_file(path: str) -> Callable[[], bytes]:
    def read() -> bytes:
        try:
            return Path(path).read_bytes()
        except OSError as exc:
            raise FileFormatError(path, None, f"cannot read: {exc.strerror or exc}") from None
    return read


def _read_member(archive: str, member: str, name: str) -> Callable[[], bytes]:
    def read() -> bytes:
        limit = MAX_MEMBER_BYTES
        try:
            with zipfile.ZipFile(archive) as zf:
                if zf.getinfo(member).file_size > limit:
                    raise FileFormatError(name, None, f"over {limit} bytes uncompressed; "
                                          "refused")
                # zipfile inflates no more than the size the directory states (a member
                # holding more fails its CRC check), so the check above bounds memory.
                return zf.read(member)
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError,
                RuntimeError) as exc:
            # RuntimeError: an encrypted member; NotImplementedError: an unknown compression.
            raise FileFormatError(name, None, f"cannot read from the archive: {exc}") from None
        except OSError as exc:
            raise FileFormatError(name, None, f"cannot read: {exc.strerror or exc}") from None
    return read


# Each expansion yields (identity, file): the identity finds a file reached twice.
Found = Iterator[tuple[tuple[str, str], InputFile]]


def _unlistable(path: str, error: str) -> Callable[[], bytes]:
    def read() -> bytes:
        raise FileFormatError(path, None, f"not a readable zip archive: {error}")
    return read


def _is_data(name: str) -> bool:
    return name.lower().endswith(DATA_SUFFIXES)


def _members(path: str, skipped: list[str]) -> Found:
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        # One file that fails when read: the other paths are still imported.
        yield (os.path.realpath(path), ""), InputFile(path, _unlistable(path, str(exc)))
        return
    names = sorted(info.filename for info in infos if not info.is_dir())
    real = os.path.realpath(path)
    for member in names:
        parts = member.split("/")
        # Skip hidden entries and the resource forks macOS adds to archives.
        if any(_hidden(p) for p in parts) or parts[0] == "__MACOSX":
            continue
        name = f"{path}:{member}"
        if not _is_data(member):
            skipped.append(name)
            continue
        yield (real, member), InputFile(name, _read_member(path, member, name))


def _file(path: str, skipped: list[str]) -> Found:
    if path.lower().endswith(".zip"):
        yield from _members(path, skipped)
    else:
        yield (os.path.realpath(path), ""), InputFile(path, _read_file(path))


def _folder(path: str, skipped: list[str]) -> Found:
    found: list[str] = []
    for top, folders, files in os.walk(path):
        folders[:] = [f for f in folders if not _hidden(f)]
        found.extend(os.path.join(top, f) for f in files if not _hidden(f))
    for file in sorted(found):
        if _is_data(file):
            yield from _file(file, skipped)
        else:
            skipped.append(file)


def _one(path: str, skipped: list[str]) -> Found:
    if os.path.isdir(path):
        yield from _folder(path, skipped)
    elif os.path.exists(path):
        yield from _file(path, skipped)
    elif _GLOB_CHARACTERS & set(path):
        matches = sorted(glob.glob(path, recursive=True))
        if not matches:
            raise FileFormatError(path, None, "no file matches this pattern")
        for match in matches:
            yield from _one(match, skipped)
    else:
        raise FileFormatError(path, None, "no such file or directory")


def expand(paths: list[str], skipped: list[str] | None = None) -> list[InputFile]:
    """Every file ``paths`` name, in order (see the module docstring); nothing is read.
    Files of folders and archives that are not data files are appended to ``skipped``."""
    seen: set[tuple[str, str]] = set()
    out: list[InputFile] = []
    passed_over: list[str] = [] if skipped is None else skipped
    for path in paths:
        for identity, item in _one(path, passed_over):
            if identity not in seen:
                seen.add(identity)
                out.append(item)
    return out
