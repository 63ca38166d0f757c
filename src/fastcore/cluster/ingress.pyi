"""Type stubs for fastcore.cluster.ingress (a Cython extension)."""
from collections.abc import Callable, Sequence

from fastcore.engine import Engine
from fastcore.journal import Records

class Ingress:
    partitions: int
    entries: list[Records]
    first: list[str]
    ready: Callable[[], None] | None
    def __init__(self, engine: Engine, partition_of: Sequence[int]) -> None: ...
    def flush(self) -> None: ...
    def take(self, part: int, limit: int = 0) -> tuple[str, bytes] | None: ...
    def pending(self, part: int) -> int: ...
