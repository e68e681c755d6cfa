"""What a round looks like now: each ticket's stage and runs (``mlgate round status``), and
the comparison that winners are chosen from (``mlgate round compare``).

A ticket of a round is *finished* once its stage-5 gate has passed (decision ``Pass`` or
``Refuted``) and no run of it is still running, *discarded* when a person said so
(``mlgate round discard``), and *active* otherwise. Winners can be chosen only when no ticket
is active.

The comparison takes each ticket's evidence: its newest completed run, with the other seeds
of the same code and config (the mean over them). Per metric it shows the value, the delta
against the round's baseline (``candidate - baseline``) and whether that is better in the
metric's direction; the ticket(s) best on a metric get a *win*, and the recommended winners
are the finished, not refuted tickets with the most wins. The hyperparameter diff lists the
config keys whose values differ between the tickets' evidence runs; the problematic runs are
those that failed (with their failure class) or are still running.

Reading only: the state files are parsed with the standard-library parser, the config is
read raw and nothing is validated with pydantic, so comparing 20 tickets of 5 runs each takes
a fraction of a second.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlgate import constants as C
from mlgate import tickets as T
from mlgate.runs import baselines as B
from mlgate.runs import closure, criteria
from mlgate.rounds.store import Round
from mlgate.state.statefile import StateDoc

#: config keys never shown in the hyperparameter diff (they differ by design).
DIFF_SKIP = ("train.seed", "train.seeds", "file.sha256")


@dataclass
class TicketView:
    """One ticket of a round, as found now."""

    name: str
    state: str  # active | finished | discarded | missing
    stage: int | None = None
    outcome: str | None = None  # the report's Stage 5 Decision (Pass, Refuted, ...)
    review: str | None = None  # the stage-6 gate status
    folder: Path | None = None
    archived: bool = False
    runs: list[closure.RunRecord] = field(default_factory=list)
    evidence: list[closure.RunRecord] = field(default_factory=list)  # one per seed
    why: str = ""  # what an active ticket still waits for, or why it is discarded/missing

    @property
    def latest(self) -> closure.RunRecord | None:
        """The newest run that ended (completed or failed)."""
        ended = [r for r in self.runs if r.status != "Running"]
        return ended[-1] if ended else None

    def value(self, key: str) -> tuple[float | None, int]:
        """The mean of ``key`` over the evidence runs, and how many runs it is over."""
        vals = [v for r in self.evidence if (v := closure._number(r.last.get(key)))
                is not None and math.isfinite(v)]
        if not vals:
            return None, 0
        return math.fsum(vals) / len(vals), len(vals)


def _outcome(folder: Path) -> str | None:
    from mlgate import artifacts as A

    try:
        art = A.load(folder, A.REPORT)
    except Exception:  # an unreadable report: no outcome yet
        return None
    if art is None:
        return None
    return A.enum_value(art.value("Gate Decision", "Stage 5 Decision"), A.STAGE5_DECISIONS)


def view_tickets(root: Path, rnd: Round, branch_prefix: str) -> list[TicketView]:
    """The round's tickets as they are now, in the round's order."""
    locs = {loc.name: loc for loc in T.find_tickets(root, branch_prefix, include_done=True)}
    merged = rnd.merged or {}
    out = []
    for name in rnd.tickets:
        loc = locs.get(name)
        if loc is None:
            tag = (merged.get("losers") or {}).get(name)
            why = f"removed at the merge; its branch is kept as tag {tag}" if tag else \
                "not found in any worktree"
            if name in rnd.discarded:
                out.append(TicketView(name, "discarded", why=f"{rnd.discarded[name]}; {why}"))
            else:
                out.append(TicketView(name, "missing", why=why))
            continue
        v = TicketView(name, "active", folder=loc.folder, archived=loc.location == C.DONE)
        try:
            doc = StateDoc.load(loc.state_file)
            v.stage = doc.snapshot.current_stage
            g5 = doc.gates.get(5)
            g6 = doc.gates.get(6)
            passed5 = g5 is not None and g5.status == "Pass"
            v.review = g6.status if g6 is not None else None
        except Exception as exc:  # an unreadable state file: reported, never guessed
            passed5 = False
            v.why = f"state file unreadable: {str(exc).splitlines()[0]}"
        v.runs = closure.load_runs(loc.folder)
        v.outcome = _outcome(loc.folder)
        done = [r for r in v.runs if r.completed]
        if done:
            v.evidence = criteria.seed_set_of(done, done[-1].run)
        running = [r.run for r in v.runs if r.status == "Running"]
        if name in rnd.discarded:
            v.state, v.why = "discarded", rnd.discarded[name]
        elif (passed5 or v.archived) and not running:
            v.state = "finished"
        elif not v.why:
            v.why = (f"{', '.join(running)} still running" if running else
                     f"stage {v.stage}: the stage-5 gate has not passed yet")
        out.append(v)
    return out


def _flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.update(_flatten(v, f"{prefix}{k}."))
    else:
        out[prefix[:-1]] = obj
    return out


def hyperparameter_diff(views: list[TicketView]) -> dict[str, dict[str, Any]]:
    """``{config key: {ticket: value}}`` for the keys whose values differ between the
    tickets' evidence runs (seeds left out)."""
    flat = {v.name: _flatten(v.evidence[-1].meta.get("config") or {})
            for v in views if v.evidence}
    keys: list[str] = []
    for cfg in flat.values():
        keys += [k for k in cfg if k not in keys]
    out = {}
    for k in keys:
        if k in DIFF_SKIP:
            continue
        values = {t: cfg.get(k) for t, cfg in flat.items()}
        if len({json.dumps(v, sort_keys=True, default=str) for v in values.values()}) > 1:
            out[k] = values
    return out


