"""Every sentence Ratchet says to a user on its own behalf (not the model's words), in one place."""

from __future__ import annotations

HELP = (
    "Hi! Ask me a question about our documents, e.g. `@Ratchet how do I request VPN access?` "
    "I answer in the thread and cite my sources; react with :+1: or :-1: to tell me how I did."
)
TOO_LONG = (
    "Your message is {length} characters long; I can take at most {limit}. "
    "Please shorten it or ask about one thing at a time."
)
TOO_MANY_TOKENS = (
    "Your message is too long for the model: {tokens} tokens, and I can take at most {limit}. "
    "Please shorten it or ask about one thing at a time."
)
NO_EVIDENCE = "I could not find enough in the documents to answer that. The closest sources I found are below."
NO_SOURCES = "I could not find anything in the documents you can access about that."
SERVICE_DOWN = {
    "model": "Sorry, the language model is not answering right now ({detail}). Please try again in a minute.",
    "search": "Sorry, the document search is not answering right now ({detail}). Please try again in a minute.",
    "guardrails": "Sorry, the safety checks are not answering right now ({detail}). Please try again in a minute.",
}
EXTRACTIVE_INTRO = "I couldn't write an answer I can back up, so here is what the documents say:"
UNSUPPORTED_LABEL = "_Not found in the documents (unverified, written by the model):_"
INTERNAL_ERROR = "Sorry, something went wrong on my side while answering. Please try again; it has been logged."
REFUSED_DEFAULT = "I can't help with that request."
NOT_ADMIN = "Sorry, only Ratchet admins can use `/ratchet {command}`. The attempt has been logged."
ADMIN_USAGE = (
    "Usage: `/ratchet status` · `/ratchet adapters` · `/ratchet promote <version> [force]` · "
    "`/ratchet rollback` · `/ratchet canary <version> <percent>`"
)
VOTE_THANKS = "Thanks, your vote was recorded."
SIGN_IN_LOCKED = "Too many failed sign-ins from here: try again in {minutes} minutes."
VOTE_NOT_FOUND = "That answer is no longer in my records, so the vote was not recorded."


def service_down(service: str, detail: str) -> str:
    """The message for a failed service (``model``, ``search`` or ``guardrails``)."""
    return SERVICE_DOWN[service].format(detail=detail)
