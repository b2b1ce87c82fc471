"""The pods/NAME:PORT/proxy and services/NAME:PORT/proxy subresources.

KubeRay's `useKubernetesProxy` (and `kubectl proxy` users) reach a pod's
or a Service's HTTP server through the API server. The sandbox forwards the
request to the pod IP (or a ready endpoint of the Service, read from its
EndpointSlices as kube-apiserver does) over loopback and streams the reply
back.
"""

from __future__ import annotations

import random
from typing import Any

import aiohttp
from aiohttp import web
from multidict import CIMultiDict

from kuberay_py.sandbox.http.context import ApiContext
from kuberay_py.sandbox.http.requestinfo import RequestInfo, split_proxy_name
from kuberay_py.sandbox.http.resources import read_body
from kuberay_py.sandbox.registry import errors
from kuberay_py.sandbox.registry.catalog import ResourceType
from kuberay_py.sandbox.registry.types import ListOptions

Obj = dict[str, Any]
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)
_SERVICE_NAME_LABEL = "kubernetes.io/service-name"


def _forward_headers(headers: Any) -> CIMultiDict[str]:
    connection_tokens = {
        t.strip().lower() for t in headers.get("Connection", "").split(",") if t.strip()
    }
    out: CIMultiDict[str] = CIMultiDict()
    for key, value in headers.items():
        low = key.lower()
        if low in _HOP_BY_HOP or low in connection_tokens:
            continue
        out.add(key, value)
    return out


def _pod_port(pod: Obj, port: str) -> int:
    """A port number, or a named containerPort of any of the pod's containers."""
    if not port:
        return 80
    if port.isdigit():
        return int(port)
    for container in (pod.get("spec") or {}).get("containers") or ():
        for cport in container.get("ports") or ():
            if cport.get("name") == port and isinstance(cport.get("containerPort"), int):
                return int(cport["containerPort"])
    raise errors.service_unavailable(
        f"no such port {port!r} on pod {pod.get('metadata', {}).get('name')!r}"
    )


class Proxy:
    """Forwards proxy-subresource requests; owns one aiohttp ClientSession."""

    def __init__(self, ctx: ApiContext, rng: random.Random) -> None:
        self.ctx = ctx
        self.rng = rng
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.ctx.proxy_timeout),
                auto_decompress=False,
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _target(self, info: RequestInfo, rt: ResourceType) -> tuple[str, str, int]:
        """(scheme, host, port) to send the request to."""
        assert info.name is not None
        scheme, name, port = split_proxy_name(info.name)
        if not name:
            raise errors.bad_request(f"invalid proxy target {info.name!r}")
        if scheme not in ("", "http", "https"):
            raise errors.bad_request(f"invalid scheme {scheme!r} in proxy target")
        ns = info.registry_namespace
        if rt.resource == "pods":
            pod = self.ctx.registry.get(rt, ns, name)
            ip = (pod.get("status") or {}).get("podIP")
            if not ip:
                raise errors.service_unavailable(
                    f'pod "{name}" has no IP address yet (phase '
                    f"{(pod.get('status') or {}).get('phase', 'Pending')})"
                )
            return scheme or "http", ip, _pod_port(pod, port)
        if rt.resource == "services":
            svc = self.ctx.registry.get(rt, ns, name)
            host, target_port = self._service_endpoint(ns, name, svc, port)
            return scheme or "http", host, target_port
        if rt.resource == "nodes":
            raise errors.service_unavailable("node proxy is not served by the sandbox")
        raise errors.bad_request(f"{rt.resource} has no proxy subresource")

    def _service_endpoint(
        self, namespace: str | None, name: str, svc: Obj, port: str
    ) -> tuple[str, int]:
        ports = (svc.get("spec") or {}).get("ports") or []
        chosen: Obj | None = None
        for sp in ports:
            if port == "" or sp.get("name") == port or str(sp.get("port")) == port:
                chosen = sp
                break
        if chosen is None:
            raise errors.service_unavailable(f'no service port "{port}" found for service "{name}"')
        slices_rt = self.ctx.catalog.get("discovery.k8s.io", "v1", "endpointslices")
        if slices_rt is None:
            raise errors.service_unavailable(f'no endpoints available for service "{name}"')
        slices = self.ctx.registry.list(
            slices_rt, namespace, ListOptions(label_selector=f"{_SERVICE_NAME_LABEL}={name}")
        ).items
        candidates: list[tuple[str, int]] = []
        port_name = chosen.get("name") or ""
        for es in slices:
            slice_port: int | None = None
            for p in es.get("ports") or ():
                if (p.get("name") or "") == port_name and isinstance(p.get("port"), int):
                    slice_port = p["port"]
                    break
            if slice_port is None:
                continue
            for ep in es.get("endpoints") or ():
                ready = (ep.get("conditions") or {}).get("ready")
                if ready is False:
                    continue
                for addr in ep.get("addresses") or ():
                    candidates.append((addr, slice_port))
        if not candidates:
            raise errors.service_unavailable(f'no endpoints available for service "{name}"')
        return self.rng.choice(candidates)

    async def forward(
        self, request: web.Request, info: RequestInfo, rt: ResourceType
    ) -> web.StreamResponse:
        scheme, host, port = self._target(info, rt)
        path = info.proxy_path or "/"
        query = request.rel_url.raw_query_string
        url = f"{scheme}://{host}:{port}{path}" + (f"?{query}" if query else "")
        body = await read_body(request, self.ctx) if request.can_read_body else None
        headers = _forward_headers(request.headers)
        try:
            upstream = await self._client().request(
                request.method,
                url,
                headers=headers,
                data=body,
                allow_redirects=False,
                ssl=scheme != "https",
            )
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise errors.service_unavailable(
                f"error trying to reach {rt.resource[:-1]} {info.name}: {exc}"
            ) from None
        async with upstream:
            response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
            for key, value in _forward_headers(upstream.headers).items():
                response.headers.add(key, value)
            await response.prepare(request)
            try:
                async for chunk in upstream.content.iter_any():
                    await response.write(chunk)
            except (aiohttp.ClientError, TimeoutError):
                pass  # the upstream broke mid-reply: end what we sent
            await response.write_eof()
        return response
