"""Adapter registration: the directory goes into place only after the database commit succeeded."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from engine.adapter_factory import make_random_adapter
from engine.registry import AdapterRegistry


@pytest.fixture(scope="module")
def adapter(model_dir, tmp_path_factory) -> Path:
    return make_random_adapter(model_dir, tmp_path_factory.mktemp("adapter") / "a", rank=8, seed=3)


def _placed(settings) -> list[str]:
    return sorted(p.name for p in settings.adapters_dir.iterdir() if p.name.startswith("ratchet-v"))


def test_a_failed_commit_leaves_no_directory_behind(db_settings, model_dir, adapter) -> None:
    settings = db_settings(engine={"model_dir": str(model_dir)})
    registry = AdapterRegistry(settings)
    with pytest.raises(Exception, match="not JSON serializable"):  # the row cannot be written
        registry.register(adapter, metrics={"finished": datetime(2026, 1, 1)})
    assert registry.versions() == [] and _placed(settings) == []
    assert [p.name for p in settings.adapters_dir.iterdir()] == [], "no staging leftovers either"
    version = registry.register(adapter)  # the next registration is not blocked
    assert version.id == "ratchet-v1" and _placed(settings) == ["ratchet-v1"]
    assert (Path(version.path) / "adapter_config.json").is_file()


def test_a_failed_commit_gives_a_moved_adapter_back(db_settings, model_dir, adapter, tmp_path) -> None:
    import shutil

    settings = db_settings(engine={"model_dir": str(model_dir)})
    mine = Path(shutil.copytree(adapter, tmp_path / "mine"))
    with pytest.raises(Exception, match="not JSON serializable"):
        AdapterRegistry(settings).register(mine, metrics={"finished": datetime(2026, 1, 1)}, move=True)
    assert (mine / "adapter_config.json").is_file(), "the trained adapter is not lost"
    version = AdapterRegistry(settings).register(mine, move=True)
    assert not mine.exists() and (Path(version.path) / "adapter_config.json").is_file()


def test_an_orphan_directory_does_not_block_registration(db_settings, model_dir, adapter) -> None:
    settings = db_settings(engine={"model_dir": str(model_dir)})
    orphan = settings.adapters_dir / "ratchet-v1"  # left by a crash of an older version between move and commit
    orphan.mkdir(parents=True)
    (orphan / "half-written").write_text("x")
    version = AdapterRegistry(settings).register(adapter)
    assert version.id == "ratchet-v1" and (orphan / "adapter_config.json").is_file()
    kept = [p for p in settings.adapters_dir.iterdir() if p.name.startswith(".orphan-ratchet-v1")]
    assert len(kept) == 1 and (kept[0] / "half-written").is_file(), "the orphan is kept aside, not deleted"