def compare(root: Path, rnd: Round, base: B.Baselines, branch_prefix: str,
            metrics: list[str] | None = None) -> dict[str, Any]:
    """The comparison of ``mlgate round compare`` as data (the JSON of ``--json``)."""
    views = view_tickets(root, rnd, branch_prefix)
    entry = base.entry(rnd.baseline) if rnd.baseline is not None else base.current
    with_runs = [v for v in views if v.evidence and v.state != "discarded"]
    if metrics is None:
        common: list[str] | None = None
        for v in with_runs:
            keys = [k for k in v.evidence[-1].metric_keys()]
            common = keys if common is None else [k for k in common if k in keys]
        metrics = common or []
    direction = {k: (entry.direction.get(k) if entry is not None and k in entry.direction
                     else None) or next((v.evidence[-1].direction.get(k) for v in with_runs
                                         if v.evidence[-1].direction.get(k)), None)
                 or B.heuristic_direction(k) for k in metrics}
    rows = []
    best: dict[str, list[str]] = {}
    for k in metrics:
        scored = [(v.name, v.value(k)[0]) for v in with_runs if v.state == "finished"]
        scored = [(n, x) for n, x in scored if x is not None]
        if scored:
            sign = -1.0 if direction[k] == "min" else 1.0
            top = max(sign * x for _, x in scored)
            best[k] = [n for n, x in scored if sign * x == top]
    for v in views:
        values = {}
        for k in metrics:
            x, n = v.value(k)
            b = entry.metrics.get(k) if entry is not None else None
            delta = x - b if x is not None and b is not None else None
            better = None if delta is None or delta == 0 else (
                (delta < 0) == (direction[k] == "min"))
            values[k] = {"value": x, "n": n, "baseline": b, "delta": delta, "better": better}
        latest = v.latest
        rows.append({
            "ticket": v.name, "state": v.state, "stage": v.stage, "outcome": v.outcome,
            "review": v.review, "why": v.why,
            "latest_run": latest.run if latest else None,
            "latest_status": latest.status if latest else None,
            "evidence_runs": [r.run for r in v.evidence], "seeds": len(v.evidence),
            "values": values, "wins": sum(v.name in w for w in best.values())})
    problems = [{"ticket": v.name, "run": r.run, "status": r.status,
                 "failure_class": r.failure_class}
                for v in views for r in v.runs if r.status != "Completed"]
    waiting = [{"ticket": v.name, "why": v.why} for v in views if v.state == "active"]
    eligible = [r for r in rows if r["state"] == "finished" and r["outcome"] != "Refuted"
                and r["evidence_runs"]]
    top_wins = max((r["wins"] for r in eligible), default=0)
    recommended = [r["ticket"] for r in eligible if r["wins"] == top_wins and top_wins > 0] \
        if not waiting else []
    return {
        "round": rnd.name, "status": rnd.status, "base_branch": rnd.base_branch,
        "base_commit": rnd.base_commit,
        "baseline": None if entry is None else {"id": entry.id, "metrics": entry.metrics},
        "metrics": metrics, "direction": direction, "tickets": rows, "wins": best,
        "ranking": sorted(({"ticket": r["ticket"], "wins": r["wins"]} for r in rows),
                          key=lambda r: -r["wins"]),
        "hyperparameters": hyperparameter_diff([v for v in views if v.state != "discarded"]),
        "problems": problems, "ready": not waiting, "waiting": waiting,
        "recommended": recommended, "merged": rnd.merged}


