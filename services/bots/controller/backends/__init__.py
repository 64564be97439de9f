"""Compute backends that run a bot: a local process, a Kubernetes Job, an OpenStack server."""
