"""Benchmarks of ESA on its embedded stack: `python -m bench.run` (see bench/RESULTS.md)."""
