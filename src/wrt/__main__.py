"""``python -m wrt`` runs the command line."""

from wrt.cli.app import main

main()
