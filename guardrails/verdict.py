"""What a rail decides: :class:`RailVerdict`, streamed :class:`OutputEvent`, and refusal messages."""

from __future__ import annotations

from dataclasses import dataclass, field

# Friendly refusal per rail family: what kind of request was refused, never a trace or raw JSON.
REFUSAL_MESSAGES: dict[str, str] = {
    "input.too_long": (
        "Your question is too long for me to handle ({length:,} characters; the limit is {limit:,}). "
        "Please shorten it or split it into smaller questions."
    ),
    "input.jailbreak_patterns": (
        "I can't help with that: it looks like an attempt to change my instructions or get around my rules. "
        "Ask me a question about the company's documents instead."
    ),
    "input.semantic_detector": (
        "I can't help with that: it looks like an attempt to change my instructions or extract "
        "confidential information. Ask me a question about the company's documents instead."
    ),
    "input.self_check": (
        "I can't help with that request: my safety check flagged it as trying to get around my rules."
    ),
    "input.empty": "Your message is empty. Ask me a question about the company's documents.",
    "output.self_check": (
        "I wrote an answer but my safety check stopped it before it could be shown. "
        "Try rephrasing your question."
    ),
    "output.self_check_unavailable": (
        "I wrote an answer but my safety check is not available right now, so I won't show it. "
        "Please try again in a few minutes."
    ),
    "output.fact_check": (
        "I couldn't back my answer with the documents I found, so I won't state it as fact. "
        "Try asking more specifically or check the sources directly."
    ),
    "output.error": "Something went wrong while checking my answer, so I stopped it. Please try again.",
}


def refusal_message(rail: str, **details: object) -> str:
    """The user-facing message for a refusal by ``rail`` (a generic one for unknown rails)."""
    template = REFUSAL_MESSAGES.get(rail, "I can't help with that request.")
    try:
        return template.format(**details)
    except (KeyError, IndexError):
        return template.split("(")[0].strip()


@dataclass
class RailVerdict:
    """The outcome of a rail stage.

    ``text`` is what to use downstream (masked / neutralised); ``rail`` names the rail that refused or
    modified the text; ``message`` is the friendly refusal shown to the user when ``allowed`` is False.
    """

    allowed: bool
    text: str
    rail: str | None = None
    message: str | None = None
    flags: list[str] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)

    @classmethod
    def refuse(cls, rail: str, text: str, timings_ms: dict[str, float], flags: list[str] | None = None,
               **details: object) -> "RailVerdict":
        """A refusal by ``rail`` with its friendly message."""
        return cls(False, text, rail, refusal_message(rail, **details), list(flags or []), timings_ms)


@dataclass
class OutputEvent:
    """A checked piece of a streamed answer.

    A released sentence has ``text`` and ``source`` (index of the retrieved chunk that supports it; None
    when grounding is off). ``blocked`` events carry the refusal verdict; the final event (``verdict`` set,
    not blocked) carries the whole released answer with its flags, the unsupported sentences that may be
    shown as marked (``unsupported``), how many were held back and how many sentences carried a claim.
    """

    text: str
    blocked: bool = False
    verdict: RailVerdict | None = None
    source: int | None = None
    unsupported: list[str] = field(default_factory=list)
    held_back: int = 0
    claims: int = 0
