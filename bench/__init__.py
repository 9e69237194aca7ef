"""Benchmarks: ``make bench`` runs wrk against the four services started as processes."""
