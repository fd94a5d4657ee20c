"""The Dagster UI in a real browser: dagster-webserver on 127.0.0.1, driven by headless Chromium.

A real asset (``raw/vat_rates``, with its two Great Expectations checks) is materialized into
a temporary DAGSTER_HOME first, so the UI has a check result to show. The test then opens the
global asset graph and asserts that every domain group is drawn, opens the ``policy`` group
and the asset's checks, and saves screenshots to the test's temporary folder; with
``TRADEWINDS_UPDATE_UI_SCREENSHOTS=1`` also to ``docs/ui/`` (committed, referenced by the README).
Not by default: a test run leaves the checkout as it found it.

Debian's ``chromium`` package is driven with Playwright (no browser download); ``./run test``
installs the package. Without it the test is skipped.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestration.lib.schemas import RAW_TABLES
from orchestration.lib.settings import PROJECT_ROOT
from tests.conftest import SAMPLE_ENV

CHROMIUM = os.environ.get("TRADEWINDS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DOCS_UI = PROJECT_ROOT / "docs" / "ui"
GROUPS = [
    "platform",
    "freight",
    "policy",
    "carbon",
    "reference",
    "snapshots",
    "staging",
    "intermediate",
    "selection",
    "service",
    "risk",
    "forecast",
    "alerts",
    "quality",
    "publish",
]
#: Waits for the webserver and the UI to load (the machine may be busy); not timed assertions.
STARTUP_WAIT_S = 300
UI_WAIT_MS = 120_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def webserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"{CHROMIUM} not found: install Debian's chromium package (./run test does)")
    pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed (./run setup)")
    import dagster as dg

    from orchestration.lib.settings import get_settings

    base = tmp_path_factory.mktemp("ui_browser")
    home = base / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("nux:\n  enabled: false\ntelemetry:\n  enabled: false\n")
    env = {
        **SAMPLE_ENV,
        "TRADEWINDS_SAMPLE__HISTORY_DAYS": "30",
        "TRADEWINDS_DATA_DIR": str(base / "data"),
        "DAGSTER_HOME": str(home),
    }
    mp = pytest.MonkeyPatch()
    for k, v in env.items():
        mp.setenv(k, v)
    get_settings.cache_clear()
    server = None
    log = (base / "webserver.log").open("w")
    try:
        # The real ingest asset with its inline GX gate, and the table's load check: two check results.
        from orchestration.defs.ingest.assets import build_ingest_asset
        from orchestration.defs.quality import build_load_checks
        from orchestration.lib.warehouse import WarehouseResource

        warehouse = WarehouseResource(path=str(get_settings().warehouse))
        with dg.DagsterInstance.get() as instance:
            result = dg.materialize(
                [build_ingest_asset(RAW_TABLES["vat_rates"]), build_load_checks()],
                instance=instance,
                resources={"warehouse": warehouse},
                selection=[dg.AssetKey(["raw", "vat_rates"])],
            )
        assert result.success

        port = free_port()
        webserver_bin = Path(sys.executable).with_name("dagster-webserver")
        server = subprocess.Popen(
            [str(webserver_bin), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
            cwd=PROJECT_ROOT,
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + STARTUP_WAIT_S
        while True:
            try:
                with urllib.request.urlopen(f"{url}/server_info", timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(
                    f"dagster-webserver did not start:\n{(base / 'webserver.log').read_text()[-3000:]}"
                )
            time.sleep(1)
        yield {"url": url, "tmp": base, "log": base / "webserver.log"}
    finally:
        if server is not None and server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
        log.close()
        mp.undo()
        get_settings.cache_clear()


@pytest.fixture(scope="module")
def browser(webserver):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


def in_view(page, locator) -> bool:
    """Drawn inside the window (Playwright's "visible" does not look at the viewport)."""
    box = locator.bounding_box()
    size = page.viewport_size
    return box is not None and 0 <= box["x"] < size["width"] and 0 <= box["y"] < size["height"]


def save(page, name: str, tmp: Path) -> Path:
    path = tmp / name
    page.screenshot(path=str(path))
    if os.environ.get("TRADEWINDS_UPDATE_UI_SCREENSHOTS") == "1":
        DOCS_UI.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS_UI / name)
    return path


def test_asset_graph_shows_every_domain_group(webserver, browser) -> None:
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    page.set_default_timeout(UI_WAIT_MS)
    page.goto(f"{webserver['url']}/asset-groups")
    graph = page.locator("svg foreignObject")  # the graph itself, not the group list beside it
    for group in GROUPS:
        graph.get_by_text(group, exact=True).filter(visible=True).first.wait_for(state="visible")
    drawn = {g for g in GROUPS if in_view(page, graph.get_by_text(g, exact=True).filter(visible=True).first)}
    assert drawn == set(GROUPS)
    assert graph.get_by_text("default", exact=True).filter(visible=True).count() == 0  # nothing left ungrouped
    path = save(page, "asset_graph.png", webserver["tmp"])
    assert path.stat().st_size > 10_000
    page.close()


def test_check_results_are_visible_on_the_graph_and_the_asset(webserver, browser) -> None:
    page = browser.new_page(viewport={"width": 1600, "height": 1900})  # tall: the group's tables all fit
    page.set_default_timeout(UI_WAIT_MS)
    # The policy group: raw/vat_rates was materialized with both its checks passing; the other
    # policy tables never ran.
    page.goto(f"{webserver['url']}/locations/tradewinds/asset-groups/policy/lineage")
    passed = page.get_by_text("2 / 2 Passed").filter(visible=True)
    passed.first.wait_for(state="visible")
    assert passed.count() == 1 and in_view(page, passed.first)
    not_run = sum(t.family == "policy" for t in RAW_TABLES.values()) - 1
    assert page.get_by_text("0 / 2 Passed").filter(visible=True).count() == not_run
    save(page, "asset_group_policy.png", webserver["tmp"])

    page.goto(f"{webserver['url']}/assets/raw/vat_rates?view=checks")
    for check in ("gx_raw_vat_rates", "gx_load_vat_rates"):
        page.get_by_text(check, exact=True).filter(visible=True).first.wait_for(state="visible")
    assert page.get_by_text("Succeeded", exact=True).filter(visible=True).count() == 2
    page.get_by_text("Passed", exact=True).filter(visible=True).first.wait_for(state="visible")
    save(page, "asset_checks.png", webserver["tmp"])
    page.close()
