"""The ``train`` stage-5 handler (SPEC §9): launch a training run, follow it, record evidence.

``mlgate run train`` → :meth:`TrainHandler.run`:

1. **launch** the configured ``train.command`` as a new ``runs/RUN-NNN/`` through
   :mod:`mlgate.runs.core` (launcher ``local``/``torchrun``/``slurm``);
2. **follow** it with the watchdog (:func:`mlgate.runs.watch.run_with_retries`), which classifies
   the end (``completed``/``crashed``/``oom``/``nan``/``stalled``/``timeout``) and relaunches
   an ``oom`` with a halved ``{batch_size}`` up to ``train.oom_retries`` times, each attempt
   its own run;
3. **collect** every run of the ticket, close the success criteria of ``requirements.md``
   (:func:`mlgate.runs.closure.evaluate`) and write the report rows
   (:func:`mlgate.runs.closure.write_report_rows`) with the baseline of ``baselines.yaml``.

Result status: ``Pass`` when the newest run completed and logged metrics and at least one
plot, and the report rows were written: criteria that fail are still a valid experiment (the
stage-5 gate and the people decide). ``Fail`` when the newest run ended ``crashed``, ``nan``,
``stalled``, ``timeout`` or ``oom`` after the retries, or the evidence could not be written.

**Detached** (``mlgate run train --detach``, ``ctx.detach``): the run is launched and the
handler returns at once with status ``Blocked`` and a ``run`` check saying
``RUN-00N launched detached; follow it with `mlgate watch RUN-00N```: no evidence exists yet.
The Run Registry gets a ``Running`` row. When the run has ended, collect the evidence without
launching anything with ``ctx.run_options["collect"] = True`` (CLI: ``mlgate run train
--collect``).

``ctx.run_options["collect"] = "RUN-003"`` (CLI: ``mlgate run train --collect RUN-003``)
first imports that run's metrics again from its metric source (``train.metrics``, or
``run_options["metrics"]``, CLI ``--metrics``: wandb, csv, tensorboard, stdout; see
:mod:`mlgate.runs.sources`), rewrites its summary and plots, and then collects as above; the
result has a ``collect`` check first.

**Registry** (``ctx.evidence_registry``, set by the workspace): every launch registers the
run's ``meta.json`` as launched by mlgate before the training starts; when such a run has
ended, its ``meta.json``, ``summary.json`` and ``metrics.jsonl`` are registered as
collected. A run folder mlgate never launched is left out of the report (check ``registry``
fails): gates count only registered runs.

Per-invocation options (``ctx.run_options``): ``collect`` (bool, or a run id), ``metrics``
(a metric source for ``collect`` RUN), ``purpose`` (str, the Run Registry Purpose of the
launched run(s)), ``seeds`` (list of int, CLI ``--seed N``: one run per seed, each with its
own OOM retries; it replaces ``train.seeds`` for this invocation, so the runs are one seed
group and, on Slurm, one array job).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlgate.runs import baselines as baselines_mod
from mlgate.runs import closure
from mlgate.constants import RUNS_DIR
from mlgate.errors import MissingExtra, MlgateError
from mlgate.evidence.registry import options_hash
from mlgate.evidence.results import CheckResult, HandlerContext, HandlerResult

__all__ = ["TrainHandler"]

REPORT = closure.REPORT_FILE


@dataclass
class _Launch:
    """What the launch step produced."""

    runs: list[str]  # run ids started by this invocation, oldest first
    error: str | None = None
    detail: str = ""


def _run_id(obj: Any) -> str | None:
    """The run id of whatever the runner returned (RunHandle, RunInfo, dict or str)."""
    if isinstance(obj, str):
        return obj
    if isinstance(obj, dict):
        return obj.get("run") or obj.get("run_id")
    for attr in ("run_id", "run"):
        value = getattr(obj, attr, None)
        if isinstance(value, str):
            return value
    return None


class TrainHandler:
    """Stage-5 handler ``train``; options are the ``train:`` block of ``mlgate.yaml``."""

    name = "train"
    stages = (5,)

    def run(self, ctx: HandlerContext) -> HandlerResult:
        opts = dict(ctx.options or {})
        config = dict(ctx.config or {})
        wandb_cfg = dict(config.get("wandb") or {})
        collect_only = bool(ctx.run_options.get("collect"))
        checks: list[CheckResult] = []
        collect_run = ctx.run_options.get("collect")
        if isinstance(collect_run, str) and collect_run not in ("", "all"):
            check = self._collect_run(ctx, opts, collect_run)
            checks.append(check)
            if check.status == "fail":
                return self._result(ctx, "Fail", checks, [], {})

        launched = _Launch(runs=[])
        if not collect_only:
            t0 = time.perf_counter()
            launched = self._launch(ctx, opts, wandb_cfg)
            secs = round(time.perf_counter() - t0, 3)
            if launched.error is not None:
                checks.append(CheckResult("launch", "fail", launched.error, secs))
                return self._result(ctx, "Fail", checks, [], {})
            checks.append(CheckResult("launch", "pass", launched.detail, secs))

        records = closure.load_runs(ctx.folder)
        if ctx.evidence_registry is not None:
            records, stray = self._register_runs(ctx, records, launched.runs)
            if stray:
                checks.append(CheckResult(
                    "registry", "fail", f"{', '.join(f'{RUNS_DIR}/{r}' for r in stray)}: not "
                    "launched by mlgate (no evidence registry entry), left out of the report; "
                    "an invented run counts for nothing: delete it"))
        by_id = {r.run: r for r in records}
        mine = [by_id[r] for r in launched.runs if r in by_id] if launched.runs else records
        if not collect_only and not mine:
            checks.append(CheckResult("run", "fail", f"the launcher reported "
                                      f"{', '.join(launched.runs) or 'no run'} but no such "
                                      f"folder exists under {RUNS_DIR}/"))
            return self._result(ctx, "Fail", checks, [], {})
        if not records:
            checks.append(CheckResult("run", "fail", f"no runs under {ctx.folder / RUNS_DIR}"
                                      "\nhint: mlgate run train (without --collect) "
                                      "launches one"))
            return self._result(ctx, "Fail", checks, [], {})
        newest = mine[-1]

        if newest.status == "Running":
            ctx.report(f"{newest.run} is running")
            checks.append(CheckResult(
                "run", "skipped", f"{newest.run} launched detached; follow it with "
                f"`mlgate watch {newest.run}`" if ctx.detach and not collect_only else
                f"{newest.run} is still running; follow it with `mlgate watch {newest.run}`"))
            checks += self._write_rows(ctx, config, records, running=True,
                                       launched=launched.runs)
            return self._result(ctx, "Blocked", checks, mine, {})

        checks.append(self._run_check(newest, records))
        if len({r.meta.get("seed") for r in mine}) > 1:
            checks.append(_seeds_check(mine))
        completed = [r for r in records if r.completed]
        metrics: dict[str, Any] = {}
        latest_ok = newest if newest.completed else (completed[-1] if completed else None)
        if latest_ok is not None:
            metrics = {k: latest_ok.last[k] for k in latest_ok.metric_keys()}
        monitoring = closure.read_monitoring_keys(ctx.folder / _profile(ctx).plan)
        if newest.completed:
            checks.append(self._metrics_check(newest, monitoring))
            checks.append(self._plots_check(newest))
        else:
            why = f"{newest.run} did not complete"
            checks.append(CheckResult("metrics", "skipped", why))
            checks.append(CheckResult("plots", "skipped", why))
        checks += self._write_rows(ctx, config, records, running=False,
                                   monitoring=monitoring, launched=launched.runs)
        status = "Pass" if all(c.status != "fail" for c in checks) else "Fail"
        return self._result(ctx, status, checks, mine, metrics)

    # -- steps ---------------------------------------------------------------------------

    def _register_runs(self, ctx: HandlerContext, records: list[closure.RunRecord],
                       launched: list[str]) -> tuple[list[closure.RunRecord], list[str]]:
        """The runs that are mlgate's (launched now, or launched earlier and registered at
        launch); the records of those that ended and were not collected yet are registered
        now. Returns them, and the run folders mlgate never launched."""
        ledger = ctx.evidence_registry
        mine, stray = [], []
        for r in records:
            ours = r.run in launched or ledger.launched(r.run) is not None
            collected = ledger.collected(r.run)
            if not (ours or collected):
                stray.append(r.run)
                continue
            mine.append(r)
            if collected or r.status == "Running":
                continue
            for rec in ("meta.json", "summary.json", "metrics.jsonl"):
                if (r.path / rec).is_file():
                    ledger.register(ctx.folder, f"{RUNS_DIR}/{r.run}/{rec}", kind="run",
                                    handler=self.name, stage=ctx.stage,
                                    commit=r.meta.get("commit"),
                                    options=options_hash(ctx.options),
                                    dirty=ctx.dirty_files if r.run in launched else (),
                                    run=r.run)
        return mine, stray

    def _launch(self, ctx: HandlerContext, opts: dict[str, Any],
                wandb_cfg: dict[str, Any]) -> _Launch:
        if not opts.get("command"):
            return _Launch([], error=(
                "train.command is not set in mlgate.yaml\nhint: add e.g.\n  train:\n    "
                "command: \"python train.py --batch-size {batch_size} --grad-accum "
                "{grad_accum}\""))
        on_launch = None
        if ctx.evidence_registry is not None:
            def on_launch(run_id: str, run_dir: Path) -> None:
                """The run is mlgate's: registered as launched before it starts."""
                ctx.evidence_registry.register(
                    ctx.folder, f"{RUNS_DIR}/{run_id}/meta.json", kind="launch",
                    handler=self.name, stage=ctx.stage, commit=ctx.commit,
                    options=options_hash(ctx.options), dirty=ctx.dirty_files)
        if ctx.run_options.get("seeds"):  # `mlgate run train --seed N ...` is train.seeds
            opts = dict(opts, seeds=[int(s) for s in ctx.run_options["seeds"]])
        seeds = list(opts.get("seeds") or []) or [None]
        try:
            if ctx.detach:
                from mlgate.runs import core as runs

                handles = runs.launch_detached(ctx.folder, ctx.ticket, opts, ctx.worktree,
                                               ctx.commit, ctx.dirty, wandb_cfg,
                                               on_launch=on_launch)
                run_ids = [r for r in (_run_id(h) for h in handles) if r]
                ids = ", ".join(run_ids)
                ctx.report(f"launched {ids} ({opts.get('launcher', 'local')}, detached)")
                return _Launch(run_ids, detail=f"{ids} launched detached "
                                               f"({opts.get('launcher', 'local')})")
            from mlgate.runs import watch

            finished = watch.run_seeds(  # one run, or one per train.seeds
                ctx.folder, ctx.ticket, opts, ctx.worktree, ctx.commit, ctx.dirty, wandb_cfg,
                progress=ctx.progress, on_launch=on_launch)
        except MissingExtra:
            raise  # e.g. submitit for launcher slurm: `mlgate run` exits 4 naming the extra
        except MlgateError as exc:
            return _Launch([], error=f"could not launch {opts.get('command')!r}: "
                                     f"{exc.message}")
        except OSError as exc:
            return _Launch([], error=f"could not launch {opts.get('command')!r}: {exc}")
        ids = [i for i in (_run_id(f) for f in finished) if i]
        detail = (f"{', '.join(ids)} ({opts.get('launcher', 'local')}"
                  f"{', with OOM retries' if len(ids) > len(seeds) else ''}"
                  + (f", seeds {', '.join(map(str, seeds))}" if seeds != [None] else "") + ")")
        return _Launch(ids, detail=detail)

    @staticmethod
    def _collect_run(ctx: HandlerContext, opts: dict[str, Any], run_id: str) -> CheckResult:
        """``--collect RUN``: import run ``run_id``'s metrics again from its metric source
        (``train.metrics``, or ``ctx.run_options["metrics"]``) and rewrite its summary and
        plots."""
        from mlgate.runs import core as runs

        t0 = time.perf_counter()
        kind = ctx.run_options.get("metrics") or opts.get("metrics")
        try:
            run_dir = runs.resolve_run_dir(ctx.folder, run_id)
            meta = runs.read_meta(run_dir)
            if meta.get("status") not in ("completed", "failed") and runs.run_alive(run_dir,
                                                                                    meta):
                return CheckResult("collect", "fail", f"{run_dir.name} is still running; "
                                   f"follow it with `mlgate watch {run_dir.name}` and collect "
                                   f"it when it has ended")
            got = runs.collect_metrics(run_dir, kind=kind, regex=opts.get("metrics_regex"),
                                       force=True)
            runs.complete_records(run_dir)
        except MlgateError as exc:
            return CheckResult("collect", "fail", f"{run_id}: {exc.message}",
                               round(time.perf_counter() - t0, 3))
        secs = round(time.perf_counter() - t0, 3)
        if got.get("kind") in (None, "none"):
            return CheckResult("collect", "fail", f"{run_dir.name}: no metrics found: "
                               f"{got.get('error') or ''}\nhint: choose the source with "
                               f"`--metrics wandb|csv|tensorboard|stdout` (or train.metrics "
                               f"and train.metrics_regex in mlgate.yaml)", secs)
        if got["kind"] == "track":
            detail = f"{run_dir.name}: metrics.jsonl written by mlgate.track"
        else:
            detail = (f"{run_dir.name}: {got.get('rows')} row(s) of "
                      f"{', '.join(got.get('keys') or [])} from {got['kind']} "
                      f"({got.get('path')})")
        if got.get("warning"):
            detail += f"; warning: {got['warning']}"
        return CheckResult("collect", "pass", detail, secs)

    @staticmethod
    def _run_check(newest: closure.RunRecord, records: list[closure.RunRecord]
                   ) -> CheckResult:
        by_id = {r.run: r for r in records}
        retried: list[closure.RunRecord] = []  # the OOM chain that led to ``newest``
        parent = newest.meta.get("parent_run")
        while parent in by_id and by_id[parent] not in retried:
            retried.insert(0, by_id[parent])
            parent = by_id[parent].meta.get("parent_run")
        chain = ""
        if retried:
            chain = " after " + ", ".join(
                f"{r.run} {r.failure_class or r.status.lower()} (batch_size "
                f"{r.meta.get('batch_size')})" for r in retried)
        secs = _duration(newest.meta)
        if newest.completed:
            return CheckResult("run", "pass", f"{newest.run} completed{chain}", secs)
        fc = newest.failure_class or "failed"
        code = newest.meta.get("exit_code")
        detail = f"{newest.run} ended {fc}" + (f" (exit code {code})" if code is not None
                                                else "") + chain
        if fc == "oom":
            detail += ("; out of memory after the retries: lower train.batch_size or raise "
                       "train.oom_retries (the command needs {batch_size} to be retried)")
        detail += f"\nsee {RUNS_DIR}/{newest.run}/train.log"
        return CheckResult("run", "fail", detail, secs)

    @staticmethod
    def _metrics_check(run: closure.RunRecord, monitoring: list[str] | None) -> CheckResult:
        keys = run.metric_keys()
        if not keys:
            src = run.meta.get("metrics_source") or {}
            why = f": {src['error']}" if isinstance(src, dict) and src.get("error") else ""
            return CheckResult("metrics", "fail", f"{run.run} logged no metrics{why}\nhint: "
                               f"log them with mlgate.track (or its Lightning logger / "
                               f"Hugging Face callback), or point train.metrics at the "
                               f"script's own log (wandb, csv, tensorboard, or stdout with "
                               f"train.metrics_regex) and import it with `mlgate run train "
                               f"--collect {run.run}`")
        detail = f"{run.run} logged {len(keys)} metric(s): {', '.join(keys)}"
        if monitoring is not None:
            extra = [k for k in keys if k not in monitoring]
            missing = [k for k in monitoring if k not in keys]
            if extra or missing:
                detail += ("; differs from the plan's Monitoring table (the stage-5 gate "
                           "requires them equal):")
                if missing:
                    detail += f" not logged: {', '.join(missing)};"
                if extra:
                    detail += f" not in the table: {', '.join(extra)};"
                detail = detail.rstrip(";")
        return CheckResult("metrics", "pass", detail)

    @staticmethod
    def _plots_check(run: closure.RunRecord) -> CheckResult:
        if not run.plots:
            return CheckResult("plots", "fail", f"{RUNS_DIR}/{run.run}/viz/ has no plot\nhint: "
                               f"call run.finish() at the end of the training script (it "
                               f"writes the PNG curves)")
        return CheckResult("plots", "pass", f"{len(run.plots)} plot(s) in "
                           f"{RUNS_DIR}/{run.run}/viz/")

    def _write_rows(self, ctx: HandlerContext, config: dict[str, Any],
                    records: list[closure.RunRecord], running: bool,
                    monitoring: list[str] | None = None,
                    launched: list[str] | None = None) -> list[CheckResult]:
        t0 = time.perf_counter()
        report = ctx.folder / REPORT
        purposes = self._purposes(ctx, records, launched or [])
        renames = dict(_profile(ctx).renames)  # the profile's spelling of columns and fields
        try:
            self._ensure_report(ctx, report)
            base = baselines_mod.load(ctx.workspace,
                                      config.get("baseline_file") or baselines_mod.DEFAULT_FILE)
            if running:
                closure.write_report_rows(report, records, [], base, monitoring,
                                          purposes=purposes, renames=renames)
                return [CheckResult("closure", "skipped", "success criteria are closed when "
                                    "the run has ended", round(time.perf_counter() - t0, 3))]
            try:
                criteria = closure.read_success_criteria(
                    ctx.folder / closure.REQUIREMENTS_FILE)
            except MlgateError as exc:
                # Still record the runs; the criteria cannot be closed.
                closure.write_report_rows(report, records, [], base, monitoring,
                                          purposes=purposes, renames=renames)
                return [CheckResult("closure", "fail", f"success criteria not closed: "
                                    f"{exc.message}", round(time.perf_counter() - t0, 3))]
            stats_cfg = dict(config.get("stats") or {})
            closures = closure.evaluate(
                criteria, records, base, min_seeds=int(stats_cfg.get("min_seeds") or 1),
                confidence=float(stats_cfg.get("confidence") or 0.95),
                rubrics=_rubrics(ctx) if any(_has_rubric(c) for c in criteria) else None)
            update = closure.write_report_rows(
                report, records, closures, base, monitoring,
                policy=str(config.get("stage5_policy") or "strict"), purposes=purposes,
                renames=renames)
        except MlgateError as exc:
            return [CheckResult("closure", "fail", f"report rows not written: {exc.message}",
                                round(time.perf_counter() - t0, 3))]
        summary = ", ".join(f"{c.sc_id} {c.decision}" for c in update.closures) or \
            "no success criteria in requirements.md"
        detail = f"{summary}; rows written to {REPORT}"
        if update.suggestion is not None:
            dec, cls, _ = update.suggestion
            detail += (f"; suggested decision {dec}" + (f" ({cls})" if dec != "Pass" else "")
                       + ("" if update.gate_written else
                          " (not written: a person set the Gate Decision)"))
        ctx.report(f"closure: {summary}")
        return [CheckResult("closure", "pass", detail, round(time.perf_counter() - t0, 3))]

    @staticmethod
    def _purposes(ctx: HandlerContext, records: list[closure.RunRecord],
                  launched: list[str]) -> dict[str, str]:
        purpose = ctx.run_options.get("purpose")
        if not purpose:
            return {}
        out = {}
        by_id = {r.run: r for r in records}
        for run_id in launched:
            r = by_id.get(run_id)
            parent = r.meta.get("parent_run") if r is not None else None
            out[run_id] = str(purpose) + (f"; OOM retry of {parent}" if parent else "")
        return out

    @staticmethod
    def _ensure_report(ctx: HandlerContext, report: Path) -> None:
        """Scaffold the report from the stage-5 template when it does not exist yet."""
        if report.exists():
            return
        from mlgate.util import atomic_write

        atomic_write(report, _profile(ctx).stage_template(5, root=ctx.worktree,
                                                           ticket=ctx.ticket))

    def _result(self, ctx: HandlerContext, status: str, checks: list[CheckResult],
                runs: list[closure.RunRecord], metrics: dict[str, Any]) -> HandlerResult:
        return HandlerResult(
            handler=self.name, stage=ctx.stage, status=status, checks=checks,
            metrics=dict(metrics),
            artifacts=[f"{RUNS_DIR}/{r.run}" for r in runs],
            commit=ctx.commit, dirty=bool(ctx.dirty),
            extra={"runs": [{"run": r.run, "status": r.status,
                             "failure_class": r.failure_class,
                             "batch_size": r.meta.get("batch_size")} for r in runs]})


