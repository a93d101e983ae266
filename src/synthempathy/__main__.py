"""`python -m synthempathy` is the `synthempathy` command."""

from synthempathy.cli import main

main()
