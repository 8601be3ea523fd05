"""Benchmark harness: `python -m bench run [--quick]` (see bench/README in RESULTS.md)."""
