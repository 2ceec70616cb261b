"""What ops watch (deploy/monitoring): the alert rules are valid for Prometheus, every metric
the rules and the dashboard name is one the services export, and every alert has its runbook."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry

from shared.metrics import (
    ServiceMetrics,
    TranslationMetrics,
    activitypub_deliveries,
    websub_deliveries,
)
from shared.storage import commands_counter

ROOT = Path(__file__).resolve().parents[3]
MONITORING = ROOT / "deploy" / "monitoring"
ALERTS = MONITORING / "alerts.yaml"
DASHBOARD = MONITORING / "dashboard.json"
#: Series Prometheus makes itself, not the services.
PROMETHEUS_OWN = {"up"}
_NAME = re.compile(r"\b(syndication_[a-z0-9_]+|up)\b(?!\s*\()")


def exported() -> set[str]:
    """Every series name the services' metrics expose (each service builds these)."""
    registry = CollectorRegistry()
    ServiceMetrics("svc", registry=registry)
    TranslationMetrics(registry)
    websub_deliveries(registry)
    activitypub_deliveries(registry)
    commands_counter(registry)
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum")}
    return {
        family.name + suffix
        for family in registry.collect()
        for suffix in suffixes.get(family.type, ("",))
    }


def named(expression: str) -> set[str]:
    return set(_NAME.findall(expression)) - PROMETHEUS_OWN


def alert_rules() -> list[dict[str, object]]:
    rules = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    return [rule for group in rules["groups"] for rule in group["rules"]]


def dashboard_expressions() -> list[str]:
    board = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return [target["expr"] for panel in board["panels"] for target in panel["targets"]]


def test_the_rules_pass_promtool() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("no promtool (make test installs Debian's prometheus package)")
    checked = subprocess.run(
        [promtool, "check", "rules", str(ALERTS)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_every_metric_the_rules_and_the_dashboard_name_is_exported() -> None:
    expressions = [str(rule["expr"]) for rule in alert_rules()] + dashboard_expressions()
    names = set().union(*(named(e) for e in expressions))
    assert len(names) >= 10  # the expressions were read
    assert names - exported() == set()


def test_a_metric_nobody_exports_is_caught() -> None:
    expression = "rate(syndication_messages_procesed_total[5m]) > 0 and up == 1"
    assert named(expression) - exported() == {"syndication_messages_procesed_total"}


def test_every_alert_links_to_its_runbook_in_the_operations_guide() -> None:
    guide = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    anchors = {
        re.sub(r"[^a-z0-9 -]", "", heading.lower()).replace(" ", "-")
        for heading in re.findall(r"^#+ (.+)$", guide, re.M)
    }
    for rule in alert_rules():
        annotations = rule["annotations"]
        assert isinstance(annotations, dict)
        path, _, anchor = str(annotations["runbook_url"]).partition("#")
        assert path == "docs/operations.md" and anchor in anchors, rule["alert"]
        assert {"summary", "description"} <= annotations.keys(), rule["alert"]
