"""The typed settings object: defaults, env, YAML, precedence, bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from engine.settings import Settings


def test_defaults_put_everything_under_the_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    s = Settings()
    assert s.data_dir == (tmp_path / ".ratchet").resolve()
    assert s.model_dir == s.data_dir / "models" / "smollm2-135m-instruct"
    assert s.db_url == f"sqlite:///{s.data_dir / 'ratchet.db'}"
    assert s.engine.base_url == "http://127.0.0.1:8000"


def test_env_overrides_yaml_which_overrides_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "ratchet.yaml"
    cfg.write_text("engine:\n  port: 9001\n  max_loras: 3\nrag:\n  alpha: 0.7\n")
    monkeypatch.setenv("RATCHET_CONFIG", str(cfg))
    monkeypatch.setenv("RATCHET_ENGINE__PORT", "9002")
    s = Settings()
    assert s.engine.port == 9002  # env wins
    assert s.engine.max_loras == 3  # from YAML
    assert s.rag.alpha == 0.7
    assert s.engine.vllm_url is None


def test_attached_vllm_url_is_used_as_base(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RATCHET_ENGINE__VLLM_URL", "http://10.0.0.5:8000/")
    assert Settings().engine.base_url == "http://10.0.0.5:8000"


def test_missing_config_file_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RATCHET_CONFIG", str(tmp_path / "nope.yaml"))
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        Settings()


def test_invalid_values_are_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RATCHET_ENGINE__CANARY_PERCENT", "150")
    with pytest.raises(ValidationError, match="canary_percent"):
        Settings()
