"""OpenAPI v3 documents for kubectl's apply, create and explain (see builder.py)."""

from kuberay_py.sandbox.openapi.builder import OpenAPIBuilder

__all__ = ["OpenAPIBuilder"]
