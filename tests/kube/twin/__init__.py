"""The cluster twin: kind/helm/docker stand-ins, a Kubernetes API stand-in and OpenWhisk from the chart."""
