"""Ratchet's front ends: the Slack app, `ratchet chat` / `ratchet ask`, and the answer pipeline they share.

What the rest of Ratchet may use (import from the modules named; this package imports nothing itself,
because ``engine.settings`` imports ``bot.settings_section``):

- ``bot.pipeline.Pipeline`` and ``bot.answers.Question`` / ``Answer`` / ``PipelineEvent`` — the answer pipeline;
- ``bot.admin_actions.AdminActions`` — status / adapters / promote / rollback / canary with audit (Slack and admin page);
- ``bot.slack.app.RatchetSlackApp`` — the bolt app (`ratchet bot`).
"""
