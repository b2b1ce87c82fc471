"""Configuration loading: in-cluster service account files, rotation, search order."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kuberay_py.kube import load_configuration


def service_account(tmp_path: Path, token: str = "tok-1") -> tuple[Path, Path]:
    sa = tmp_path / "sa"
    sa.mkdir()
    (sa / "token").write_text(token + "\n")
    (sa / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\nnot checked here\n")
    (sa / "namespace").write_text("ray-system")
    return sa / "token", sa / "ca.crt"


async def test_in_cluster_reads_files_and_rereads_rotated_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token, ca = service_account(tmp_path)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "6443")
    monkeypatch.delenv("KUBECONFIG", raising=False)
    loaded = await load_configuration(token_file=str(token), cert_file=str(ca))
    assert loaded.configuration.host == "https://127.0.0.1:6443"
    assert loaded.namespace == "ray-system"
    assert await loaded.credentials.headers() == {"Authorization": "Bearer tok-1"}
    token.write_text("tok-2")
    # Not yet due (re-read at most once a minute)...
    assert await loaded.credentials.headers() == {"Authorization": "Bearer tok-1"}
    # ...but at once when a 401 forces it.
    await loaded.credentials.refresh(force=True)
    assert await loaded.credentials.headers() == {"Authorization": "Bearer tok-2"}
    assert loaded.credentials.rotates


async def test_kubeconfig_env_wins_over_in_cluster(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": "http://127.0.0.1:1234"}}],
        "users": [{"name": "u", "user": {"token": "static"}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "x",
    }
    path = tmp_path / "kubeconfig"
    path.write_text(json.dumps(cfg))
    monkeypatch.setenv("KUBECONFIG", str(path))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "6443")
    loaded = await load_configuration()
    assert loaded.configuration.host == "http://127.0.0.1:1234"
    assert loaded.namespace == "default"
    assert await loaded.credentials.headers() == {"Authorization": "Bearer static"}
    assert not loaded.credentials.rotates
