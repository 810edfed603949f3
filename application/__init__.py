"""Tiffin's applications: one eventsourcing Application per bounded context."""
