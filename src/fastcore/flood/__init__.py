"""``tools/flood`` / ``fastcore flood``: a load client for any FIX 4.4 acceptor
and for fastcore's msgspec port.

    from fastcore.flood import Options, flood, table
    result = asyncio.run(flood(Options(port=9878, count=100_000, window=64)))
    result = asyncio.run(flood(Options(protocol="msgspec", count=100_000, window=64)))  # port 9879
    print(table(result))

``mix`` builds the order flow (the same orders for both protocols), ``driver``
is the Cython session core that sends it and times the answers (what both
protocols share, and a class per protocol reading what arrives), ``run``
drives a run, ``report`` reads it out.
"""

from fastcore.flood.run import FloodError, Options, Result, flood
from fastcore.flood.report import plot, summary, table

__all__ = ["FloodError", "Options", "Result", "flood", "plot", "summary", "table"]
