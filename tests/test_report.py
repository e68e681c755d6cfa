"""`mlgate report NAME --html FILE`: one self-contained page, checked as a file and in a real
headless Chromium (screenshot, visible text, and a network log with no request from the page).

The ticket is real (real git worktree, real gates up to stage 4, a real `Plan Impact`
re-entry); its two runs are folders written here in the format `mlgate.track` produces
(meta.json, summary.json, metrics.jsonl, viz/*.png), so the test stays fast.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from mlgate.runs import baselines as B
from mlgate import demo as D
from mlgate.report.html import write_html
from mlgate.util import today
from mlgate.workspace import Workspace

from conftest import write_goal

TICKET = "digits-mlp"
CHROMIUM_APT = "apt-get install -y chromium"


# -- a ticket with history ---------------------------------------------------------------


def _fill(name: str, **extra: str) -> str:
    values = {"ticket": TICKET, "today": today(), "base_acc": "0.7918", "base_loss": "3.9725",
              "n_train": 1259, "n_val": 269, "n_test": 269, "status": "Current"} | extra
    return D._fill(D._data("ticket", name), values)


def _write_run(folder: Path, run: str, epochs: int, accs: list[float], losses: list[float],
               commit: str, plot: bool) -> None:
    d = folder / "runs" / run
    (d / "viz").mkdir(parents=True)
    lines = [json.dumps({"train/loss": l * 1.1, "val/loss": l, "val/acc": a, "step": i + 1})
             for i, (a, l) in enumerate(zip(accs, losses))]
    lines.append(json.dumps({"test/acc": accs[-1] - 0.01, "step": epochs}))
    (d / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    last = {"train/loss": losses[-1] * 1.1, "val/loss": losses[-1], "val/acc": accs[-1],
            "test/acc": accs[-1] - 0.01}
    best = {"train/loss": min(losses) * 1.1, "val/loss": min(losses), "val/acc": max(accs),
            "test/acc": accs[-1] - 0.01}
    (d / "summary.json").write_text(json.dumps({"run": run, "last": last, "best": best,
                                                "direction": {"val/acc": "max"},
                                                "steps": epochs}))
    (d / "meta.json").write_text(json.dumps({
        "run": run, "command": "python train.py --config configs/train.json --batch-size 64",
        "commit": commit, "dirty": False, "seed": 0, "batch_size": 64,
        "config": {"model": "mlp", "epochs": epochs, "lr": 0.01, "seed": 0},
        "data_version": "sha256:5be1c0ffee", "torch": "2.13.0+cpu", "cpu": "x86_64",
        "launcher": "local", "started": "2026-05-04T10:00:00+00:00",
        "finished": "2026-05-04T10:00:09+00:00", "exit_code": 0,
        "failure_class": "completed", "status": "completed"}))
    if plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(4, 3))
        ax.plot(range(1, len(accs) + 1), accs, label="val/acc")
        ax.legend()
        fig.savefig(d / "viz" / "curves.png", dpi=60)
        plt.close(fig)


@pytest.fixture
def ticket(git_repo: Path):
    ws, _ = Workspace.init(git_repo)
    subprocess.run(["git", "add", "-A"], cwd=git_repo, check=True)
    subprocess.run(["git", "commit", "-q", "-m", "mlgate init"], cwd=git_repo, check=True)
    b = B.load(ws.root)
    b.set({"val/acc": 0.7918, "val/loss": 3.9725}, note="naive Bayes")
    b.save()
    t = ws.new_ticket(TICKET)
    write_goal(t.folder)
    t.advance()
    (t.folder / "investigation-notes.md").write_text(_fill("investigation-notes.md"))
    t.advance()
    (t.folder / "requirements.md").write_text(_fill("requirements.md"))
    t.advance()
    (t.folder / "experiment-plan.md").write_text(_fill("experiment-plan.md"))
    t.advance()
    assert t.state.stage == 4
    t.reenter("Plan Impact", "the plan missed the `epochs` setting")
    assert t.state.stage == 1
    head = t.head() or "0" * 40
    _write_run(t.folder, "RUN-001", 1, [0.8736], [0.4713], head, plot=False)
    _write_run(t.folder, "RUN-002", 3, [0.91, 0.95, 0.9703], [0.31, 0.2, 0.1492], head,
               plot=True)
    return ws.ticket(TICKET)


# -- static checks -------------------------------------------------------------------------


class _Refs(HTMLParser):
    """Every URL-bearing attribute, the tags used, and the visible text."""

    URL_ATTRS = {"src", "href", "srcset", "poster", "action", "data", "xlink:href",
                 "formaction", "background", "cite", "manifest"}

    def __init__(self) -> None:
        super().__init__()
        self.refs: list[tuple[str, str, str]] = []
        self.tags: set[str] = set()
        self.text: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        if tag in ("style", "script", "title"):
            self._skip += 1
        for k, v in attrs:
            if k in self.URL_ATTRS and v is not None:
                self.refs.append((tag, k, v))
            if k == "style" and v and "url(" in v:
                self.refs.append((tag, k, v))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script", "title") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip and data.strip():
            self.text.append(data.strip())


def _parse(text: str) -> _Refs:
    p = _Refs()
    p.feed(text)
    return p


def test_report_shows_the_ticket_and_needs_nothing_else(ticket, tmp_path: Path) -> None:
    out = write_html(ticket, tmp_path / "out" / "report.html")
    assert out == (tmp_path / "out" / "report.html").resolve()
    text = out.read_text()
    page = _parse(text)
    visible = " ".join(page.text)
    # what an engineer looks for
    for s in [f"Ticket {TICKET}", "codex/digits-mlp", "1 Investigation", "4 Implementation",
              "8 Handoff", "T-001", "T-005", "Plan Impact", "RUN-001", "RUN-002",
              "0.9703", "0.7918", "+0.1785", "SC-001", "SC-002", "val/acc", "not verified"]:
        assert s in visible, f"{s!r} not visible in the report"
    assert "the plan missed the epochs setting" in visible.replace("`", "")
    # self-contained: no scripts, stylesheets, frames; every reference is inline or relative
    assert not page.tags & {"script", "link", "iframe", "object", "embed", "base"}
    assert "@import" not in text
    assert not re.search(r"url\(\s*['\"]?(?!#)", text), "a url() that is not a local #fragment"
    for tag, attr, value in page.refs:
        assert "://" not in value, f"<{tag} {attr}={value[:60]!r}> leaves the page"
        assert not value.startswith("//"), value
    images = [v for tag, a, v in page.refs if tag == "img"]
    assert images and all(v.startswith("data:image/png;base64,") for v in images)
    # RUN-001 has no PNG: its curves are drawn inline from metrics.jsonl, by the same
    # matplotlib code as the comparison charts (one chart path, no hand-written SVG charts)
    assert text.count('<svg class="chart"') >= 3 and 'class="curve"' not in text
    # the stage diagram and the timeline are inline SVG, re-entry drawn
    assert "<svg class=\"diagram\"" in text and "<svg class=\"timeline\"" in text
    assert 'class="reentry"' in text
    # artifact links are relative and resolve to the ticket's files
    links = [v for tag, a, v in page.refs if tag == "a" and a == "href" and not v.startswith("#")]
    assert any(v.endswith("experiment-plan.md") for v in links)
    for v in links:
        from urllib.parse import unquote

        assert (out.parent / unquote(v)).exists(), f"broken artifact link {v}"


def test_report_compares_with_the_baseline_the_ticket_replaced(ticket, tmp_path: Path) -> None:
    """After `archive --promote`, the current baseline is the ticket's own run; the page
    still compares with the baseline it replaced, and says so."""
    b = B.load(ticket.ws.root)
    b.promote_run(ticket.folder / "runs" / "RUN-002", TICKET, ticket.head())
    b.save()
    text = write_html(ticket, tmp_path / "r.html").read_text()
    visible = " ".join(_parse(text).text)
    assert "promoted from this ticket" in visible
    assert "+0.1785" in visible  # still against 0.7918, not against itself (+0.0000)


def test_report_of_a_fresh_ticket(git_repo: Path, tmp_path: Path) -> None:
    ws, _ = Workspace.init(git_repo)
    t = ws.new_ticket("fresh-one")
    visible = " ".join(_parse(write_html(t, tmp_path / "f.html").read_text()).text)
    assert "Ticket fresh-one" in visible and "0 Bootstrap" in visible
    assert "No training runs yet" in visible and "No re-entry was declared" in visible


def test_cli_report_writes_the_file(ticket, tmp_path: Path) -> None:
    out = tmp_path / "cli" / "page.html"
    proc = subprocess.run([sys.executable, "-m", "mlgate", "--json", "report", TICKET,
                           "--html", str(out)], cwd=ticket.ws.root, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["html"] == str(out.resolve())
    assert "RUN-002" in out.read_text()


# -- headless Chromium ---------------------------------------------------------------------


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip(f"headless Chromium is not installed (Debian: `{CHROMIUM_APT}`)")


def _browse(html: Path, tmp: Path, *extra: str) -> tuple[subprocess.CompletedProcess, Path]:
    exe = _chromium()
    profile = tmp / "profile"
    profile.mkdir(exist_ok=True)
    netlog = tmp / f"net-{html.stem}.json"
    args = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run",
            "--disable-dev-shm-usage", f"--user-data-dir={profile}",
            f"--log-net-log={netlog}", *extra, html.resolve().as_uri()]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=120)
    return proc, netlog


def _page_requests(netlog: Path) -> list[str]:
    """URLs the page itself asked the network for (Chromium's own background requests have
    the initiator 'not an origin'; a file:// page's requests have 'null')."""
    data = json.loads(netlog.read_text())
    types = {v: k for k, v in data["constants"]["logEventTypes"].items()}
    out = []
    for e in data["events"]:
        if types.get(e["type"]) != "URL_REQUEST_START_JOB":
            continue
        p = e.get("params") or {}
        if "url" in p and p.get("initiator") != "not an origin":
            out.append(p["url"])
    return out


def test_report_in_headless_chromium(ticket, tmp_path: Path) -> None:
    html = write_html(ticket, tmp_path / "report.html")
    shot = tmp_path / "shot.png"
    proc, _ = _browse(html, tmp_path, f"--screenshot={shot}", "--window-size=1280,2000")
    assert shot.is_file() and shot.stat().st_size > 20_000, proc.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    proc, netlog = _browse(html, tmp_path, "--dump-dom")
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = _parse(proc.stdout)
    visible = " ".join(dom.text)
    for s in [f"Ticket {TICKET}", "Stage diagram", "Timeline", "Gates", "Re-entries",
              "Runs", "1 Investigation", "5 Training & Validation", "RUN-001", "RUN-002",
              "0.9703", "+0.1785", "Plan Impact", "experiment-plan.md"]:
        assert s in visible, f"{s!r} not in the rendered page"
    assert not [v for tag, a, v in dom.refs if "://" in v and not v.startswith("file://")]
    assert _page_requests(netlog) == []
    # every chart Chromium rendered has labelled ticks on both axes
    charts = re.findall(r'<svg class="chart".*?</svg>', proc.stdout, flags=re.S)
    assert len(charts) >= 3
    for chart in charts:
        for axis in ("xtick", "ytick"):
            labels = re.findall(rf'id="[^"]*{axis}_\d+">.*?<text[^>]*>([^<]+)</text>', chart,
                                flags=re.S)
            assert len([s for s in labels if s.strip()]) >= 2, (axis, labels, chart[:300])


def test_network_check_detects_a_page_that_fetches(tmp_path: Path) -> None:
    """The detector used above is not vacuous: a page with a remote image is caught."""
    bad = tmp_path / "bad.html"
    bad.write_text('<!DOCTYPE html><p>x</p><img src="http://127.0.0.1:9/pixel.png">')
    _, netlog = _browse(bad, tmp_path, "--dump-dom")
    assert _page_requests(netlog) == ["http://127.0.0.1:9/pixel.png"]


def test_run_details_name_the_real_wandb_run_and_project() -> None:
    """The report names the wandb run the script really wrote to (id and project as linked
    in meta.json), and nothing when no wandb run was found."""
    from mlgate.report.html import _wandb_text

    assert _wandb_text({"mode": "offline", "project": "demo", "run_id": None}) is None
    assert _wandb_text({"mode": "offline", "project": "digits", "run_id": "ab12cd34"}) == \
        "offline run ab12cd34 in project digits"
    assert _wandb_text({"mode": "online", "project": "digits", "run_id": "x1",
                        "url": "https://example.invalid/r/x1"}) == \
        "online run x1 in project digits (https://example.invalid/r/x1)"
