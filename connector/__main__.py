"""`python -m connector` runs the CLI."""

from connector.cli.app import main

main()
