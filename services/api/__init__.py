"""The REST backend: the only holder of the user database and the recordings."""
