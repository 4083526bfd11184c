"""``logconsole alerts``: the alert rules with their last firing and counts,
and ``alerts test NAME`` to try a rule on the stored records."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import click

from logconsole.alert_rules import Rule, RuleState
from logconsole.cli_options import (
    CONTEXT_SETTINGS,
    alert_rules_from,
    config_option,
    db_option,
    db_path_or_default,
    settings_from,
    user_errors,
)
from logconsole.collectors.alerts import Firing
from logconsole.commands.command_helpers import existing_store, say
from logconsole.store.interface import Store
from logconsole.store.query import to_record
from logconsole.store.url import StoreURL
from logconsole.table_view import short_time
from logconsole.timeutil import format_ts, utcnow


def _rules(config_path: Path | None) -> tuple[Rule, ...]:
    return alert_rules_from(settings_from(config_path))


def _states(db_path: Path | StoreURL | None) -> dict[str, RuleState]:
    if not isinstance(db_path, StoreURL) and not db_path_or_default(db_path).is_file():
        return {}
    with existing_store(db_path) as store:
        return store.alert_states()


def _actions(rule: Rule) -> str:
    parts = []
    if rule.command:
        parts.append("command " + " ".join(rule.command))
    if rule.url:
        parts.append("POST " + rule.url)
    return "; ".join(parts) or "record only"


@click.group("alerts", invoke_without_command=True, context_settings=CONTEXT_SETTINGS)
@click.option("--format", "-f", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True,
              help="Output format.")
@config_option
@db_option
@click.pass_context
@user_errors
def alerts(ctx: click.Context, fmt: str, config_path: Path | None, db_path: Path | StoreURL | None) -> None:
    """List the alert rules with their last firing and counts.

    Rules are the [[alerts]] tables of config.toml plus the built-in ones
    (new_group, regression, critical, requires_action); the collector
    evaluates them on every committed batch.  A rule with a mistake is
    reported here as it is when the collector starts.

    \b
    Examples:
        logconsole alerts
        logconsole alerts --format json | jq '.[] | select(.failures > 0)'
        logconsole alerts test regression
    """
    if ctx.invoked_subcommand is not None:
        ctx.obj = (config_path, db_path)
        return
    rules = _rules(config_path)
    states = _states(db_path)
    rows = []
    for rule in rules:
        st = states.get(rule.name, RuleState())
        rows.append({
            "name": rule.name, "enabled": rule.enabled, "builtin": rule.builtin,
            "trigger": rule.describe_trigger(), "condition": rule.describe_condition(),
            "cooldown_s": rule.cooldown, "actions": _actions(rule), "last_fired": st.last_fired,
            "firings": st.firings, "matched": st.matched, "suppressed": st.suppressed, "failures": st.failures,
        })
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    header = ("RULE", "TRIGGER", "CONDITION", "LAST FIRED", "FIRINGS", "MATCHED", "FAILED", "ACTIONS")
    lines = [header] + [(
        r["name"] + ("" if r["enabled"] else " (off)"), r["trigger"], r["condition"],
        short_time(r["last_fired"]) if r["last_fired"] else "never", str(r["firings"]), str(r["matched"]),
        str(r["failures"]), r["actions"],
    ) for r in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header) - 1)]
    for line in lines:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(line, widths)) + "  " + line[-1])


@alerts.command("test", context_settings=CONTEXT_SETTINGS)
@click.argument("name")
@click.pass_obj
@user_errors
def test_rule(obj: tuple[Path | None, Path | None], name: str) -> None:
    """Evaluate rule NAME against the stored records, without running its actions.

    Prints how many stored records (or groups, for new_group and regression)
    the rule matches and the alert JSON its command and URL would receive.

    \b
    Example:
        logconsole alerts test "payments failing"
    """
    config_path, db_path = obj
    rules = {r.name: r for r in _rules(config_path)}
    rule = rules.get(name)
    if rule is None:
        raise click.ClickException(f"no alert rule named {name!r}; rules: {', '.join(rules)}")
    if not isinstance(db_path, StoreURL):
        path = db_path_or_default(db_path)
        if not path.is_file():
            raise click.ClickException(f"no database at {path}")
    with existing_store(db_path) as store:
        n, firing, scope = _try(store, rule)
    off = "" if rule.enabled else " (switched off)"
    say(f"rule {rule.name}{off}: {rule.describe_trigger()}; {rule.describe_condition()}")
    if firing is None:
        click.echo(f"{n} {scope} match: it would not fire")
        return
    click.echo(f"{n} {scope} match: it would fire with")
    click.echo(json.dumps(firing.payload(), indent=2, ensure_ascii=False))


def _try(store: Store, rule: Rule) -> tuple[int, Firing | None, str]:
    """How many stored records (or groups) match ``rule``, and the firing they would make."""
    if rule.trigger in ("new_group", "regression"):
        groups = store.latest_of_groups(regressed=rule.trigger == "regression")
        ids = [latest for _, latest in groups]
        matching = {r["id"] for r in store.page(rule.flt.with_(ids=tuple(ids)), limit=len(ids) or 1)}
        kept = [(gid, latest) for gid, latest in groups if latest in matching]
        if not kept:
            return 0, None, "groups"
        row = store.get(kept[0][1])
        return len(kept), Firing(rule, len(kept), 0, to_record(row) if row else None, kept[0][0]), "groups"
    flt = rule.flt
    scope = "stored records"
    if rule.trigger == "count":
        flt = flt.with_(since=format_ts(utcnow() - timedelta(seconds=rule.window)))
        scope = f"records of the last {rule.describe_trigger().rsplit(' ', 1)[-1]}"
    n = store.count(flt)
    if not n or (rule.trigger == "count" and n < rule.threshold):
        return n, None, scope
    latest = store.page(flt, limit=1)
    record: dict[str, Any] | None = to_record(latest[0]) if latest else None
    return n, Firing(rule, n, 0, record, record.get("group_id") if record else None), scope


COMMANDS: list[click.Command] = [alerts]
