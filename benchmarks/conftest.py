"""Shared fixtures and the measuring helper for fastcore's benchmark suites.

Run through ``tools/bench_check`` (which reads benchmarks/budgets.toml), or
directly: ``python -m pytest benchmarks/test_codec.py``.

``FASTCORE_BENCH_QUICK=1`` (``bench_check --quick``) takes fewer and shorter
rounds and a smaller batch buffer, for a run of a few seconds; the figures
are then rougher. The cyclic GC is off while timing (as
``--benchmark-disable-gc``), so that a collection set off by one side's
allocations does not land in the other's figure.
"""

import ctypes
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest

QUICK = os.environ.get("FASTCORE_BENCH_QUICK", "") not in ("", "0")

# per-call figures: each round runs the call enough times to last ROUND_S
ROUND_S = 0.0005 if QUICK else 0.002
ROUNDS = 40 if QUICK else 300
WARMUP_ROUNDS = 3 if QUICK else 20
# batch figures: one call per round
BATCH_MESSAGES = 10_000 if QUICK else 100_000
BATCH_ROUNDS = 15 if QUICK else 31
BATCH_WARMUP = 1 if QUICK else 3

SOH = b"\x01"
HERE = Path(__file__).resolve().parent


def fix_message(body_fields, begin_string=b"FIX.4.4"):
    """A FIX message from (tag, bytes) body fields (35 first): BeginString,
    BodyLength and CheckSum computed."""
    body = b"".join(b"%d=%s\x01" % (tag, value) for tag, value in body_fields)
    head = b"8=%s\x019=%d\x01" % (begin_string, len(body))
    return head + body + b"10=%03d\x01" % (sum(head + body) & 255)


# The reference message of the performance spec: a NewOrderSingle (35=D) of
# 183 bytes and 18 fields, 8, 9 and 10 included.
NOS_FIELDS = [
    (35, b"D"),
    (49, b"CLIENT01"),
    (56, b"FASTCORE"),
    (34, b"12345"),
    (52, b"20240315-14:30:00.123"),
    (11, b"ORD-00000001"),          # ClOrdID
    (1, b"ACCT-001"),
    (21, b"1"),
    (55, b"ESM4"),                  # Symbol
    (54, b"1"),                     # Side
    (60, b"20240315-14:30:00.123"),
    (38, b"10"),                    # OrderQty
    (40, b"2"),                     # OrdType
    (44, b"5123.25"),               # Price
    (59, b"0"),
]
NOS = fix_message(NOS_FIELDS)
NOS_SIZE = 183
NOS_NFIELDS = 18
assert len(NOS) == NOS_SIZE and NOS.count(SOH) == NOS_NFIELDS, (len(NOS), NOS.count(SOH))

# The six values a parse returns, tags and decoded values (fixed point:
# prices 8 decimals, quantities 4).
ORDER_TAGS = (11, 55, 54, 38, 40, 44)
ORDER_VALUES = ("ORD-00000001", "ESM4", "1", 10 * 10**4, "2", 512325 * 10**6)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    if hasattr(config.option, "benchmark_disable_gc"):
        config.option.benchmark_disable_gc = True


def _calibrate(fn, args):
    """How many calls of ``fn(*args)`` last about ROUND_S."""
    n = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            fn(*args)
        dt = time.perf_counter() - t0
        if dt >= ROUND_S / 4 or n >= 1 << 20:
            return max(1, round(n * ROUND_S / dt))
        n *= 2


