"""Type stubs for fastcore.cluster.entries (a Cython extension)."""
from fastcore.engine import Engine

class Worker:
    engine: Engine
    inputs: int
    duplicates: int
    refused: int
    def __init__(self, engine: Engine, last_in: list[int] | None = None) -> None: ...
    @property
    def last_in(self) -> list[int]: ...
    def work(self, data: bytes, where: str = "entry") -> bytes: ...

def messages(data: bytes) -> list[tuple[int, bytes]]: ...
