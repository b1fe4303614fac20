"""Benchmarks of the exporter against the fake Workspace API (not tests): ``python -m benchmarks.run``."""
