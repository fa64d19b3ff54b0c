"""Benchmarks and their harness (not part of `make test`); see BENCHMARKS.md."""

from __future__ import annotations
