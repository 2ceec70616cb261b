"""Helpers shared by tests and benchmarks (tiny local models, no network)."""
