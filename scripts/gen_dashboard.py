#!/usr/bin/env python3
"""Generates grafana/bucketwarden-dashboard.json (Grafana 10+, importable and provisionable).

Edit the panels here, run `python3 scripts/gen_dashboard.py`, commit both files. tests/observability.rs
checks every expression against a real Prometheus and every metric name against src/observe/metrics.rs.
"""
import json, os

DS = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
SEL = 'instance=~"$instance"'
panels, y = [], 0
next_id = 1


def row(title):
    global y, next_id
    panels.append({"type": "row", "title": title, "id": next_id, "collapsed": False,
                   "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []})
    next_id += 1
    y += 1


def panel(kind, title, exprs, w=12, h=8, x=0, unit=None, desc=None, stack_y=True):
    global y, next_id
    targets = []
    for i, e in enumerate(exprs):
        expr, legend = e if isinstance(e, tuple) else (e, "")
        targets.append({"datasource": DS, "expr": expr, "legendFormat": legend, "refId": chr(65 + i)})
    p = {"type": kind, "title": title, "id": next_id, "datasource": DS, "targets": targets,
         "gridPos": {"h": h, "w": w, "x": x, "y": y},
         "fieldConfig": {"defaults": {"unit": unit or "short"}, "overrides": []}, "options": {}}
    if desc:
        p["description"] = desc
    if kind == "stat":
        p["options"] = {"reduceOptions": {"calcs": ["lastNotNull"]}, "colorMode": "value", "graphMode": "none"}
    panels.append(p)
    next_id += 1
    if stack_y and x + w >= 24:
        y += h


def rate(metric, by=None, extra=""):
    sel = "{" + SEL + (("," + extra) if extra else "") + "}"
    inner = f"rate({metric}{sel}[$__rate_interval])"
    return f"sum by ({by}) ({inner})" if by else f"sum({inner})"


def quantile(q, metric, by="le"):
    return f"histogram_quantile({q}, sum by ({by}) (rate({metric}_bucket{{{SEL}}}[$__rate_interval])))"


row("Overview")
panel("stat", "Became public (24 h)", [f'sum(increase(bucketwarden_transitions_total{{{SEL},transition="became_public"}}[24h]))'], w=4, h=4, x=0, stack_y=False)
panel("stat", "Remediated (24 h)", [f'sum(increase(bucketwarden_remediations_total{{{SEL},outcome="remediated"}}[24h]))'], w=4, h=4, x=4, stack_y=False)
panel("stat", "Remediation FAILED (24 h)", [f'sum(increase(bucketwarden_remediations_total{{{SEL},outcome="failed"}}[24h]))'], w=4, h=4, x=8, stack_y=False,
      desc="An exposure bucketwarden could not close: an operator must act (docs/OPERATIONS.md).")
panel("stat", "Poison records (24 h)", [f"sum(increase(bucketwarden_dead_letters_total{{{SEL}}}[24h]))"], w=4, h=4, x=12, stack_y=False)
panel("stat", "Since the last record", [f"time() - max(bucketwarden_last_record_timestamp_seconds{{{SEL}}})"], w=4, h=4, x=16, unit="s", stack_y=False,
      desc="Dead-man's switch: CloudTrail to EventBridge to Kinesis is silent when this grows.")
panel("stat", "Workers up", ['count(up{job="bucketwarden"} == 1)'], w=4, h=4, x=20)

row("Throughput")
panel("timeseries", "Records received and events by outcome", [
    (rate("bucketwarden_records_received_total"), "records received"),
    (rate("bucketwarden_events_applied_total"), "events applied"),
    (rate("bucketwarden_events_skipped_total", "reason"), "skipped {{reason}}"),
    (rate("bucketwarden_events_duplicate_total"), "duplicates"),
    (rate("bucketwarden_events_future_dated_total"), "future-dated (forged or broken clock)"),
], x=0, unit="ops", stack_y=False)
panel("timeseries", "Watched events by name", [(rate("bucketwarden_events_applied_total", "event_name"), "{{event_name}}")], x=12, unit="ops")
panel("timeseries", "Records read per shard", [(rate("bucketwarden_shard_records_read_total", "shard_id"), "{{shard_id}}")], x=0, unit="ops", stack_y=False)
panel("timeseries", "Bytes read per shard", [(rate("bucketwarden_shard_read_bytes_total", "shard_id"), "{{shard_id}}")], x=12, unit="Bps")

row("Lag per shard")
panel("timeseries", "MillisBehindLatest per shard", [(f"max by (shard_id) (bucketwarden_shard_millis_behind_latest{{{SEL}}})", "{{shard_id}}")], x=0, unit="ms", stack_y=False)
panel("timeseries", "Iterator expiries and GetRecords latency (p99)", [
    (rate("bucketwarden_shard_iterator_expiries_total", "shard_id"), "expiries {{shard_id}}"),
    (quantile(0.99, "bucketwarden_get_records_latency_seconds"), "GetRecords p99 (s)"),
], x=12)

row("Remediations and failures")
panel("timeseries", "Transitions", [(rate("bucketwarden_transitions_total", "transition"), "{{transition}}")], x=0, unit="ops", stack_y=False)
panel("timeseries", "Remediations and alerts by outcome", [
    (rate("bucketwarden_remediations_total", "action, outcome"), "{{action}} {{outcome}}"),
    (rate("bucketwarden_alerts_total", "outcome"), "alert {{outcome}}"),
], x=12, unit="ops")
panel("timeseries", "Decisions by action", [(rate("bucketwarden_decisions_total", "action"), "{{action}}")], x=0, unit="ops", stack_y=False)
panel("timeseries", "Verification before acting", [(rate("bucketwarden_verifications_total", "result"), "{{result}}")], x=12, unit="ops",
      desc="exposed: still exposed, acted on; not_exposed: already fixed; error: could not read S3.")
panel("timeseries", "Alerts owed (outbox)", [(f"max(bucketwarden_alerts_owed{{{SEL}}})", "owed")], x=0, stack_y=False,
      desc="Incidents recorded whose SNS alert is not yet sent: the outbox's backlog, fleet-wide (every worker reports the same). 0 on a healthy fleet; it grows while SNS fails and drains when SNS answers again.")
panel("timeseries", "Oldest owed alert", [(f"max(bucketwarden_alert_owed_age_seconds{{{SEL}}})", "age")], x=12, unit="s",
      desc="Seconds since the oldest owed alert's incident was detected (0 when none is owed). See BucketwardenAlertsOwed.")

row("Decision latency")
panel("timeseries", "eventTime to action done (p50, p90, p99)", [
    (quantile(0.5, "bucketwarden_decision_latency_seconds"), "p50"),
    (quantile(0.9, "bucketwarden_decision_latency_seconds"), "p90"),
    (quantile(0.99, "bucketwarden_decision_latency_seconds"), "p99"),
], x=0, unit="s", stack_y=False)
panel("timeseries", "Record arrival to remediation applied (p50, p99)", [
    (quantile(0.5, "bucketwarden_remediation_latency_seconds"), "p50"),
    (quantile(0.99, "bucketwarden_remediation_latency_seconds"), "p99"),
], x=12, unit="s")

row("Leases and fleet balance")
panel("timeseries", "Leases held per worker", [(f"sum by (instance) (bucketwarden_leases_held{{{SEL}}})", "{{instance}}")], x=0, stack_y=False)
panel("timeseries", "Fleet: open shards vs leased shards", [
    (f"max(bucketwarden_fleet_shards{{{SEL}}})", "open shards"),
    (f"min(bucketwarden_fleet_leased_shards{{{SEL}}})", "leased shards"),
], x=12)
panel("timeseries", "Leases taken, stolen, lost; batches abandoned", [
    (rate("bucketwarden_leases_taken_total"), "taken"),
    (rate("bucketwarden_leases_stolen_total"), "stolen"),
    (rate("bucketwarden_leases_lost_total"), "lost"),
    (rate("bucketwarden_batches_abandoned_total"), "batches abandoned"),
], x=0, unit="ops", stack_y=False)
panel("timeseries", "Checkpoints: latency (p99) and conflicts", [
    (quantile(0.99, "bucketwarden_checkpoint_latency_seconds"), "latency p99 (s)"),
    (rate("bucketwarden_checkpoint_conflicts_total"), "conflicts/s"),
], x=12)

row("Errors and poison records")
panel("timeseries", "Malformed and dead-lettered records", [
    (rate("bucketwarden_events_malformed_total"), "malformed"),
    (rate("bucketwarden_dead_letters_total"), "dead-lettered"),
    (rate("bucketwarden_events_oddities_total", "field"), "odd field {{field}} (decided anyway)"),
], x=0, unit="ops", stack_y=False)
panel("timeseries", "Throttling by service", [(rate("bucketwarden_throttles_total", "service"), "{{service}}")], x=12, unit="ops")
panel("timeseries", "Dedup and state store latency (p99)", [
    (quantile(0.99, "bucketwarden_dedup_latency_seconds"), "dedup claim"),
    (quantile(0.99, "bucketwarden_state_latency_seconds", "le, op"), "state {{op}}"),
], x=0, unit="s", stack_y=False)
panel("table", "Versions running", [(f"max by (instance, version) (bucketwarden_build_info{{{SEL}}})", "")], x=12)

row("Reconciliation")
panel("timeseries", "Reconciler and drift", [
    (f"sum by (instance) (bucketwarden_reconcile_leader{{{SEL}}})", "leader {{instance}}"),
    (f"sum(increase(bucketwarden_reconcile_drift_total{{{SEL}}}[1h]))", "drift found (1 h)"),
    (f"sum(increase(bucketwarden_reconcile_buckets_read_total{{{SEL}}}[1h]))", "buckets re-read (1 h)"),
    (f"sum(increase(bucketwarden_reconcile_passes_total{{{SEL}}}[1h]))", "passes (1 h)"),
], x=0, stack_y=False, desc="Exactly one worker should be the reconciler; drift is an exposure change the stream did not show.")
panel("timeseries", "Reconciliation pass duration (p99)", [
    (quantile(0.99, "bucketwarden_reconcile_duration_seconds"), "p99"),
], x=12, unit="s")

row("Accounts")
panel("stat", "Accounts covered", [f"max(bucketwarden_accounts_covered{{{SEL}}})"], w=6, h=4, x=0, stack_y=False,
      desc="The fleet's own account and the members whose last AssumeRole worked (members are assumed on first use).")
panel("stat", "Member accounts failing", [f"max(bucketwarden_accounts_failing{{{SEL}}})"], w=6, h=4, x=6,
      desc="Members whose last AssumeRole failed: the fleet backs off and retries them; their buckets are not guarded meanwhile.")
panel("timeseries", "AssumeRole calls and unreachable members", [
    (f"sum by (outcome) (increase(bucketwarden_assume_role_total{{{SEL}}}[1h]))", "AssumeRole {{outcome}} (1 h)"),
    (f"sum(increase(bucketwarden_reconcile_accounts_unreachable_total{{{SEL}}}[1h]))", "members skipped by reconciliation (1 h)"),
    (f"sum by (outcome) (increase(bucketwarden_organization_listings_total{{{SEL}}}[1h]))", "organization listings {{outcome}} (1 h)"),
], x=12, h=8, stack_y=True, desc="At most one AssumeRole per member per credential lifetime, plus renewals; a steady error count is a member's role missing or denying. With allowed = \"organization\", a failed listing keeps the last good list of accounts.")
panel("stat", "Organization accounts listed", [f"max(bucketwarden_organization_accounts{{{SEL}}})"], w=6, h=4, x=0, stack_y=False,
      desc="allowed = \"organization\": ACTIVE accounts in the last good ListAccounts listing (0 before the first, or without \"organization\"): the members acted in.")

dashboard = {
    "__inputs": [{"name": "DS_PROMETHEUS", "label": "Prometheus", "description": "Prometheus scraping the bucketwarden workers",
                  "type": "datasource", "pluginId": "prometheus", "pluginName": "Prometheus"}],
    "__requires": [{"type": "grafana", "id": "grafana", "name": "Grafana", "version": "10.0.0"},
                   {"type": "datasource", "id": "prometheus", "name": "Prometheus", "version": "1.0.0"}],
    "title": "bucketwarden", "uid": "bucketwarden", "schemaVersion": 39, "version": 2, "editable": True,
    "tags": ["bucketwarden", "s3", "security"], "time": {"from": "now-6h", "to": "now"}, "refresh": "30s",
    "templating": {"list": [
        {"name": "DS_PROMETHEUS", "label": "Prometheus", "type": "datasource", "query": "prometheus", "current": {}, "hide": 0},
        {"name": "instance", "label": "Worker", "type": "query", "datasource": DS,
         "query": {"query": "label_values(bucketwarden_build_info, instance)", "refId": "instance"},
         "definition": "label_values(bucketwarden_build_info, instance)",
         "multi": True, "includeAll": True, "allValue": ".*", "current": {"text": "All", "value": "$__all"}, "refresh": 2, "sort": 1},
    ]},
    "panels": panels,
}
out = os.path.join(os.path.dirname(__file__), "..", "grafana", "bucketwarden-dashboard.json")
with open(out, "w") as f:
    json.dump(dashboard, f, indent=2)
    f.write("\n")
print(f"wrote {out}: {sum(1 for p in panels if p['type'] != 'row')} panels")
