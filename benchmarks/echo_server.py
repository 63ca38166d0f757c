"""The floor any Python FIX server can reach: a uvloop server that writes back
every byte it reads, one write per read (the same message sizes in and out,
no parsing, no state). The server benchmark drives it with the same load
client as fastcore: a message "answered" is the message itself coming back.

    python benchmarks/echo_server.py [--port 0]      # prints "READY <port>", runs until SIGTERM
"""
import argparse
import asyncio
import signal

import uvloop


class Echo(asyncio.BufferedProtocol):
    def __init__(self):
        self.buf = bytearray(1 << 20)

    def connection_made(self, transport):
        self.transport = transport          # TCP_NODELAY: uvloop sets it

    def get_buffer(self, hint):
        return self.buf

    def buffer_updated(self, nbytes):
        self.transport.write(bytes(self.buf[:nbytes]))


async def main(port):
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Echo, "127.0.0.1", port)
    print(f"READY {server.sockets[0].getsockname()[1]}", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    uvloop.install()
    asyncio.run(main(ap.parse_args().port))
