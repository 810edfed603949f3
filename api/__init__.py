"""The edge: the HTTP API and the `tiffin` command line."""
