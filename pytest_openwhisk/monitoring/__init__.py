"""Prometheus for benchmark windows: a local server (:mod:`.prometheus`), window queries (:mod:`.collect`)."""
