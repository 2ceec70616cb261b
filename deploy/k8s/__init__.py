"""Kubernetes manifests and their validator (``python -m deploy.k8s.validate``)."""
