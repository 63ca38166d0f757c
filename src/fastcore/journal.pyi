from collections.abc import Iterator
from os import PathLike

import msgspec

MAGIC: bytes
SUFFIX: str
FSYNC_POLICIES: tuple[str, ...]
KINDS: frozenset[str]

def crc32(data: bytes) -> int: ...
def segment_name(first: int) -> str: ...

class Journal:
    directory: str
    seq: int
    written: int
    fsync: int
    segment_size: int
    path: str
    cut: int
    def __init__(self, directory: str | PathLike[str], fsync: str = "none",
                 segment_size: int = ...) -> None: ...
    def append(self, kind: str, user: int, now: int, data: bytes) -> int: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...
    def __enter__(self) -> Journal: ...
    def __exit__(self, *exc: object) -> None: ...

class Record(msgspec.Struct, array_like=True, frozen=True):
    kind: str
    seq: int
    user: int
    now: int
    data: bytes

def numbered(directory: str | PathLike[str], suffix: str) -> list[tuple[int, str]]: ...
def segments(directory: str | PathLike[str]) -> list[tuple[int, str]]: ...
def records(directory: str | PathLike[str], after: int = 0) -> Iterator[Record]: ...
