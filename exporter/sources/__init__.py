"""Data sources: each fetches one kind of upstream data and keeps an immutable snapshot.

Every source implements :class:`exporter.sources.base.Source`. Sources know the
client (through a small Protocol) and the config; they know nothing of HTTP
serving, the scheduler or Prometheus: :mod:`exporter.exposition` renders their
snapshots.
"""
