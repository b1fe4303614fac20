"""Exposition: the metric catalogue, families built from source snapshots, self-metrics and the render
cache.
"""
