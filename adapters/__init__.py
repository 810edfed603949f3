"""Adapters: the ports' implementations over real infrastructure."""
