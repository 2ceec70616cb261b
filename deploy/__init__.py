"""Deployment: the local stack (``deploy/local``), images (``deploy/docker``) and Kubernetes
manifests (``deploy/k8s``)."""
