"""Database models, sessions and migrations of the API."""
