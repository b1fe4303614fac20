"""Exposition: the metric catalogue, one module of pure family builders per source
(desktops, connections, events), the data collector, self-metrics and the render cache.
"""
