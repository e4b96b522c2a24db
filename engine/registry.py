"""The adapter registry: versions, aliases, promotion, rollback, canary routing.

Versions are immutable directories under ``<data_dir>/adapters/ratchet-vN``, loaded into vLLM under
their version id (never in place). Aliases ``production`` and ``canary`` point at versions; ``base``
(or an unset alias) means the base model. Promotion loads the version first, verifies it answers, then
flips the alias in one transaction; rollback flips back to the previous version, which is kept loaded.
vLLM never holds more adapters than ``--max-loras``: anything no alias needs is unloaded first.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from engine.adapter_files import AdapterError, inspect_adapter
from engine.db import session_factory
from engine.errors import RegistryError
from engine.llm_client import LLMClient
from engine.logs import get_logger
from engine.metrics import ADAPTER_IN_USE
from engine.replicas import ReplicaLoader
from engine.registry_models import (
    CANARY,
    CANDIDATE,
    PRODUCTION,
    RETIRED,
    AdapterVersion,
    Alias,
    AliasChange,
    AuditEntry,
    utcnow,
)
from engine.settings import Settings

log = get_logger(__name__)

BASE = "base"
ALIASES = (PRODUCTION, CANARY)


@dataclass(frozen=True)
class Route:
    """Which model serves a conversation."""

    alias: str
    version_id: str | None  # None = base model
    model: str  # the name to send to vLLM


class AdapterRegistry:
    """Durable adapter versions and aliases (the database); which replica holds what is the
    :class:`engine.replicas.ReplicaLoader`'s job."""

    def __init__(self, settings: Settings, sessions: sessionmaker | None = None) -> None:
        self.settings = settings
        self.sessions = sessions or session_factory(settings.db_url)
        self.replicas = ReplicaLoader(settings, self._keep)

    # --- reading -------------------------------------------------------------------------------------
    def versions(self) -> list[AdapterVersion]:
        with self.sessions() as s:
            return list(s.scalars(select(AdapterVersion).order_by(AdapterVersion.seq)))

    def get(self, version_id: str) -> AdapterVersion:
        with self.sessions() as s:
            version = s.get(AdapterVersion, version_id)
        if version is None:
            raise RegistryError(f"unknown adapter version {version_id!r}")
        return version

    def aliases(self) -> dict[str, tuple[str | None, float]]:
        """alias -> (version id or None for base, percent)."""
        with self.sessions() as s:
            rows = {a.name: (a.version_id, a.percent) for a in s.scalars(select(Alias))}
        return {name: rows.get(name, (None, 100.0 if name == PRODUCTION else 0.0)) for name in ALIASES}

    def resolve(self, name: str) -> str | None:
        """A version id for an alias or version name; None for the base model."""
        if name == BASE:
            return None
        if name in ALIASES:
            return self.aliases()[name][0]
        return self.get(name).id

    def model_name(self, version_id: str | None) -> str:
        """The vLLM model name for a version (the base model's name for None)."""
        return version_id or self.settings.base_model_name

    def route(self, conversation_key: str, override: str | None = None) -> Route:
        """Pick production or canary for a conversation, sticky by its key (e.g. the Slack thread)."""
        if override:
            vid = self.resolve(override)
            return Route(alias=override, version_id=vid, model=self.model_name(vid))
        aliases = self.aliases()
        canary_vid, percent = aliases[CANARY]
        if canary_vid is not None and percent > 0:
            bucket = int(hashlib.sha256(conversation_key.encode()).hexdigest()[:8], 16) % 10000
            if bucket < percent * 100:
                return Route(alias=CANARY, version_id=canary_vid, model=self.model_name(canary_vid))
        prod_vid = aliases[PRODUCTION][0]
        return Route(alias=PRODUCTION, version_id=prod_vid, model=self.model_name(prod_vid))

    # --- registering ---------------------------------------------------------------------------------
    def register(
        self,
        path: Path,
        *,
        parent_version: str | None = None,
        dataset_snapshot_id: str | None = None,
        hyperparameters: dict[str, Any] | None = None,
        metrics: dict[str, Any] | None = None,
        notes: str | None = None,
        move: bool = False,
    ) -> AdapterVersion:
        """Validate an adapter directory and add it as the next version (status ``candidate``).

        The directory is staged next to the adapters and moved into place only once the version's row is
        committed: a failed commit leaves nothing behind (a moved source is given back).
        """
        info = inspect_adapter(
            Path(path), base_model_dir=self.settings.model_dir, max_rank=self.settings.engine.max_lora_rank
        )
        self.settings.adapters_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".incoming-", dir=self.settings.adapters_dir))
        staged = staging / "adapter"
        try:
            if move:
                shutil.move(str(info.path), staged)
            else:
                shutil.copytree(info.path, staged)
            try:
                with self.sessions.begin() as s:
                    seq = (s.scalar(select(func.max(AdapterVersion.seq))) or 0) + 1
                    version_id = f"ratchet-v{seq}"
                    dest = self.settings.adapters_dir / version_id
                    version = AdapterVersion(
                        id=version_id, seq=seq, path=str(dest),
                        base_model=info.base_model or str(self.settings.model_dir), rank=info.rank,
                        status=CANDIDATE, parent_version=parent_version, dataset_snapshot_id=dataset_snapshot_id,
                        hyperparameters=hyperparameters or {}, metrics=metrics or {}, notes=notes,
                        created_at=utcnow(),
                    )
                    s.add(version)
                    s.flush()  # the id is ours now (a concurrent registration of it fails here)
                    _set_orphan_aside(dest)
            except BaseException:
                if move:
                    shutil.move(str(staged), info.path)
                raise
            _place_after_commit(staged, dest, version_id, self.sessions)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        log.info("adapter.registered", version=version_id, path=str(dest))
        return version

    def set_gate_report(self, version_id: str, report: dict[str, Any]) -> None:
        with self.sessions.begin() as s:
            version = s.get(AdapterVersion, version_id)
            if version is None:
                raise RegistryError(f"unknown adapter version {version_id!r}")
            version.gate_report = report

    def audit(self, actor: str, action: str, target: str | None = None, *, allowed: bool = True,
              **detail: Any) -> None:
        """Append to the admin audit log."""
        with self.sessions.begin() as s:
            s.add(AuditEntry(actor=actor, action=action, target=target, allowed=int(allowed),
                             detail=detail, at=utcnow()))

    def audit_log(self, limit: int = 50) -> list[AuditEntry]:
        with self.sessions() as s:
            return list(s.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)))

    # --- serving (delegated to the replica loader) ---------------------------------------------------
    def _keep(self) -> tuple[set[str], str | None]:
        """What the replicas must hold: alias targets (+ the base stand-in), and the rollback target."""
        pinned = {vid for vid, _ in self.aliases().values() if vid}
        if self.settings.engine.base_adapter:
            pinned.add(self.settings.base_model_name)
        return pinned, self._previous(PRODUCTION)

    async def sync(self, client: LLMClient) -> list[str]:
        """Make vLLM hold what the aliases need (after an engine restart). Returns the loaded names."""
        pinned, rollback = self._keep()
        wanted = pinned | ({rollback} - {None})
        return await self.replicas.sync(client, {vid: self.get(vid) for vid in wanted
                                                 if vid != self.settings.base_model_name})

    def _flip(self, s: Session, alias: str, to_version: str | None, actor: str, action: str,
              percent: float | None = None) -> str | None:
        row = s.get(Alias, alias)
        if row is None:
            row = Alias(name=alias, version_id=None, percent=100.0 if alias == PRODUCTION else 0.0)
            s.add(row)
        previous = row.version_id
        row.version_id = to_version
        row.updated_at = utcnow()
        if percent is not None:
            row.percent = percent
        s.add(AliasChange(alias=alias, from_version=previous, to_version=to_version, action=action,
                          actor=actor, at=utcnow()))
        return previous

    def rollback_target(self, alias: str) -> tuple[bool, str | None]:
        """(found, version) the alias would roll back to: history is a stack, rollbacks pop it."""
        with self.sessions() as s:
            rows = list(s.scalars(
                select(AliasChange).where(AliasChange.alias == alias).order_by(AliasChange.id.desc())
            ))
        return walk_back(rows)

    def _previous(self, alias: str) -> str | None:
        return self.rollback_target(alias)[1]

    def _set_statuses(self, s: Session) -> None:
        aliased = {a.name: a.version_id for a in s.scalars(select(Alias))}
        ADAPTER_IN_USE.clear()
        for name in ALIASES:
            ADAPTER_IN_USE.labels(alias=name, version=aliased.get(name) or BASE).set(1)
        for version in s.scalars(select(AdapterVersion)):
            if version.id == aliased.get(PRODUCTION):
                version.status = PRODUCTION
            elif version.id == aliased.get(CANARY):
                version.status = CANARY
            elif version.status in (PRODUCTION, CANARY):
                version.status = RETIRED

    async def promote(self, version_id: str, client: LLMClient, *, actor: str = "cli",
                      alias: str = PRODUCTION, percent: float | None = None) -> str | None:
        """Load ``version_id`` (or ``base``), verify it answers, then point ``alias`` at it.

        Returns the version the alias pointed at before. On any failure the alias is unchanged.
        """
        if alias not in ALIASES:
            raise RegistryError(f"unknown alias {alias!r} (use one of {', '.join(ALIASES)})")
        target: str | None = None
        if version_id != BASE:
            version = self.get(version_id)
            try:
                inspect_adapter(Path(version.path), base_model_dir=self.settings.model_dir,
                                max_rank=self.settings.engine.max_lora_rank)
            except AdapterError as exc:
                raise RegistryError(f"{version_id} cannot be served: {exc}") from exc
            await self.replicas.load_everywhere(client, version)
            target = version_id
        with self.sessions.begin() as s:
            previous = self._flip(s, alias, target, actor, "promote" if alias == PRODUCTION else "canary",
                                  percent)
            if alias == CANARY and target is None:
                s.get(Alias, CANARY).percent = 0.0
            self._set_statuses(s)
        self.audit(actor, f"{alias}.set", version_id, previous=previous, percent=percent)
        log.info("alias.flipped", alias=alias, to=version_id, previous=previous, actor=actor)
        return previous

    async def set_canary(self, version_id: str, percent: float, client: LLMClient, *,
                         actor: str = "cli") -> None:
        """Send ``percent`` of conversations to ``version_id`` (0 or ``base`` turns the canary off)."""
        if not 0 <= percent <= 100:
            raise RegistryError(f"canary percent must be between 0 and 100, got {percent}")
        await self.promote(version_id, client, actor=actor, alias=CANARY, percent=percent)

    async def rollback(self, client: LLMClient, *, actor: str = "cli", alias: str = PRODUCTION) -> str | None:
        """Point ``alias`` back at the version it had before the latest promotion."""
        current = self.aliases()[alias][0]
        found, previous = self.rollback_target(alias)
        if not found:
            raise RegistryError(f"nothing to roll back: {alias} has no earlier version")
        if previous is not None:
            await self.replicas.load_everywhere(client, self.get(previous), verify=False)
        with self.sessions.begin() as s:
            self._flip(s, alias, previous, actor, "rollback")
            self._set_statuses(s)
        self.audit(actor, f"{alias}.rollback", previous or BASE, previous=current)
        log.info("alias.rolled_back", alias=alias, to=previous or BASE, previous=current, actor=actor)
        return previous

