"""The ``wrt`` command line: one module per command, wired in :mod:`wrt.cli.app`."""
