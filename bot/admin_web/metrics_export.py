"""The Prometheus exposition: every metric of ``engine.metrics``, with the adapter gauge refreshed."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from engine.metrics import ADAPTER_IN_USE
from engine.registry import AdapterRegistry


def refresh_adapter_gauge(registry: AdapterRegistry) -> None:
    """Set ``ratchet_adapter_in_use`` to 1 for what each alias points at now (``base`` = no adapter)."""
    ADAPTER_IN_USE.clear()
    for alias, (version_id, _percent) in registry.aliases().items():
        ADAPTER_IN_USE.labels(alias=alias, version=version_id or "base").set(1)


def render_metrics(registry: AdapterRegistry) -> tuple[bytes, str]:
    """The metrics text and its content type."""
    refresh_adapter_gauge(registry)
    return generate_latest(), CONTENT_TYPE_LATEST
