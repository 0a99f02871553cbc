"""The Grafana dashboard (ops/grafana/esa.json) and the alert rules (ops/prometheus/) read only metrics some ESA
process exposes."""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path

import dramatiq.middleware.prometheus as dramatiq_prometheus

from esa_domain.infra import metrics, state_metrics

DASHBOARD = Path(__file__).resolve().parents[2] / "ops" / "grafana" / "esa.json"
SUFFIXES = ("", "_total", "_bucket", "_count", "_sum")


def exposed() -> set[str]:
    names = {family.name for family in metrics.REGISTRY.collect()}
    names |= set(re.findall(r'"(esa_[a-z_]+)"', inspect.getsource(state_metrics)))
    names |= set(re.findall(r'"(dramatiq_[a-z_]+)"', inspect.getsource(dramatiq_prometheus)))
    return {name + suffix for name in names for suffix in SUFFIXES}


def test_every_metric_the_dashboard_graphs_is_exposed():
    panels = json.loads(DASHBOARD.read_text())["panels"]
    exprs = [t["expr"] for p in panels for t in p.get("targets", [])]
    used = {m for e in exprs for m in re.findall(r"\b((?:esa|dramatiq)_[a-z_]+)\b", e)}
    assert len(exprs) >= 25 and used
    assert sorted(used - exposed()) == []


def test_every_alert_rule_reads_exposed_metrics_of_the_scraped_jobs():
    import yaml

    ops = DASHBOARD.parents[1] / "prometheus"
    rules = yaml.safe_load((ops / "esa-alerts.yml").read_text())["groups"][0]["rules"]
    jobs = {c["job_name"] for c in yaml.safe_load((ops / "prometheus.yml").read_text())["scrape_configs"]}
    assert jobs == {"esa-web", "esa-worker", "esa-scheduler"}
    used = {m for r in rules for m in re.findall(r"\b((?:esa|dramatiq)_[a-z_]+)\b", r["expr"])}
    assert len(rules) >= 10 and sorted(used - exposed()) == []
    assert all(r["alert"].startswith("Esa") and r["annotations"]["summary"] for r in rules)