def _has_rubric(c: closure.Criterion) -> bool:
    return c.rubric or any(p.rubric for p in c.parts)


def _rubrics(ctx: HandlerContext) -> Any:
    """The person-recorded rubric results of the ticket (MACs checked with the seal key)."""
    from mlgate import tickets
    from mlgate.runs import rubric
    from mlgate.state.seal import load_key

    return rubric.load(ctx.folder, ctx.ticket or ctx.folder.name,
                       load_key(tickets.key_dir(ctx.workspace)))
def _profile(ctx: HandlerContext) -> Any:
    """The domain profile of the workspace (its plan's name, its report template)."""
    from mlgate import profiles

    return profiles.get(profiles.domain_of((ctx.config or {}).get("profile")))


def _duration(meta: dict[str, Any]) -> float:
    import datetime as dt

    try:
        start = dt.datetime.fromisoformat(str(meta["started"]))
        end = dt.datetime.fromisoformat(str(meta["finished"]))
    except (KeyError, TypeError, ValueError):
        return 0.0
    return round(max((end - start).total_seconds(), 0.0), 3)


def _seeds_check(mine: list[closure.RunRecord]) -> CheckResult:
    """The runs of a ``train.seeds`` set: each seed's last run (after its OOM retries) must
    have completed."""
    parents = {r.meta.get("parent_run") for r in mine}
    last: dict[Any, closure.RunRecord] = {}
    for r in mine:
        if r.run not in parents:
            last[r.meta.get("seed")] = r
    bad = [f"seed {seed}: {r.run} {r.failure_class or r.status.lower()}"
           for seed, r in last.items() if not r.completed]
    listed = ", ".join(f"seed {seed} {r.run}" for seed, r in last.items())
    if bad:
        return CheckResult("seeds", "fail", f"{len(bad)} of {len(last)} seed run(s) did not "
                                            f"complete: {'; '.join(bad)}")
    return CheckResult("seeds", "pass", f"{len(last)} seed runs completed ({listed})")
