"""Installing our CRDs through the API, for the sandbox and for `--install-crds` style setups."""

from __future__ import annotations

from kuberay_py.api.crd import raycluster_crd
from kuberay_py.kube import CRDS, AlreadyExists, KubeClient


async def install_crds(client: KubeClient) -> None:
    """Create the CRDs, or bring existing ones up to the generated version."""
    for crd in (raycluster_crd(),):
        try:
            await client.create(CRDS, crd)
        except AlreadyExists:
            live = await client.get(CRDS, crd["metadata"]["name"])
            desired = {
                **crd,
                "metadata": {
                    **crd["metadata"],
                    "resourceVersion": live["metadata"]["resourceVersion"],
                },
            }
            if live.get("spec") != desired["spec"]:
                await client.replace(CRDS, desired)
