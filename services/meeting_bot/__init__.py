"""The meeting bot: joins a call in headless Chromium, records its audio, hands it to the API.

`python -m services.meeting_bot --spec-file spec.json` runs one bot (a `BotSpec`, see
`services/bots/contracts.py`); it talks to the API only over HTTP.
"""