def walk_back(changes_newest_first) -> tuple[bool, str | None]:
    """(found, version) a rollback goes to, given promotion/rollback rows newest first (``action``,
    ``from_version``): the history is a stack, each rollback pops one promotion."""
    popped = 0
    for row in changes_newest_first:
        if row.action == "rollback":
            popped += 1
        elif popped:
            popped -= 1
        else:
            return True, row.from_version
    return False, None


def _set_orphan_aside(dest: Path) -> None:
    """A directory where a new version goes, without a row, is an orphan (e.g. a crash before a commit):
    keep it aside for inspection instead of blocking every later registration."""
    if dest.exists():
        aside = dest.with_name(f".orphan-{dest.name}-{uuid.uuid4().hex[:8]}")
        dest.rename(aside)
        log.warning("adapter.orphan_set_aside", path=str(dest), moved_to=str(aside))


def _place_after_commit(staged: Path, dest: Path, version_id: str, sessions: sessionmaker) -> None:
    """Move a staged adapter into place (atomic rename); if that fails, the committed row goes again."""
    try:
        staged.rename(dest)
    except OSError as exc:
        with sessions.begin() as s:
            s.execute(delete(AdapterVersion).where(AdapterVersion.id == version_id))
        raise RegistryError(f"cannot move the adapter into {dest}: {exc}; {version_id} was not registered") from exc