def status(root: Path, rnd: Round, branch_prefix: str) -> dict[str, Any]:
    """``mlgate round status``: each ticket's stage and latest finished run."""
    views = view_tickets(root, rnd, branch_prefix)
    rows = []
    for v in views:
        latest = v.latest
        rows.append({"ticket": v.name, "state": v.state, "stage": v.stage,
                     "outcome": v.outcome, "why": v.why,
                     "latest_run": latest.run if latest else None,
                     "latest_status": latest.status if latest else None,
                     "failure_class": latest.failure_class if latest else None,
                     "metrics": {k: latest.last[k] for k in latest.metric_keys()}
                     if latest else {}, "runs": len(v.runs)})
    return {"round": rnd.name, "status": rnd.status, "base_branch": rnd.base_branch,
            "base_commit": rnd.base_commit, "baseline": rnd.baseline, "tickets": rows,
            "ready": all(v.state != "active" for v in views), "merged": rnd.merged}


# -- text --------------------------------------------------------------------------------


def _num(x: Any, signed: bool = False) -> str:
    if x is None:
        return "-"
    text = f"{x:.4g}" if isinstance(x, float) else str(x)
    return f"+{text}" if signed and not text.startswith("-") and x != 0 else text


def status_text(d: dict[str, Any]) -> str:
    lines = [f"round {d['round']} ({d['status']}), from {d['base_branch']} at "
             f"{str(d['base_commit'] or '?')[:12]}, baseline {d['baseline'] or 'none'}"]
    for r in d["tickets"]:
        stage = "-" if r["stage"] is None else str(r["stage"])
        run = (f"{r['latest_run']} {r['latest_status']}" + (
            f" ({r['failure_class']})" if r["latest_status"] == "Failed" else "")
            if r["latest_run"] else "no finished run")
        metrics = " ".join(f"{k}={_num(v)}" for k, v in list(r["metrics"].items())[:4])
        extra = f"  [{r['outcome']}]" if r["outcome"] else ""
        lines.append(f"  {r['ticket']:<24} {r['state']:<10} stage {stage:<2} {run:<22} "
                     f"{metrics}{extra}" + (f"  - {r['why']}" if r["why"] and r["state"]
                                            != "finished" else ""))
    lines.append("winner selection: " + ("ready (every ticket finished or discarded)" if
                                          d["ready"] else "waits for the active tickets"))
    return "\n".join(lines)


def compare_text(d: dict[str, Any]) -> str:
    base = d["baseline"]
    lines = [f"round {d['round']} ({d['status']}): baseline "
             + (f"{base['id']}" if base else "none") + f", {len(d['tickets'])} tickets"]
    metrics = d["metrics"]
    head = f"  {'ticket':<22} {'state':<10} {'runs':<6}" + "".join(
        f" {k + (' (min)' if d['direction'][k] == 'min' else ''):>24}" for k in metrics) \
        + "  wins"
    lines.append(head)
    if base:
        lines.append(f"  {'baseline':<22} {'':<10} {'':<6}" + "".join(
            f" {_num(base['metrics'].get(k)):>24}" for k in metrics))
    for r in d["tickets"]:
        cells = []
        for k in metrics:
            v = r["values"][k]
            mark = "*" if r["ticket"] in d["wins"].get(k, []) else " "
            cell = f"{_num(v['value'])} ({_num(v['delta'], True)}){mark}" \
                if v["value"] is not None else "-"
            cells.append(f" {cell:>24}")
        runs = f"{r['seeds']}" if r["evidence_runs"] else "-"
        lines.append(f"  {r['ticket']:<22} {r['state']:<10} {runs:<6}" + "".join(cells)
                     + f"  {r['wins']}" + (f"  [{r['outcome']}]" if r["outcome"] ==
                                           "Refuted" else ""))
    lines.append("  (value (delta against the baseline); * best on that metric; runs: the "
                 "seeds the value is the mean of)")
    if d["hyperparameters"]:
        lines.append("hyperparameters that differ:")
        for k, vals in d["hyperparameters"].items():
            lines.append(f"  {k}: " + ", ".join(f"{t}={json.dumps(v, default=str)}"
                                                 for t, v in vals.items()))
    if d["problems"]:
        lines.append("problematic runs:")
        for p in d["problems"]:
            lines.append(f"  {p['ticket']} {p['run']}: {p['status']}"
                         + (f" ({p['failure_class']})" if p["failure_class"] else ""))
    if d["waiting"]:
        lines.append("winner selection waits for: " + "; ".join(
            f"{w['ticket']} ({w['why']})" for w in d["waiting"]))
    elif d["recommended"]:
        lines.append("recommended winner(s): " + ", ".join(d["recommended"])
                     + f" (most wins); merge with `mlgate round merge {d['round']} "
                     + " ".join(d["recommended"]) + " --by NAME`")
    else:
        lines.append("no ticket is eligible to win (none finished with a Pass)")
    return "\n".join(lines)
