"""KEDA ScaledObjects: a kafka trigger on the consumer group and topic the service really uses."""

from __future__ import annotations

from deploy.k8s.validate.bundle import Bundle
from deploy.k8s.validate.common import Problem, did_you_mean
from deploy.k8s.validate.facts import CodeFacts, ServiceFacts
from deploy.k8s.validate.pods import EffectiveEnv

_KAFKA_STRING_KEYS = {
    "bootstrapServers",
    "bootstrapServersFromEnv",
    "consumerGroup",
    "consumerGroupFromEnv",
    "topic",
    "topicFromEnv",
    "version",
    "partitionLimitation",
    "sasl",
    "saslTokenProvider",
    "tls",
    "awsRegion",
    "awsEndpoint",
    "oauthTokenEndpointUri",
    "scopes",
}
_KAFKA_INT_KEYS = {"lagThreshold", "activationLagThreshold"}
_KAFKA_BOOL_KEYS = {
    "allowIdleConsumers",
    "scaleToZeroOnInvalidOffset",
    "excludePersistentLag",
    "limitToPartitionsWithLag",
    "ensureEvenDistributionOfPartitions",
    "unsafeSsl",
}
_KAFKA_KEYS = _KAFKA_STRING_KEYS | _KAFKA_INT_KEYS | _KAFKA_BOOL_KEYS | {"offsetResetPolicy"}


def keda_problems(bundle: Bundle, facts: CodeFacts, effective: EffectiveEnv) -> list[Problem]:
    problems = []
    for so in bundle.of_kind("ScaledObject"):
        target = str((so.spec.get("scaleTargetRef") or {}).get("name"))
        if target not in effective:
            continue  # reported with the references
        service, env = effective[target]
        svc: ServiceFacts = facts.services[service]
        partitions_text = str(env.get("TOPIC_PARTITIONS", facts.infra_defaults["TOPIC_PARTITIONS"]))
        partitions = int(partitions_text) if partitions_text.isdigit() else 0  # else reported
        servers = env.get(
            "KAFKA_BOOTSTRAP_SERVERS", facts.infra_defaults["KAFKA_BOOTSTRAP_SERVERS"]
        )
        low, high = so.spec.get("minReplicaCount", 0), so.spec.get("maxReplicaCount", 100)
        if not isinstance(low, int) or low < 1:
            problems.append(Problem(so.where, "minReplicaCount is below 1"))
        if isinstance(high, int) and partitions and high > partitions:
            problems.append(
                Problem(
                    so.where,
                    f"maxReplicaCount {high} > TOPIC_PARTITIONS {partitions}: a "
                    "replica past the partition count gets no partition and idles",
                )
            )
        kafka = [t for t in so.spec.get("triggers") or [] if t.get("type") == "kafka"]
        if not kafka:
            problems.append(Problem(so.where, "no kafka trigger (scale on consumer lag)"))
        for trigger in kafka:
            meta = {str(k): v for k, v in (trigger.get("metadata") or {}).items()}
            for key in sorted(set(meta) - _KAFKA_KEYS):
                problems.append(
                    Problem(
                        so.where,
                        f"kafka trigger: unknown metadata {key}{did_you_mean(key, _KAFKA_KEYS)}",
                    )
                )
            for key in ("bootstrapServers", "consumerGroup", "topic", "lagThreshold"):
                if key not in meta and f"{key}FromEnv" not in meta:
                    problems.append(Problem(so.where, f"kafka trigger: no {key}"))
            for key in _KAFKA_INT_KEYS & set(meta):
                if not str(meta[key]).isdigit() or int(str(meta[key])) < 1:
                    problems.append(Problem(so.where, f"kafka trigger: {key} is not a count"))
            for key in _KAFKA_BOOL_KEYS & set(meta):
                if meta[key] not in ("true", "false"):
                    problems.append(
                        Problem(so.where, f"kafka trigger: {key} is not 'true'/'false'")
                    )
            policy = meta.get("offsetResetPolicy", "latest")
            if policy not in ("earliest", "latest"):
                problems.append(Problem(so.where, f"kafka trigger: offsetResetPolicy {policy}"))
            if "bootstrapServers" in meta and meta["bootstrapServers"] != servers:
                problems.append(
                    Problem(
                        so.where,
                        f"bootstrapServers {meta['bootstrapServers']} is not the "
                        f"service's KAFKA_BOOTSTRAP_SERVERS {servers}",
                    )
                )
            if "consumerGroup" in meta and meta["consumerGroup"] != service:
                problems.append(
                    Problem(
                        so.where,
                        f"consumerGroup {meta['consumerGroup']}: {service}'s "
                        f"consumer group is {service!r} (shared/messaging.py)",
                    )
                )
            if "topic" in meta and meta["topic"] not in svc.topics:
                problems.append(
                    Problem(
                        so.where,
                        f"topic {meta['topic']}: group {service} consumes "
                        f"{', '.join(sorted(svc.topics))}",
                    )
                )
            elif svc.lag_topic and meta.get("topic") not in (None, svc.lag_topic):
                problems.append(Problem(so.where, f"scale {service} on {svc.lag_topic}'s lag"))
    return problems
