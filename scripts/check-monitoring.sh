#!/usr/bin/env bash
# Checks monitoring/ with promtool (Debian's prometheus package): the alert rules' syntax, their
# unit tests (monitoring/alerts.test.yaml), and the syntax of every PromQL expression of the
# Grafana dashboard (written as recording rules, which promtool parses). That the metrics they
# name are tinbaod's is pipeline_test's Monitoring tests.
set -euo pipefail
cd "$(dirname "$0")/../monitoring"
promtool check rules alerts.yaml
promtool test rules alerts.test.yaml
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 - grafana-dashboard.json >"$tmp/dashboard-rules.yaml" <<'PY'
import json, sys
exprs = []
def walk(v):
    if isinstance(v, dict):
        for k, x in v.items():
            if k == "expr" and isinstance(x, str): exprs.append(x)
            else: walk(x)
    elif isinstance(v, list):
        for x in v: walk(x)
walk(json.load(open(sys.argv[1])))
if not exprs: sys.exit("no expressions in the dashboard")
print("groups:\n  - name: dashboard\n    rules:")
for i, e in enumerate(exprs):
    # Grafana's variables, as Grafana substitutes them for a query.
    e = e.replace("$instance", ".*").replace("$__rate_interval", "5m")
    print(f"      - record: dashboard:expr{i}\n        expr: {json.dumps(e)}")
PY
promtool check rules "$tmp/dashboard-rules.yaml" | sed 's|^Checking .*|Checking the dashboard'"'"'s expressions|'
