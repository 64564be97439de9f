"""Meeting bots on the server side: the protocol (`contracts`) and the platform list
(`platforms`), which the bot process (services/meeting_bot) imports too and so stay free of the
API; and the API's part (`routes`, `schemas`, `store`, `calendar_import`, `controller/`).

The `Bot` table stays in services/api/db/models.py with the others: Alembic's metadata is that
module's `Base`, and moving the model here would make the API's models import this package
while this package imports them (the API's quotas count bots there too).
"""
