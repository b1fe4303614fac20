"""Data sources: each fetches one kind of upstream data and keeps an immutable snapshot.

Sources know the client (through a small Protocol) and their config section; they
know nothing about HTTP serving or Prometheus. The collector reads their snapshots.
"""
