"""Command-line entry point (typer); thin layer over the library functions."""

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False)


def main() -> None:
    """Console-script entry point."""
    app()
