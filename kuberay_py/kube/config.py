"""Where the client's connection settings and credentials come from.

We reuse kubernetes-asyncio's loaders (kubeconfig, in-cluster service account, exec
plugins) and add what a long-running controller needs on top: credentials that
rotate. A projected service-account token is replaced on disk about every hour, an
exec plugin's token expires; client-go re-reads both, so do we:

- a token *file* (in-cluster, or a kubeconfig `tokenFile`) is re-read at most once a
  minute, and at once after a 401;
- an exec plugin is re-run when its token's `expirationTimestamp` passes, and at once
  after a 401.

Search order when no path is given (controller-runtime's `GetConfig`): `$KUBECONFIG`,
then in-cluster when `KUBERNETES_SERVICE_HOST` is set, then `~/.kube/config`.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
from kubernetes_asyncio import config as ka_config
from kubernetes_asyncio.client import Configuration
from kubernetes_asyncio.config.incluster_config import (
    SERVICE_CERT_FILENAME,
    SERVICE_TOKEN_FILENAME,
    InClusterConfigLoader,
)
from kubernetes_asyncio.config.kube_config import KUBE_CONFIG_DEFAULT_LOCATION

__all__ = ["Credentials", "LoadedConfig", "load_configuration"]

TOKEN_FILE_REREAD_SECONDS = 60.0


class Credentials:
    """Produces the Authorization header for each request, refreshing it when due.

    `refresh(force=True)` is what the client calls after a 401, so a rotated token
    is picked up without waiting for the periodic re-read.
    """

    def __init__(
        self,
        configuration: Configuration,
        *,
        token_file: str | None = None,
        exec_loader: Any = None,
        reread_seconds: float = TOKEN_FILE_REREAD_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.configuration = configuration
        self._token_file = token_file
        self._exec_loader = exec_loader
        self._reread = reread_seconds
        self._clock = clock
        self._read_at = float("-inf")  # first use reads (and strips) the file itself

    @property
    def rotates(self) -> bool:
        """Whether a 401 is worth one retry after a forced refresh."""
        return self._token_file is not None or self._exec_loader is not None

    async def refresh(self, *, force: bool = False) -> None:
        """Re-read the token file or re-run the exec plugin when due (or when forced)."""
        if self._token_file is not None:
            if force or self._clock() - self._read_at >= self._reread:
                token = _read_token(self._token_file)
                self._read_at = self._clock()
                if token:
                    self.configuration.api_key["BearerToken"] = f"Bearer {token}"
        elif self._exec_loader is not None:
            has_expiry = hasattr(self._exec_loader, "exec_plugin_expiry")
            if not force and not has_expiry:
                # No expirationTimestamp: the token is good until the server says 401
                # (client-go caches it the same way); do not spawn the plugin per request.
                return
            if force and has_expiry:
                del self._exec_loader.exec_plugin_expiry
            await self._exec_loader.load_from_exec_plugin()
            exec_token = getattr(self._exec_loader, "token", None)
            if exec_token:
                self.configuration.api_key["BearerToken"] = exec_token

    async def headers(self) -> dict[str, str]:
        """The Authorization header (if any) to send with the next request."""
        await self.refresh()
        token = self.configuration.api_key.get("BearerToken")
        if token:
            prefix = self.configuration.api_key_prefix.get("BearerToken")
            value = f"{prefix} {token}" if prefix else str(token)
            return {"Authorization": value}
        if self.configuration.username is not None:
            import base64

            raw = f"{self.configuration.username}:{self.configuration.password or ''}"
            return {"Authorization": "Basic " + base64.b64encode(raw.encode()).decode()}
        return {}

    def install_hook(self) -> None:
        """Make kubernetes-asyncio's own typed APIs on this Configuration rotate too."""

        async def hook(_configuration: Configuration) -> None:
            await self.refresh()

        hook_fn: Callable[[Configuration], Awaitable[None]] = hook
        self.configuration.refresh_api_key_hook = hook_fn


