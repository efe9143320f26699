"""The report and the backtest page opened in headless Chromium: they render with no
console error and no network request, and the screenshot is not blank."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from connector.cli.app import app
from tests.conftest import MAPPINGS
from tests.insight.test_backtest_cli import NOW, OUTCOMES, RECORDS

CHROMIUM = "/usr/bin/chromium"

pytestmark = pytest.mark.skipif(
    shutil.which(CHROMIUM) is None,
    reason="headless Chromium not found at /usr/bin/chromium: install Debian's `chromium` "
    "package (apt-get install -y chromium) to run the HTML page tests",
)


def render(page: Path, screenshot: Path) -> tuple[list[str], list[str]]:
    """Console errors and requested URLs while loading `page`; writes a screenshot."""
    sync_api = pytest.importorskip("playwright.sync_api")
    errors: list[str] = []
    requests: list[str] = []
    with sync_api.sync_playwright() as play:
        browser = play.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            tab = browser.new_page(viewport={"width": 1366, "height": 768})
            tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            tab.on("pageerror", lambda e: errors.append(str(e)))
            tab.on("request", lambda r: requests.append(r.url))
            tab.goto(page.as_uri(), wait_until="load")
            tab.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    return errors, [u for u in requests if u != page.as_uri()]


def assert_not_blank(screenshot: Path) -> None:
    from matplotlib.image import imread  # PNG reader already installed with matplotlib

    pixels = imread(io.BytesIO(screenshot.read_bytes()))
    dark = (pixels[..., :3].mean(axis=2) < 0.5).mean()
    assert dark > 0.005, f"only {dark:.2%} of the screenshot has ink"
    assert pixels.shape[0] > 600  # charts and tables below the headline


def test_report_page_renders_offline(filled_store, tmp_path):
    out = tmp_path / "report.html"
    result = CliRunner().invoke(app, ["report", "--config", str(filled_store), "--html", str(out)])
    assert result.exit_code == 0, result.output
    errors, requests = render(out, tmp_path / "report.png")
    assert errors == [] and requests == []
    assert_not_blank(tmp_path / "report.png")


def test_backtest_page_renders_offline(tmp_path):
    records = tmp_path / "r.jsonl"
    records.write_text("".join(json.dumps(r) + "\n" for r in RECORDS))
    outcomes = tmp_path / "o.csv"
    outcomes.write_text(OUTCOMES)
    out = tmp_path / "backtest.html"
    result = CliRunner().invoke(app, [
        "backtest", "-m", str(MAPPINGS / "b2b-saas.toml"), "--records", str(records),
        "--outcomes", str(outcomes), "--now", NOW, "--html", str(out),
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    page = out.read_text()
    assert "ROC curve" in page and "Lift per rule" in page and "<script" not in page
    errors, requests = render(out, tmp_path / "backtest.png")
    assert errors == [] and requests == []
    assert_not_blank(tmp_path / "backtest.png")
