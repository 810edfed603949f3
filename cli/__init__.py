"""The ``tiffin`` command line: one module per command group, and the HTTP/3 client ``tiffin
call`` uses. Commands parse arguments and print; what they run is built by ``wiring``."""
