"""Type stubs for fastcore.orders.table (a Cython extension)."""
import numpy as np

ORDER_DTYPE: np.dtype
COMMAND_DTYPE: np.dtype
REPORT_DTYPE: np.dtype
OPS: dict[str, int]
ERROR_CODES: dict[int, str]
STATE_NAMES: tuple[str, ...]

def state_names(state: int) -> str: ...

class OrderTable:
    """The order state table: one slot per order, growing as needed."""
    live: int
    nreports: int
    next_order_id: int
    next_exec_id: int
    day: int
    def __init__(self, capacity: int = 1024) -> None: ...
    def __len__(self) -> int: ...
    @property
    def bytes_per_order(self) -> int: ...
    def apply(self, commands: np.ndarray) -> int: ...
    def batch_reports(self) -> np.ndarray: ...
    def view(self) -> np.ndarray: ...
