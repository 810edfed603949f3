"""Projections: read models built from the applications' notification logs."""
