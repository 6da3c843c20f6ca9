"""The command line: the Typer app, the error boundary and how the process starts and ends."""
