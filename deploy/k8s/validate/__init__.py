"""Check the deployment files against Kubernetes' schemas and against the code they deploy.

    python -m deploy.k8s.validate          (from the repository root)

Reads every manifest listed in ``deploy/k8s/kustomization.yaml``, ``docker-compose.yml`` and
``deploy/docker/Dockerfile``; prints each problem found and exits 1, or prints a summary and exits
0. Offline: the Kubernetes JSON schemas come with the ``kubernetes-validate`` package, KEDA's
ScaledObject is checked against a schema embedded here.

What is checked:

* Kubernetes objects against the schemas of ``--kubernetes-version`` (strict: unknown fields are
  errors); KEDA ScaledObjects against the embedded schema, kafka trigger metadata included.
* Every container (init containers and Jobs too): runs as uid 10001 with runAsNonRoot, a
  read-only root filesystem with an emptyDir at /tmp, no privilege escalation, every capability
  dropped, the RuntimeDefault seccomp profile; CPU and memory requests and limits; an image with a
  tag other than ``latest``.
* Every Deployment: liveness on /healthz and readiness on /readyz at the service's HTTP port (and a
  startup probe for translate, which loads its model first), terminationGracePeriodSeconds of at
  least 35 (the services drain for 30 s), Prometheus scrape annotations for /metrics on that port,
  no replica count when an autoscaler owns it; translate asks for the most CPU and memory.
* Environment: every variable name a container sets, and every key of a ConfigMap or Secret it
  takes whole (envFrom), is a setting of that service (``shared/settings.py``,
  ``services/*/settings.py``, read by importing the settings classes); the values validate
  against those classes; the service listens on a reachable host and on its container port.
* References: ConfigMaps, Secrets, their keys and PersistentVolumeClaims that pods use exist;
  Service selectors, the PodDisruptionBudget, the HPA and ScaledObject targets match a
  Deployment; Service target ports exist; file paths a command reads from a ConfigMap volume are
  keys of it; the registry and glossary in the ConfigMap load with the project's own parsers.
* KEDA: a kafka trigger on the consumer group the service really uses (its name) and a topic it
  consumes, bootstrapServers equal to the service's KAFKA_BOOTSTRAP_SERVERS, and
  maxReplicaCount at most TOPIC_PARTITIONS (a replica past the partition count idles).
* The Ingress routes only public paths: no path it routes (Exact, Prefix, or
  ImplementationSpecific read as a bare prefix) reaches the probes, ``/metrics``, the admin API
  or the API documents (``INTERNAL_PATHS``), there is no defaultBackend, its backends exist, and
  a rule serves FEEDS_PUBLIC_URL's host.
* docker-compose.yml parses and has kafka, mongo, a one-shot registry loader and the three
  services, each built from the Dockerfile with its own SERVICE argument, with a healthcheck and
  40 s to stop; translate publishes no host port (so ``--scale`` works); its variables exist.
* The Dockerfile: a non-root numeric USER, one stage per service exposing the settings' port and
  running the service, no build tools in the runtime stages; and each image's code imports only
  what the core dependencies and the service's extra in pyproject.toml install.

One module per checker (``kubernetes`` with ``schemas``, ``pods``, ``pod_env``, ``references``,
``keda``, ``registry`` and ``ingress``; ``compose``; ``dockerfile``; ``dependencies``), ``common``
and ``facts`` for what they share, ``cli`` for the report and the command line.
"""

from deploy.k8s.validate.cli import Report, main, validate
from deploy.k8s.validate.common import KUBERNETES_VERSION, Problem
from deploy.k8s.validate.compose import compose_problems
from deploy.k8s.validate.dependencies import image_dependency_problems
from deploy.k8s.validate.dockerfile import dockerfile_problems, parse_dockerfile
from deploy.k8s.validate.facts import CodeFacts, code_facts
from deploy.k8s.validate.ingress import routes_path
from deploy.k8s.validate.kubernetes import k8s_problems

__all__ = [
    "KUBERNETES_VERSION",
    "CodeFacts",
    "Problem",
    "Report",
    "code_facts",
    "compose_problems",
    "dockerfile_problems",
    "image_dependency_problems",
    "k8s_problems",
    "main",
    "parse_dockerfile",
    "routes_path",
    "validate",
]
