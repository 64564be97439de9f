"""The egress policy inside the bot's browser: every navigation, subresource and WebSocket of
every page goes through it (Playwright request interception), so a meeting page cannot make the
bot reach this machine, the cluster or cloud metadata. WebRTC media (ICE) is not HTTP and cannot
be intercepted here; the bot pod's NetworkPolicy (infra/kubernetes) bounds it."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from playwright.sync_api import BrowserContext, Route, WebSocketRoute

from services.egress import EgressPolicy, EgressRefused

log = logging.getLogger(__name__)

_WS_AS_HTTP = {"ws": "http", "wss": "https"}


class EgressGuard:
    def __init__(self, policy: EgressPolicy) -> None:
        self.policy = policy
        # Verdict per (scheme, host, port): one lookup per origin, not one per request.
        self._verdicts: dict[tuple[str, str, int], bool] = {}
        self.blocked: list[str] = []

    def allows(self, url: str) -> bool:
        parts = urlsplit(url)
        scheme = _WS_AS_HTTP.get(parts.scheme.lower(), parts.scheme.lower())
        url = parts._replace(scheme=scheme).geturl()
        try:
            _, host, port = self.policy.check_syntax(url)
        except EgressRefused as refused:
            self._refused(parts.hostname or "", refused)
            return False
        key = (scheme, host, port)
        if key not in self._verdicts:
            try:
                self.policy.check(url)
                self._verdicts[key] = True
            except EgressRefused as refused:
                self._refused(host, refused)
                self._verdicts[key] = False
        return self._verdicts[key]

    def _refused(self, host: str, refused: EgressRefused) -> None:
        self.blocked.append(host)
        # The host and a code only: the page's URLs may carry tokens.
        log.warning("egress refused for %s: %s", host, refused.reason.value)

    def on_request(self, route: Route) -> None:
        if self.allows(route.request.url):
            route.continue_()
        else:
            route.abort("blockedbyclient")

    def on_websocket(self, ws: WebSocketRoute) -> None:
        if self.allows(ws.url):
            ws.connect_to_server()
        else:
            ws.close(code=1008, reason="refused by the egress policy")

    def install(self, context: BrowserContext) -> None:
        context.route("**/*", self.on_request)
        context.route_web_socket("**/*", self.on_websocket)
