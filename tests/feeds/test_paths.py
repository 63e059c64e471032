"""Expansion of import paths: files, globs, folders and zip archives, read lazily."""

from __future__ import annotations

import os
import random
import zipfile
from pathlib import Path

import pytest

from deltastream.feeds import paths
from deltastream.feeds.paths import InputFile, expand
from deltastream.feeds.records import FileFormatError


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _zip(path: Path, members: dict[str, bytes], folders: tuple[str, ...] = ()) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for folder in folders:
            zf.writestr(zipfile.ZipInfo(folder), b"")
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def _names(files: list[InputFile], root: Path) -> list[str]:
    return [f.name.replace(f"{root}{os.sep}", "") for f in files]


def test_a_file_is_itself_and_is_read_only_when_asked(tmp_path: Path) -> None:
    path = _write(tmp_path / "day.csv", b"first")
    (item,) = expand([str(path)])
    assert item.name == str(path)
    # Nothing was read by expanding: the content is the file's at read() time.
    path.write_bytes(b"second")
    assert item.read() == b"second"
    path.unlink()
    with pytest.raises(FileFormatError) as caught:
        item.read()
    assert caught.value.file == str(path) and "cannot read" in caught.value.message


def test_a_folder_is_its_files_recursively_sorted_without_hidden_ones(tmp_path: Path) -> None:
    root = tmp_path / "data"
    for name in ("b.csv", "a.csv", "2026/12/04.csv", "2026/11/30.csv", ".DS_Store",
                 ".git/config.csv", "2026/.hidden.csv"):
        _write(root / name, name.encode())
    _zip(root / "2026" / "bhav.csv.zip", {"bhav.csv": b"zipped"})
    files = expand([str(root)])
    assert _names(files, root) == ["2026/11/30.csv", "2026/12/04.csv",
                                   "2026/bhav.csv.zip:bhav.csv", "a.csv", "b.csv"]
    assert [f.read() for f in files] == [b"2026/11/30.csv", b"2026/12/04.csv", b"zipped",
                                         b"a.csv", b"b.csv"]


def test_other_files_of_folders_and_archives_are_skipped_and_listed(tmp_path: Path) -> None:
    root = tmp_path / "downloads"
    for name in ("chain.JSON", "day.csv", "eod.parquet", "old.pq", "README.md", "notes.txt",
                 "fetch.py"):
        _write(root / name, name.encode())
    _zip(root / "bhav.zip", {"bhav.csv": b"zipped", "readme.txt": b"about"})
    named = _write(tmp_path / "saved-from-the-website", b"a file named on its own")
    skipped: list[str] = []
    files = expand([str(root), str(named)], skipped)
    assert _names(files, root) == ["bhav.zip:bhav.csv", "chain.JSON", "day.csv",
                                   "eod.parquet", "old.pq", str(named)]
    assert _names([InputFile(s, bytes) for s in skipped], root) == [
        "README.md", "bhav.zip:readme.txt", "fetch.py", "notes.txt"]


def test_a_zip_is_its_members(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "Cboe.ZIP",
                   {"UnderlyingOptionsEODCalcs_2027-03-16.csv": b"one",
                    "nested/deeper/two.csv": b"two", "__MACOSX/._two.csv": b"fork",
                    "nested/.hidden": b"h"},
                   folders=("nested/", "nested/deeper/"))
    files = expand([str(archive)])
    assert [f.name for f in files] == [
        f"{archive}:UnderlyingOptionsEODCalcs_2027-03-16.csv",
        f"{archive}:nested/deeper/two.csv"]
    assert [f.read() for f in files] == [b"one", b"two"]


def test_globs_match_sorted_and_double_star_spans_folders(tmp_path: Path) -> None:
    for name in ("b.csv", "a.csv", "c.json", "sub/d.csv"):
        _write(tmp_path / name, b"x")
    assert _names(expand([str(tmp_path / "*.csv")]), tmp_path) == ["a.csv", "b.csv"]
    assert _names(expand([str(tmp_path / "**" / "*.csv")]), tmp_path) == [
        "a.csv", "b.csv", "sub/d.csv"]
    # A pattern matching a folder expands it.
    assert _names(expand([str(tmp_path / "su?")]), tmp_path) == ["sub/d.csv"]


