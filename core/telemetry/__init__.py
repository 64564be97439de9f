"""Error reporting (Sentry) shared by the API and the ML controller."""
