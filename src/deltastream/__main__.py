"""``python -m deltastream``: the command-line interface."""

from .cli import main

# Guarded: the engine process is started with "spawn", which imports this module again.
if __name__ == "__main__":
    main()
