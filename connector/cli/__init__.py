"""The `mqlsync` command line: a thin typer layer over the pipeline (see `app`)."""
