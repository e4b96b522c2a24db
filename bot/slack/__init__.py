"""The Slack app: a short chain of small steps.

``app`` wires bolt: request verification (bolt's) → ``dedupe.DedupeEvents`` middleware → one listener per
event type → ``responder`` (pipeline events into one streamed Slack message), ``votes`` (reactions and
buttons), ``admin_commands`` (``/ratchet``). ``context`` decides permissions and thread history;
``blocks`` renders messages.
"""

from bot.slack.app import RatchetSlackApp

__all__ = ["RatchetSlackApp"]
