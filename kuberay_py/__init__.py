"""kuberay-py: a Kubernetes operator for Ray on asyncio, with an embedded Kubernetes sandbox."""

__version__ = "0.1.0"
