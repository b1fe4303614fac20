"""Serving: the HTTP endpoints (/metrics, probes, reload), gzip, TLS and basic auth."""
