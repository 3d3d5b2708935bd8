"""Benchmarks of the pipeline and the sandboxes at scale (`make bench`, bench_sandbox.py, bench_extract.py)."""
