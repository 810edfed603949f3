"""Tiffin's benchmarks: write path and replay against the PostgreSQL on this machine."""
