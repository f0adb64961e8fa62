"""Benchmarks, run by hand (python -m bench.<name>); results in bench/RESULTS.md."""