def test_order_of_paths_is_kept_and_a_file_reached_twice_is_listed_once(tmp_path: Path
                                                                        ) -> None:
    b = _write(tmp_path / "b.csv", b"b")
    a = _write(tmp_path / "a.csv", b"a")
    files = expand([str(b), str(tmp_path), str(tmp_path / "*.csv"), str(a)])
    assert _names(files, tmp_path) == ["b.csv", "a.csv"]


def test_a_missing_path_is_an_error_naming_it(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.csv")
    with pytest.raises(FileFormatError) as caught:
        expand([missing])
    assert (caught.value.file, caught.value.line, caught.value.message) == (
        missing, None, "no such file or directory")
    pattern = str(tmp_path / "*.parquet")
    with pytest.raises(FileFormatError) as caught:
        expand([pattern])
    assert (caught.value.file, caught.value.message) == (pattern,
                                                          "no file matches this pattern")


def test_an_empty_folder_has_no_files(tmp_path: Path) -> None:
    assert expand([str(tmp_path)]) == []


def test_a_corrupt_zip_is_one_file_that_fails_when_read(tmp_path: Path) -> None:
    # Listing never fails on it: the files around it in a folder are still listed (and
    # imported); the archive itself is an error naming it when it is read.
    _write(tmp_path / "a.csv", b"a")
    bad = _write(tmp_path / "b.zip", b"PK\x03\x04 not really a zip")
    _zip(tmp_path / "c.zip", {"c.csv": b"c"})
    truncated = _write(tmp_path / "d.zip", (tmp_path / "c.zip").read_bytes()[:-30])
    files = expand([str(tmp_path)])
    assert _names(files, tmp_path) == ["a.csv", "b.zip", "c.zip:c.csv", "d.zip"]
    assert files[0].read() == b"a" and files[2].read() == b"c"
    for item, archive in ((files[1], bad), (files[3], truncated)):
        with pytest.raises(FileFormatError, match="not a readable zip archive") as caught:
            item.read()
        assert (caught.value.file, caught.value.line) == (str(archive), None)
    # Named again, it is listed once.
    assert [f.name for f in expand([str(bad), str(tmp_path / "*.zip")])] == [
        str(bad), f"{tmp_path / 'c.zip'}:c.csv", str(truncated)]


def test_a_member_over_the_size_limit_is_refused(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    assert paths.MAX_MEMBER_BYTES == 2 * 1024**3
    archive = _zip(tmp_path / "bomb.zip", {"small.csv": b"x" * 1000,
                                           "big.csv": b"\0" * 5000})
    monkeypatch.setattr(paths, "MAX_MEMBER_BYTES", 1000)
    big, small = expand([str(archive)])
    assert small.read() == b"x" * 1000
    with pytest.raises(FileFormatError) as caught:
        big.read()
    assert caught.value.file == f"{archive}:big.csv"
    assert caught.value.message == "over 1000 bytes uncompressed; refused"


def test_a_member_larger_than_its_directory_says_is_not_inflated_past_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A directory entry understating a member's size (as a bomb's would) bounds what is
    inflated: the member reads as damaged rather than past the size checked."""
    archive = _zip(tmp_path / "liar.zip", {"data.csv": b"y" * 5000})
    real_getinfo = zipfile.ZipFile.getinfo

    def understated(self: zipfile.ZipFile, name: str) -> zipfile.ZipInfo:
        info = real_getinfo(self, name)
        info.file_size = 10
        return info

    (item,) = expand([str(archive)])
    monkeypatch.setattr(zipfile.ZipFile, "getinfo", understated)
    with pytest.raises(FileFormatError, match="cannot read from the archive: Bad CRC-32"):
        item.read()


def test_a_damaged_member_is_an_error_when_read(tmp_path: Path) -> None:
    noise = random.Random(14).randbytes(20_000)   # incompressible: the data spans the file
    archive = _zip(tmp_path / "damaged.zip", {"data.csv": noise})
    raw = bytearray(archive.read_bytes())
    raw[60:70] = b"\xff" * 10       # inside the compressed data of the only member
    archive.write_bytes(bytes(raw))
    (item,) = expand([str(archive)])
    with pytest.raises(FileFormatError, match="cannot read from the archive") as caught:
        item.read()
    assert caught.value.file == f"{archive}:data.csv"
