"""Kubernetes helpers of the kind and existing backends: tools, kind, Helm, values, API calls, deployment."""
