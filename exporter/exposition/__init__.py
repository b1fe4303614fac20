"""Exposition: the metric catalogue, each source's families (pure ``families(snapshot)``
builders, and the per-desktop families as incrementally formatted lines), our encoder,
self-metrics and the render cache that serves every request.
"""
