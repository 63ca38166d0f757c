"""The server: a FIX 4.4 acceptor and a msgspec port over one engine.

    from fastcore.server import Server, run
    run()                                   # `fastcore serve` on the embedded default

See ``app`` (the server), ``session`` (the FIX session layer), ``store``
(sequence numbers and sent messages), ``settings`` (QuickFIX-style session
files), ``msgport`` (the msgspec port) and ``client`` (clients for both ports).
"""

from fastcore.server.app import Server, install_uvloop, run

__all__ = ["Server", "install_uvloop", "run"]