def _read_token(path: str) -> str:
    """A token file is a few hundred bytes on a local tmpfs: a blocking read is fine."""
    with open(path, encoding="utf-8") as fh:
        return fh.read().strip()


def _default_kubeconfig() -> str:
    return os.path.expanduser(KUBE_CONFIG_DEFAULT_LOCATION)


def _kubeconfig_token_file(loader: Any) -> str | None:
    user = getattr(loader, "_user", None)
    if user is None:
        return None
    with contextlib.suppress(Exception):
        if "tokenFile" in user and "token" not in user and "exec" not in user:
            path = str(user["tokenFile"])
            return path if os.path.isabs(path) else os.path.abspath(path)
    return None


async def _from_kubeconfig(path: str, context: str | None) -> tuple[Configuration, Credentials]:
    configuration = type.__call__(Configuration)
    loader = await ka_config.load_kube_config(
        config_file=path,
        context=context,
        client_configuration=configuration,
        persist_config=False,
    )
    exec_loader = None
    user = getattr(loader, "_user", None)
    if user is not None and "exec" in user:
        exec_loader = loader
    creds = Credentials(
        configuration, token_file=_kubeconfig_token_file(loader), exec_loader=exec_loader
    )
    return configuration, creds


def _in_cluster(token_file: str, cert_file: str) -> tuple[Configuration, Credentials]:
    configuration = type.__call__(Configuration)
    InClusterConfigLoader(
        token_filename=token_file, cert_filename=cert_file, try_refresh_token=False
    ).load_and_set(configuration)
    return configuration, Credentials(configuration, token_file=token_file)


@attrs.frozen
class LoadedConfig:
    """A connection Configuration, the Credentials that keep it fresh, and the default namespace
    (the kubeconfig context's, or the service account's namespace in-cluster)."""

    configuration: Configuration
    credentials: Credentials
    namespace: str = "default"


async def load_configuration(
    kubeconfig: str | None = None,
    context: str | None = None,
    *,
    in_cluster: bool | None = None,
    token_file: str = SERVICE_TOKEN_FILENAME,
    cert_file: str = SERVICE_CERT_FILENAME,
) -> LoadedConfig:
    """Load a Configuration and its Credentials (see the module docstring for the order).

    `in_cluster=True` forces the service-account config; `False` forbids it.
    """
    if in_cluster:
        return _in_cluster_loaded(token_file, cert_file)
    if kubeconfig is None:
        env = os.environ.get("KUBECONFIG", "")
        kubeconfig = env.split(os.pathsep)[0] if env else None
    if kubeconfig is None and in_cluster is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
        return _in_cluster_loaded(token_file, cert_file)
    if kubeconfig is None:
        kubeconfig = _default_kubeconfig()
    configuration, creds = await _from_kubeconfig(kubeconfig, context)
    namespace = None
    with contextlib.suppress(Exception):
        namespace = _context_namespace(kubeconfig, context)
    return LoadedConfig(configuration, creds, namespace or "default")


def _in_cluster_loaded(token_file: str, cert_file: str) -> LoadedConfig:
    configuration, creds = _in_cluster(token_file, cert_file)
    namespace = "default"
    ns_file = os.path.join(os.path.dirname(token_file), "namespace")
    with contextlib.suppress(OSError), open(ns_file, encoding="utf-8") as fh:
        namespace = fh.read().strip() or "default"
    return LoadedConfig(configuration, creds, namespace)


def _context_namespace(path: str, context: str | None) -> str | None:
    contexts, current = ka_config.list_kube_config_contexts(path)
    chosen = current
    if context is not None:
        chosen = next((c for c in contexts if c.get("name") == context), None)
    if not chosen:
        return None
    ns = (chosen.get("context") or {}).get("namespace")
    return str(ns) if ns else None
