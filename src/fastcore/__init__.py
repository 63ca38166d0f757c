"""fastcore: a low-latency order matching and routing core for exchange-traded
derivatives, with a FIX 4.4 codec and engine whose hot path is C-level Cython."""

__version__ = "0.1.0"
