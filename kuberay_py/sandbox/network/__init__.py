"""Real networking on loopback for the sandbox.

- `ipam`: who owns which 127.x address (pod IPs, Service ClusterIPs) and NodePort.
- `service_ips`: the admission plugin that gives Services their ClusterIP/NodePorts,
  and the controller that frees them when Services go.
- `proxy`: the kube-proxy-like forwarder from ClusterIP:port to ready endpoints.

The EndpointSlice controller that feeds the proxy lives with the other cluster
controllers, in `kuberay_py/sandbox/cluster/endpointslices.py`.
"""
