"""Benchmarks, run as modules (`python -m bench.engine`); not part of the installed package."""
