"""The order state table (Cython): slots, ClOrdID index, states by precedence.

The Python API is ``fastcore.engine.Engine``; this package holds its C-level
parts, and ``state_names`` to read the ``state`` column of ``Engine.orders()``.
"""

from fastcore.orders.table import OrderTable, STATE_NAMES, state_names

__all__ = ["OrderTable", "STATE_NAMES", "state_names"]
