"""Broker plumbing both sides use: topology, confirmed publishing, consuming, RPC.

It defines no messages (those are in core.contracts) and holds no state of its own.
"""
