"""Ratchet's front ends and the answer pipeline they share.

- ``bot.pipeline.Pipeline`` with ``bot.answers.Question`` / ``Answer`` / ``PipelineEvent`` — the answer pipeline,
  over the services in ``bot.components.Components``;
- ``bot.slack`` — the slack-bolt app (verify → dedupe → route → answer / votes / admin commands);
- ``bot.cli`` — the ``ratchet`` command line, one module per command group;
- ``bot.admin_web`` — the admin page; ``bot.admin_actions.AdminActions`` — the admin operations that Slack and
  the page share (status, adapters, promote, rollback, canary, with audit);
- ``bot.testing`` — a local stand-in for the Slack Web API (tests and ``ratchet bench pipeline``).
"""
