"""deploy/prometheus and deploy/grafana: the alerting rules pass `promtool check rules` and
their unit tests (`promtool test rules`), and every metric name the rules and the dashboard
query is one that the binary, running, exports on /metrics.

promtool comes with Debian's `prometheus` package (tests/run-all.sh installs it)."""

import json
import re
import shutil
import subprocess
import time
import urllib.request

import pytest

from conftest import BIN, ROOT, Process, free_port

PROMETHEUS = ROOT / "deploy" / "prometheus"
DASHBOARD = ROOT / "deploy" / "grafana" / "bedrock-link.json"
METRIC = re.compile(r"\bbedrock_link_[a-z0-9_]+")


def promtool(*args):
    exe = shutil.which("promtool")
    if not exe:
        pytest.fail("promtool is not installed (Debian: apt-get install prometheus; tests/run-all.sh does it)")
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=120, cwd=PROMETHEUS)


def test_rules_are_valid():
    out = promtool("check", "rules", "alerts.yml")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS: 8 rules found" in out.stdout, out.stdout


def test_rules_fire_on_their_conditions_and_not_otherwise():
    out = promtool("test", "rules", "alerts.test.yml")
    assert out.returncode == 0, out.stdout + out.stderr
    # Every alert has a case where it fires.
    rules = set(re.findall(r"- alert: (\w+)", (PROMETHEUS / "alerts.yml").read_text()))
    tests = (PROMETHEUS / "alerts.test.yml").read_text()
    firing = set(re.findall(r"alertname: (\w+)\n\s+exp_alerts:\n\s+- exp_labels", tests))
    assert rules == firing, rules ^ firing


def queries():
    """(where, PromQL) of every rule and dashboard query."""
    rules = (PROMETHEUS / "alerts.yml").read_text()
    found = [("alerts.yml", e) for e in re.findall(r"expr: (\|\n(?:\s{10}.*\n)+|.*)", rules)]
    dashboard = json.loads(DASHBOARD.read_text())
    for panel in dashboard["panels"]:
        assert panel["targets"], panel["title"]
        found += [(panel["title"], t["expr"]) for t in panel["targets"]]
    found += [("templating", json.dumps(dashboard["templating"]))]
    return found


def exported(tmp_path, moto):
    """The metric names of a running binary's /metrics, with every labelled family present:
    a source that succeeds (moto), one whose EC2 API refuses, a probed address (down)."""
    dns, admin, closed = free_port(), free_port(), free_port()
    config = tmp_path / "metrics.toml"
    config.write_text(
        f'[dns]\nlisten = ["127.0.0.1:{dns}"]\n[upstream]\nservers = ["127.0.0.1:{closed}"]\ntimeout_ms = 300\n'
        f'[admin]\nlisten = "127.0.0.1:{admin}"\n[health]\ninterval = "1s"\ntimeout = "100ms"\ndown_after = 1\n'
        f'[[static]]\nname = "bedrock.us-west-2.amazonaws.com"\nipv4 = ["127.0.0.1"]\n'
        f'health_check = true\nhealth_check_port = {closed}\n'
        f'[[source]]\nregion = "us-east-1"\nvpc_id = "vpc-0e3f0000000000001"\nendpoint_url = "http://127.0.0.1:{closed}"\n'
        f'[[source]]\nregion = "us-east-1"\nvpc_id = "vpc-0e3f0000000000002"\nendpoint_url = "{moto.url}"\n'
    )
    server = Process([BIN, "dns", "serve", "--config", str(config)], tmp_path / "serve.log")
    try:
        deadline = time.time() + 30
        while True:
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{admin}/metrics", timeout=2).read().decode()
                if all(f"bedrock_link_{m}{{" in body for m in ("discovery_errors_total", "discovery_last_success_timestamp_seconds", "endpoint_up")):
                    break
            except OSError:
                pass
            assert time.time() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.2)
    finally:
        assert server.stop() == 0, (tmp_path / "serve.log").read_text()
    return {re.split(r"[{ ]", line)[0] for line in body.splitlines() if line and not line.startswith("#")}


def test_rules_and_dashboard_query_only_what_the_binary_exports(tmp_path, moto):
    names = exported(tmp_path, moto)
    assert "bedrock_link_queries_total" in names and "bedrock_link_upstream_duration_seconds_bucket" in names
    used = {(where, m) for where, q in queries() for m in METRIC.findall(q)}
    assert len({m for _, m in used}) >= 15, used
    missing = sorted((where, m) for where, m in used if m not in names)
    assert not missing, f"queried but not exported: {missing}"
