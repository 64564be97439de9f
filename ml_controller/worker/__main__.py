"""`python -m ml_controller.worker`: the same as `minuta worker`."""

from ml_controller.worker.cli import app

app()
