"""Reading articles from local files and folders, and from uploaded bytes (Discord attachments).

Every problem with one input becomes a Skipped entry; nothing here raises for bad input.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from index.errors import InputError
from index.models import ReadResult, Skipped
from index.readers.formats import (
    HTML_SUFFIXES,
    SUPPORTED_SUFFIXES,
    decode_text,
    parse_html,
    parse_json,
    parse_jsonl,
    parse_jsonl_bytes,
    parse_text,
)
from index.readers.normalize import display_name
from index.settings import FetchSettings


def read_paths(paths: list[str | Path], fetch: FetchSettings) -> ReadResult:
    """Articles from files and folders; folders are walked recursively in name order."""
    result = ReadResult()
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            files, unreadable = _walk(path)
            result.skipped.extend(unreadable)
            for file in files:
                result.extend(_read_file(file, fetch))
        elif path.exists():
            result.extend(_read_file(path, fetch))
        else:
            result.skipped.append(Skipped(display_name(str(raw)), "no such file or folder"))
    return result


def read_bytes(name: str, data: bytes, fetch: FetchSettings) -> ReadResult:
    """Articles from an uploaded file's content; the format comes from the name's extension."""
    if len(data) > fetch.max_file_bytes:
        return _skip(name, _too_big(len(data), fetch.max_file_bytes))
    return read_data(name, data)


def read_data(origin: str, data: bytes) -> ReadResult:
    """Articles from the content of a file named `origin` (the suffix picks the format)."""
    suffix = Path(origin).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        kind = f"'{suffix}'" if suffix else "without an extension"
        return _skip(
            origin, f"unsupported file type {kind}; supported: {', '.join(SUPPORTED_SUFFIXES)}"
        )
    if not data.strip():
        return _skip(origin, "the file is empty")
    try:
        if suffix == ".jsonl" and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
            # Judged line by line: one bad byte costs its line, not the file (UTF-16 files,
            # rare for JSON Lines, are decoded whole below).
            return parse_jsonl_bytes(data, origin)
        if suffix in HTML_SUFFIXES:
            if b"\x00" in data:
                raise InputError("the file is binary, not text")
            # Bytes, not text: trafilatura reads the page's own charset declaration.
            return ReadResult(articles=[parse_html(data, origin)])
        text = decode_text(data)
        if suffix == ".json":
            return parse_json(text, origin)
        if suffix == ".jsonl":
            return parse_jsonl(text, origin)
        return ReadResult(articles=[parse_text(text, origin, markdown=suffix == ".md")])
    except InputError as exc:
        return _skip(origin, str(exc))


def _read_file(path: Path, fetch: FetchSettings) -> ReadResult:
    # A name that is not UTF-8 is shown (and stored) with \xNN escapes, never as raw bytes.
    origin = display_name(str(path))
    try:
        size = path.stat().st_size
        if not path.is_file():
            return _skip(origin, "not a regular file")
        if size > fetch.max_file_bytes:
            return _skip(origin, _too_big(size, fetch.max_file_bytes))
        with path.open("rb") as handle:
            # Read one byte past the cap: the file may have grown since stat.
            data = handle.read(fetch.max_file_bytes + 1)
    except OSError as exc:
        return _skip(origin, f"could not read the file: {exc.strerror or exc}")
    if len(data) > fetch.max_file_bytes:
        return _skip(origin, _too_big(len(data), fetch.max_file_bytes))
    return read_data(origin, data)


def _walk(folder: Path) -> tuple[list[Path], list[Skipped]]:
    """Files under `folder`, sorted, without hidden files or hidden folders; and every folder
    that could not be listed or was not entered, with the reason (os.walk would pass over it
    in silence). Links to folders are followed, each folder read once: a link back to a
    folder it is in (a loop) or to a folder already read is reported and not entered."""
    found: list[Path] = []
    unreadable: list[Skipped] = []

    def report(exc: OSError) -> None:
        where = display_name(str(exc.filename or folder))
        unreadable.append(Skipped(where, f"could not read the folder: {exc.strerror or exc}"))

    # Each folder by its identity (device, inode), however it was reached, and where.
    entered: dict[tuple[int, int], Path] = {}
    with contextlib.suppress(OSError):  # an unlistable top is reported by os.walk
        top = folder.stat()
        entered[(top.st_dev, top.st_ino)] = folder
    for root, dirs, files in os.walk(folder, onerror=report, followlinks=True):
        dirs[:] = [d for d in sorted(dirs) if not d.startswith(".") and
                   _enter(Path(root) / d, entered, unreadable)]
        found.extend(Path(root) / f for f in sorted(files) if not f.startswith("."))
    return found, unreadable


def _enter(path: Path, entered: dict[tuple[int, int], Path], skipped: list[Skipped]) -> bool:
    """Whether the walk goes into `path` (a folder, or a link to one) not entered before."""
    try:
        info = path.stat()
    except OSError as exc:
        skipped.append(Skipped(display_name(str(path)),
                               f"could not read the folder: {exc.strerror or exc}"))
        return False
    key = (info.st_dev, info.st_ino)
    before = entered.get(key)
    if before is None:
        entered[key] = path
        return True
    if path.is_relative_to(before):
        why = f"a link to {display_name(str(before))}, a folder it is in (a loop)"
    else:
        why = (f"a link to {display_name(os.path.realpath(path))}, already read as"
               f" {display_name(str(before))}")
    skipped.append(Skipped(display_name(str(path)), f"{why}: not followed"))
    return False


def _too_big(size: int, limit: int) -> str:
    return f"the file is {_size(size)}, over the limit of {_size(limit)}"


def _size(n: int) -> str:
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f} MB"
    if n >= 1_000:
        return f"{n / 1_000:.1f} kB"
    return f"{n} bytes"


def _skip(origin: str, reason: str) -> ReadResult:
    return ReadResult(skipped=[Skipped(origin, reason)])
