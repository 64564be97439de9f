"""`minuta worker`: takes jobs from the broker, runs the pipeline, publishes progress and results.

`Worker` (runner.py) is the part `minuta serve` embeds next to the API; cli.py wraps it in a
process with signal handling, Sentry and the health/metrics endpoint.
"""
