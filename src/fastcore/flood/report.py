"""What a load run measured: HDR histograms, the closing table, JSON, a plot.

Latencies go into HDR histograms (the ``hdrhistogram`` package: 3
significant digits from 1 ns to an hour), one per kind of message and one for
all; the table and the JSON read their percentiles from them.
"""

from __future__ import annotations

from typing import Any

from hdrh.histogram import HdrHistogram

from fastcore.flood.run import Result

PERCENTILES = (50.0, 90.0, 99.0, 99.9)
ROWS = ("new", "cancel", "replace", "market", "all")


def histograms(result: Result) -> dict[str, HdrHistogram]:
    """An HDR histogram (ns) per kind with answers, and "all"."""
    out = {}
    for kind in ROWS:
        values = result.latencies[kind]
        if not len(values):
            continue
        h = HdrHistogram(1, 3_600_000_000_000, 3)
        for v in values.tolist():
            h.record_value(max(v, 1))
        out[kind] = h
    return out


def summary(result: Result) -> dict[str, Any]:
    """The run as plain data (``--json``): the target and its protocol,
    options, counts, throughput, and per kind its count and latency
    percentiles in µs."""
    opts = result.options
    rows = {}
    for kind, h in histograms(result).items():
        rows[kind] = {"count": h.get_total_count(),
                      **{f"p{p:g}": h.get_value_at_percentile(p) / 1000 for p in PERCENTILES},
                      "max": h.get_max_value() / 1000}
    return {
        "target": f"{opts.host}:{opts.port}", "protocol": opts.protocol,
        "sessions": opts.sessions,
        "mode": f"open loop at {opts.rate:g}/s" if opts.rate else f"closed loop, window {opts.window}",
        "sent": result.sent, "answered": result.answered, "missing": result.missing,
        "elapsed_s": result.elapsed, "throughput_per_s": result.throughput,
        "rejects": result.rejects, "business_rejects": result.business_rejects,
        "refused": result.refused, "lost": result.lost, "latency_us": rows,
    }


def table(result: Result) -> str:
    """The closing table: throughput, then p50/p90/p99/p99.9/max per kind."""
    s = summary(result)
    lines = [f"{s['target']} ({s['protocol']}): {len(s['sessions'])} sessions, {s['mode']}: "
             f"{s['answered']:,} of {s['sent']:,} messages answered in {s['elapsed_s']:.3f} s "
             f"= {s['throughput_per_s']:,.0f}/s",
             f"{'':8}{'count':>10}" + "".join(f"{f'p{p:g}':>11}" for p in PERCENTILES)
             + f"{'max':>11}   (µs)"]
    for kind, row in s["latency_us"].items():
        lines.append(f"{kind:<8}{row['count']:>10,}"
                     + "".join(f"{row[f'p{p:g}']:>11,.1f}" for p in PERCENTILES)
                     + f"{row['max']:>11,.1f}")
    notes = []
    if s["missing"]:
        notes.append(f"{s['missing']:,} messages unanswered")
    if s["refused"]:
        what = ("ExecutionReport Rejected, OrderCancelReject or Refused" if s["protocol"] == "msgspec"
                else "ExecutionReport Rejected or OrderCancelReject")
        notes.append(f"{s['refused']:,} refused ({what})")
    if s["rejects"] or s["business_rejects"]:
        notes.append(f"{s['rejects']} Reject (35=3), {s['business_rejects']} "
                     "BusinessMessageReject (35=j)")
    notes.extend(f"dropped: {lost}" for lost in s["lost"])
    return "\n".join(lines + notes)


def plot(results: dict[str, Result], path: str) -> None:
    """The latency percentile distribution of each run (label → Result),
    "all" messages, on the usual 1/(1 - p) axis, into a PNG."""
    try:
        import matplotlib
    except ImportError:
        raise RuntimeError("--plot needs matplotlib: pip install matplotlib") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for label, result in results.items():
        h = histograms(result).get("all")
        if h is None:
            continue
        xs, ys = [], []
        for item in h.get_recorded_iterator():
            p = 100.0 * item.total_count_to_this_value / h.get_total_count()
            if p >= 100.0:
                p = 99.9999
            xs.append(1 / (1 - p / 100))
            ys.append(item.value_iterated_to / 1000)
        ax.plot(xs, ys, label=label)
    ax.set_xscale("log")
    ticks = [0, 90, 99, 99.9, 99.99]
    ax.set_xticks([1 / (1 - t / 100) for t in ticks], [f"p{t:g}" for t in ticks])
    ax.set_ylabel("latency to the first answer (µs)")
    ax.set_xlabel("percentile")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
