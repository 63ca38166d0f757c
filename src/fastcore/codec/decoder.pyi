"""Type stubs for fastcore.codec.decoder (a Cython extension)."""
from collections.abc import Iterable, Mapping
from typing import Any, Literal

KINDS: dict[str, int]

class Decoder:
    """Parse a message and return chosen fields as typed Python values."""
    fields: tuple[int, ...]
    def __init__(
        self,
        tags: Iterable[int],
        kinds: Mapping[int, Literal["str", "int", "qty", "price", "time", "bool", "bytes"]] | None = None,
        *,
        max_body_length: int = 65536,
    ) -> None: ...
    def decode(self, data: bytes) -> tuple[Any, ...]: ...
