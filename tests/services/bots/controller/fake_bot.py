"""A stand-in for `python -m services.meeting_bot` (the real bot is built separately): it speaks
the bot protocol over HTTP exactly as a bot must, and its behaviour is chosen by the meeting
URL's path:

- /record?clip=<path>  joining → recording → uploading, uploads the clip with a timeline, exits
- /hang                joining → recording, then heartbeats until told to leave
- /silent              never calls the API (a runner that hangs before its first heartbeat)
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--spec-file", required=True)
    spec = json.loads(Path(parser.parse_args().spec_file).read_text())
    url = urlsplit(spec["meeting_url"])
    if url.path == "/silent":
        time.sleep(3600)
        return
    api = httpx.Client(
        base_url=f"{spec['api_url']}/v1/bots/{spec['bot_id']}",
        headers={"Authorization": f"Bot {spec['bot_token']}"},
        timeout=60,
    )

    def event(state: str) -> None:
        answer = api.post("/events", json={"state": state})
        answer.raise_for_status()

    event("joining")
    event("recording")
    if url.path == "/hang":
        while not api.post("/heartbeat").json()["leave"]:
            time.sleep(spec["heartbeat_seconds"])
        event("uploading")
        return
    api.post("/heartbeat").raise_for_status()
    event("uploading")
    clip = Path(parse_qs(url.query)["clip"][0])
    timeline = {
        "participants": ["Alice", "Bob"],
        "speaking": [{"name": "Alice", "start": 0.0, "end": 4.0}],
    }
    with clip.open("rb") as audio:
        answer = api.post(
            "/recording",
            files={"file": (clip.name, audio, "application/octet-stream")},
            data={"timeline": json.dumps(timeline)},
        )
    answer.raise_for_status()


if __name__ == "__main__":
    main()
