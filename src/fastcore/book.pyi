"""Type stubs for fastcore.book (a Cython extension)."""
import numpy as np

BUY: int
SELL: int
MARKET: int
LIMIT: int
DAY: int
GTC: int
IOC: int
FOK: int
GTD: int
STP_NONE: int
STP_CANCEL_RESTING: int
STP_CANCEL_INCOMING: int
STP_CANCEL_BOTH: int
CANCEL_ON_HALT: int
E_UNKNOWN: int
E_ARG: int
E_QTY: int
E_TICK: int
E_LOT: int
E_MIN_QTY: int
E_MAX_QTY: int
E_BAND: int
E_HALTED: int
E_STATE: int
E_MEMORY: int
EV_FILL: int
EV_REST: int
EV_CANCEL: int
EV_MODIFY: int
EV_QUEUE: int
R_USER: int
R_IOC: int
R_FOK: int
R_MARKET: int
R_STP: int
R_HALT: int
OP_NEW: int
OP_CANCEL: int
OP_REPLACE: int
OP_HALT: int
OP_RESUME: int

EVENT_DTYPE: np.dtype
COMMAND_DTYPE: np.dtype
TOP_DTYPE: np.dtype
LEVEL_DTYPE: np.dtype
RULES: dict[int, str]

class Book:
    """The limit order book of one instrument (prices 8 decimals, quantities 4)."""
    tick: int
    lot: int
    min_qty: int
    max_qty: int
    band: int
    ref_price: int
    queue_when_halted: bool
    halted: bool
    resting: int
    queued: int
    seq: int
    nevents: int
    tops_dropped: int
    def __init__(self, tick: int = 1, lot: int = 1, min_qty: int = 0, max_qty: int = 0,
                 band: int = 0, ref_price: int = 0, queue_when_halted: bool = False,
                 capacity: int = 1024, top_capacity: int = 4096) -> None: ...
    def new_order(self, id: int, side: int, price: int, qty: int, ord_type: int = ...,
                  tif: int = ..., account: int = 0, stp: int = ..., flags: int = 0) -> int: ...
    def cancel_order(self, handle: int) -> int: ...
    def replace_order(self, handle: int, price: int, qty: int) -> int: ...
    def halt(self) -> int: ...
    def resume(self) -> int: ...
    def set_reference(self, price: int) -> None: ...
    def apply(self, commands: np.ndarray, keep_events: bool = True) -> int: ...
    def apply_timed(self, commands: np.ndarray, interval_ns: int,
                    latencies: np.ndarray) -> int: ...
    def events(self) -> np.ndarray: ...
    def top_updates(self) -> np.ndarray: ...
    @property
    def best_bid(self) -> int | None: ...
    @property
    def best_ask(self) -> int | None: ...
    @property
    def bid_qty(self) -> int: ...
    @property
    def ask_qty(self) -> int: ...
    def level(self, side: int, price: int) -> tuple[int, int]: ...
    def depth(self, n: int = 10) -> tuple[np.ndarray, np.ndarray]: ...
    def order(self, handle: int) -> tuple[int, int, int, int] | None: ...
    def __len__(self) -> int: ...
    @property
    def nbytes(self) -> int: ...
    def validate(self) -> None: ...
