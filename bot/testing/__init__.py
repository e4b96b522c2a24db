"""Test support that ships with Ratchet (like ``slack_bolt``'s mock servers): a local Slack Web API stand-in.

Nothing in the product imports this package; tests and ``ratchet bench pipeline`` do.
"""
