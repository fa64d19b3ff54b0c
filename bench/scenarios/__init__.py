"""Benchmark scenarios: one module each, discovered by bench/run.py.

Each module exposes `run(ctx: bench.lib.Context) -> list[bench.lib.Result]`, and
optionally GROWS = True (repeated at every scale by SCALE=all) and PRIORITY (int).
"""

from __future__ import annotations
