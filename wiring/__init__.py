"""The composition root: the one place that chooses adapters and wires them into the
applications, the workers and the HTTP API, from the settings."""
