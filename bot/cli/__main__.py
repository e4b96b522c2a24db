"""`python -m bot.cli`: the `ratchet` command."""

from bot.cli import app

app()
