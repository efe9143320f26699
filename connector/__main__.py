"""`python -m connector` runs the CLI."""

from connector.cli.entry import main

main()
