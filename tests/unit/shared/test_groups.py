"""Consumer groups: one topic per group, and the watch that turns a silently stalled group into
a failing /healthz."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from aiokafka.errors import KafkaConnectionError
from fastapi import FastAPI
from fastapi.testclient import TestClient

from shared.contracts import Topics
from shared.groups import MOVED, GroupWatch, group_id, unowned_partitions
from shared.metrics import ServiceMetrics, subscribed_groups
from shared.service import health_router
from tools import asyncapi

PARTITIONS = {"a": [0, 1, 2], "b": [0, 1]}


@pytest.mark.parametrize("service", asyncapi.SERVICES)
def test_each_subscriber_has_a_group_of_its_own(service: str) -> None:
    """Members of one group with different subscriptions stalled a topic after a broker
    restart (docs/reliability.md): no group of any service reads two topics."""
    groups = subscribed_groups(asyncapi.broker(service))
    assert groups, "the service consumes something"
    assert {g: len(ts) for g, ts in groups.items()} == {g: 1 for g in groups}
    assert service in groups, "the main subscriber keeps the service's group (KEDA scales on it)"


def test_moved_subscribers_take_offsets_from_the_group_they_left() -> None:
    feeds = subscribed_groups(asyncapi.broker("feeds"))
    translate = subscribed_groups(asyncapi.broker("translate"))
    assert feeds[group_id("feeds", "translations")] == {Topics.TRANSLATED}
    assert translate[group_id("translate", "human")] == {Topics.HUMAN_TRANSLATIONS}
    for (group, topic), service in MOVED.items():  # the old group is the service's own
        assert topic in subscribed_groups(asyncapi.broker(service))[group]


def test_a_stable_group_owning_everything_has_nothing_unowned() -> None:
    members = [{"a": [0, 2]}, {"a": [1], "b": [0, 1]}]
    assert unowned_partitions("Stable", members, PARTITIONS, {"a", "b"}) == {}


def test_a_stable_group_can_leave_a_topic_without_owner() -> None:
    """The shape of the broker-restart finding: settled, and nobody reads ``a``."""
    members = [{"b": [0, 1]}, {}]
    assert unowned_partitions("Stable", members, PARTITIONS, {"a", "b"}) == {"a": [0, 1, 2]}


@pytest.mark.parametrize("state", ["Empty", "Dead", "PreparingRebalance", "CompletingRebalance"])
def test_an_empty_or_rebalancing_group_consumes_nothing(state: str) -> None:
    members = [{"a": [0, 1, 2]}]
    assert unowned_partitions(state, members, PARTITIONS, {"a"}) == {"a": [0, 1, 2]}


def test_topics_the_broker_does_not_know_are_not_reported() -> None:
    assert unowned_partitions("Empty", [], PARTITIONS, {"gone"}) == {}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def watch(clock: Clock, seen: list[Mapping[tuple[str, str], int]] | None = None) -> GroupWatch:
    return GroupWatch(
        "unused:9092",
        lambda: {"svc": {"a"}, "svc-extra": {"b"}},
        stall_seconds=60,
        jitter=0,
        clock=clock,
        on_check=seen.append if seen is not None else None,
    )


def test_a_partition_unowned_past_the_limit_is_a_stall() -> None:
    clock = Clock()
    w = watch(clock)
    w.observe({"svc": {"a": [1]}})
    clock.now += 60
    w.observe({"svc": {"a": [1]}})
    assert w.stalled() == [], "a rebalance may take this long"
    clock.now += 1
    w.observe({"svc-extra": {"b": [0]}, "svc": {"a": [1]}})
    assert w.stalled() == ["svc/a/1"], "only the partition unowned for too long"
    clock.now += 1
    w.observe({"svc-extra": {"b": [0]}, "svc": {"a": [1]}})
    clock.now += 60
    assert w.stalled() == ["svc/a/1", "svc-extra/b/0"], "oldest first"


def test_an_owner_again_ends_the_stall_and_a_new_gap_starts_afresh() -> None:
    clock = Clock()
    w = watch(clock)
    w.observe({"svc": {"a": [0]}})
    clock.now += 120
    assert w.stalled() == ["svc/a/0"]
    w.observe({})
    assert w.stalled() == []
    w.observe({"svc": {"a": [0]}})
    clock.now += 30
    assert w.stalled() == []


def test_each_check_reports_every_group_and_topic_for_the_gauge() -> None:
    seen: list[Mapping[tuple[str, str], int]] = []
    w = watch(Clock(), seen)
    w.observe({"svc": {"a": [0, 2]}})
    w.observe({})
    assert seen == [
        {("svc", "a"): 2, ("svc-extra", "b"): 0},
        {("svc", "a"): 0, ("svc-extra", "b"): 0},
    ]
    metrics = ServiceMetrics("svc")
    metrics.record_unowned(seen[0])
    assert (
        metrics.registry.get_sample_value(
            "syndication_consumer_partitions_unowned", {"group": "svc", "topic": "a"}
        )
        == 2
    )


def test_healthz_fails_with_the_stalled_partitions_and_recovers() -> None:
    clock = Clock()
    w = watch(clock)
    rt = asyncapi.runtime("feeds", asyncapi.ServiceSettings.model_construct())
    rt.watch = w
    api = FastAPI()
    api.include_router(health_router(rt))
    client = TestClient(api)
    assert client.get("/healthz").status_code == 200

    w.observe({"svc": {"a": [2]}})
    clock.now += 61
    resp = client.get("/healthz")
    assert resp.status_code == 503
    assert resp.json()["unowned"] == ["svc/a/2"]
    assert "restart" in resp.json()["reason"]

    w.observe({})
    assert client.get("/healthz").status_code == 200


async def test_a_broker_that_cannot_be_asked_ends_the_stall(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A long broker outage must not fail /healthz: restarting the replica would not help."""
    clock = Clock()
    w = watch(clock)
    w.observe({"svc": {"a": [0]}})
    clock.now += 120
    assert w.stalled() == ["svc/a/0"]

    async def unreachable() -> dict[str, dict[str, list[int]]]:
        raise KafkaConnectionError("broker down")

    monkeypatch.setattr(w, "check", unreachable)
    await w.step()
    clock.now += 120
    assert w.stalled() == []


def test_replicas_wait_different_times_before_they_call_a_stall() -> None:
    """All replicas see the same stalled group: they must not all fail liveness at once."""
    limits = {GroupWatch("unused:9092", dict, stall_seconds=300).limit for _ in range(20)}
    assert len(limits) > 1 and all(300 <= limit <= 450 for limit in limits)
