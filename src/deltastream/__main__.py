"""``python -m deltastream``: the command-line interface."""

from .cli import main

main()
