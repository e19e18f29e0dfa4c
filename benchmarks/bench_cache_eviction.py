"""Benchmark: the cost of a write to an ``ImageCache`` at its size limit.

What it measures
----------------
A cache with ``max_bytes`` evicts its least recently used entries when a write
takes it over the limit. It used to rescan (glob, stat and sort) the whole
directory on every such write, so each write at the limit cost O(entries).
It now keeps the sizes and use order of the entries in memory, read from the
directory once per process, and evicts in O(1) amortised per write.

The script fills a cache directory on tmpfs (``/dev/shm`` when there is one)
with ``--entries`` small entries (100,000 by default), then opens it with
``max_bytes`` equal to its size, so that every further write evicts, and
times ``--writes`` writes: the first one separately (it reads the directory
once), then the median of the others. With ``--before FILE`` (a copy of an
older ``sklearn_depict/cache.py``, for example from
``git show 2cabbd4:sklearn_depict/cache.py > /tmp/cache_before.py``) it
times that implementation on the same directory in the same run, with
``--writes-before`` writes (each takes a full rescan).

How to run
----------
From the repository root::

    git show 2cabbd4:sklearn_depict/cache.py > /tmp/cache_before.py
    .venv/bin/python benchmarks/bench_cache_eviction.py --before /tmp/cache_before.py
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sklearn_depict import cache as current


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--writes", type=int, default=2000)
    parser.add_argument("--before", metavar="FILE", default=None,
                        help="an older cache.py to time on the same directory")
    parser.add_argument("--writes-before", type=int, default=10)
    return parser.parse_args(argv)


def _load(path: str) -> Any:
    spec = importlib.util.spec_from_file_location("cache_before", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _time_writes(module: Any, directory: Path, n_writes: int, tag: str) -> dict:
    image = np.zeros((2, 2, 1), dtype=np.float32)
    probe = module.ImageCache(directory)
    limit = probe.nbytes  # a full scan, outside the timing
    cache = module.ImageCache(directory, max_bytes=limit)
    times = []
    for k in range(n_writes):
        key = cache.key(tag, "new entry", k)
        start = time.perf_counter()
        cache.put(key, image)
        times.append(time.perf_counter() - start)
    return {
        "first": times[0],
        "median": statistics.median(times[1:]) if n_writes > 1 else times[0],
        "total": sum(times),
        "within_limit": probe.nbytes <= limit,
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    root = "/dev/shm" if os.path.isdir("/dev/shm") else None
    directory = Path(tempfile.mkdtemp(prefix="bench-cache-", dir=root))
    try:
        filler = current.ImageCache(directory)
        image = np.zeros((2, 2, 1), dtype=np.float32)
        start = time.perf_counter()
        for k in range(args.entries):
            filler.put(filler.key("fill", "entry", k), image)
        print(f"filled {args.entries} entries of {filler.nbytes // args.entries} bytes in "
              f"{directory} ({time.perf_counter() - start:.1f} s)")
        arms = {"after (index)": (current, args.writes)}
        if args.before:
            arms = {"before (rescan)": (_load(args.before), args.writes_before), **arms}
        print(f"\n{'implementation':<18} {'writes':>6} {'first write':>12} "
              f"{'median write':>13} {'writes/s':>10} {'within limit':>12}")
        results = {}
        for name, (module, n_writes) in arms.items():
            r = _time_writes(module, directory, n_writes, name)
            results[name] = r
            print(f"{name:<18} {n_writes:>6} {r['first'] * 1e3:>10.2f}ms "
                  f"{r['median'] * 1e6:>11.1f}us {1 / r['median']:>10.0f} "
                  f"{str(r['within_limit']):>12}")
        if len(results) == 2:
            before, after = results["before (rescan)"], results["after (index)"]
            print(f"\nmedian write at the limit: {before['median'] / after['median']:.0f}x faster "
                  f"({before['median'] * 1e3:.1f} ms -> {after['median'] * 1e6:.1f} us)")
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
