"""The meeting controller: schedules meeting bots, runs them on a compute backend, reaps orphans.

It runs inside the API process (a background task, like the outbox relay); all its state is in
the API's database, so a restarted API re-attaches to running bots or reaps the dead ones.
"""
