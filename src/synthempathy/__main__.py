"""`python -m synthempathy` is the `synthempathy` command."""

from .cli import main

main()