def paired_ratio(fastcore, peer, rounds=None):
    """fastcore's time over the peer's, measured interleaved: each round times
    a block of fastcore calls and a block of peer calls back to back (in
    alternating order), and the median of the per-round ratios is returned.
    A burst of load then slows both sides of a round alike, where medians
    taken seconds apart can catch it on one side only.

    ``fastcore`` and ``peer`` are (fn, args) pairs."""
    (fa, aa), (fb, ab) = fastcore, peer
    na, nb = _calibrate(fa, aa), _calibrate(fb, ab)
    clock = time.perf_counter_ns
    ratios = []
    for r in range((rounds or ROUNDS) + WARMUP_ROUNDS):
        times = []
        for fn, args, n in ((fa, aa, na), (fb, ab, nb))[::(1 if r % 2 else -1)]:
            t0 = clock()
            for _ in range(n):
                fn(*args)
            times.append((clock() - t0) / n)
        ta, tb = times if r % 2 else times[::-1]
        if r >= WARMUP_ROUNDS:
            ratios.append(ta / tb)
    ratios.sort()
    return ratios[len(ratios) // 2]


@pytest.fixture
def paired(benchmark):
    """``paired(peer_name, fastcore_call, peer_call)`` records the interleaved
    ratio (see paired_ratio) in the fastcore benchmark's extra_info, where
    tools/bench_check prefers it to the ratio of medians."""
    def run(peer_name, fastcore, peer):
        benchmark.extra_info.setdefault("paired", {})[peer_name] = paired_ratio(fastcore, peer)
    return run


@pytest.fixture
def per_call(benchmark):
    """``per_call(fn, *args)``: times one call of ``fn(*args)`` (the median
    over ROUNDS rounds, each of enough calls to last ROUND_S), after warm-up
    rounds; returns fn's result."""
    def run(fn, *args):
        iterations = _calibrate(fn, args)
        benchmark.extra_info["iterations"] = iterations
        benchmark.extra_info["quick"] = QUICK
        return benchmark.pedantic(fn, args=args, rounds=ROUNDS, iterations=iterations,
                                  warmup_rounds=WARMUP_ROUNDS)
    return run


@pytest.fixture
def per_batch(benchmark):
    """``per_batch(fn, buffer, messages)``: times one ``fn(buffer)`` over
    BATCH_ROUNDS rounds; ``messages`` is recorded (extra_info) for the
    ns-per-message figure."""
    def run(fn, buffer, messages):
        benchmark.extra_info["messages"] = messages
        benchmark.extra_info["bytes"] = len(buffer)
        benchmark.extra_info["quick"] = QUICK
        return benchmark.pedantic(fn, args=(buffer,), rounds=BATCH_ROUNDS, iterations=1,
                                  warmup_rounds=BATCH_WARMUP)
    return run


@pytest.fixture(scope="session")
def nos():
    """The reference NewOrderSingle (183 bytes, 18 fields)."""
    return NOS


@pytest.fixture(scope="session")
def order():
    """The reference order's six tags, their decoded values, and the builder."""
    class Order:
        raw = NOS
        tags = ORDER_TAGS
        values = ORDER_VALUES
        fields = NOS_FIELDS
        build = staticmethod(fix_message)
    return Order


@pytest.fixture(scope="session")
def batch_buffer():
    """BATCH_MESSAGES copies of the reference message, one buffer."""
    return NOS * BATCH_MESSAGES


def _cc():
    for cand in (os.environ.get("CC"), sysconfig.get_config_var("CC"), "cc", "gcc", "clang"):
        if cand:
            exe = shutil.which(cand.split()[0])
            if exe:
                return exe
    return None


@pytest.fixture(scope="session")
def csplit(tmp_path_factory):
    """benchmarks/_csplit.c built with the system C compiler into a temporary
    directory and loaded with ctypes: ``csplit(buffer) -> message count``."""
    cc = _cc()
    assert cc is not None, "no C compiler found (building fastcore needs one too)"
    out = tmp_path_factory.mktemp("csplit") / "_csplit.so"
    cmd = [cc, "-O2", "-shared", "-fPIC", "-o", str(out), str(HERE / "_csplit.c")]
    subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=120)
    lib = ctypes.CDLL(str(out))
    fn = lib.fc_csplit
    fn.restype = ctypes.c_long
    fn.argtypes = [ctypes.c_char_p, ctypes.c_long, ctypes.c_void_p, ctypes.c_long,
                   ctypes.c_void_p, ctypes.c_long]
    cap_fields = 4096

    class Field(ctypes.Structure):
        _fields_ = [("tag", ctypes.c_int32), ("off", ctypes.c_int32), ("len", ctypes.c_int32)]

    fields = (Field * cap_fields)()
    state = {}

    def split(buffer):
        cap = len(buffer) // 16 + 1
        if state.get("cap", 0) < cap:          # sized once, outside the timed calls
            state["offsets"] = (ctypes.c_int64 * cap)()
            state["cap"] = cap
        return fn(buffer, len(buffer), fields, cap_fields, state["offsets"], state["cap"])

    split.fields = fields
    split.offsets = lambda: state["offsets"]
    return split


def rss():
    """Resident set size now, in bytes (/proc/self/statm; else the peak)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        import resource
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


def fresh_interpreter(benchmark, script, *args, timeout=900):
    """Run ``python SCRIPT ARGS...`` as the benchmark's one round, in a fresh
    interpreter (memory other benchmarks freed cannot hide a growth), and
    return the JSON object its last line printed. The round's time is no figure."""
    cmd = [sys.executable, str(script), *map(str, args)]
    result = {}

    def run():
        proc = subprocess.run(cmd, cwd=HERE.parent, capture_output=True, text=True,
                              timeout=timeout)
        assert proc.returncode == 0, proc.stderr[-2000:]
        result.update(json.loads(proc.stdout.strip().splitlines()[-1]))

    benchmark.pedantic(run, rounds=1, iterations=1)
    return result
