"""Tiffin's domain model: aggregates, value objects and domain errors (no I/O)."""
