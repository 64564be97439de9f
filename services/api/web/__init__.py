"""The web UI: static pages (plain ES modules, no build step) served by the API itself."""

from services.api.web.router import install_web

__all__ = ["install_web"]
