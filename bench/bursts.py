#!/usr/bin/env python3
"""bench/bursts.py: when a run's slow deliveries came (`parley-loadgen run --slow-log F`).

On this VM the host stops the whole machine for the rest of a 100 ms period once it is over
its CPU budget (docs/benchmarks.md, "Paced group commits"). Such a stop holds every message in
flight at once, so its slow deliveries come together, at that period; a slow request or a
queue inside the server does not look like that. This groups the slow deliveries into bursts
(less than 20 ms apart) and says how many fell in bursts of ten or more and how far apart
those were.

  bench/bursts.py SLOW_LOG        prints the summary as one JSON line
"""
import json, statistics, sys

GAP_MS = 20       # slow deliveries closer than this belong to one burst
MIN_BURST = 10    # a burst of fewer is not counted as a stop of the machine


def summarize(path):
    """{slow, in_bursts, bursts, period_ms, worst_ms} of the log at `path` (lines of
    "<intended send, ms from the run's start> <delivery latency, µs>")."""
    slow = sorted(tuple(float(x) for x in line.split()) for line in open(path) if line.strip())
    runs = []  # [first ms, last ms, deliveries, worst µs]
    for at, us in slow:
        if runs and at - runs[-1][1] < GAP_MS:
            r = runs[-1]
            r[1], r[2], r[3] = at, r[2] + 1, max(r[3], us)
        else:
            runs.append([at, at, 1, us])
    big = [r for r in runs if r[2] >= MIN_BURST]
    gaps = [b[0] - a[0] for a, b in zip(big, big[1:])]
    return {"slow": len(slow),
            "in_bursts": sum(r[2] for r in big),
            "bursts": len(big),
            "period_ms": round(statistics.median(gaps)) if len(gaps) >= 2 else None,
            "worst_ms": round(max((r[3] for r in big), default=0) / 1000, 1)}


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    print(json.dumps(summarize(sys.argv[1])))
