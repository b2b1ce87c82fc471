"""The RayCluster API as data: models, conversion, defaults, validation and the CRD.

Pure on purpose (no I/O, nothing internal imported) so builders, controllers, the
sandbox and tests can all share one description of the API.
"""
