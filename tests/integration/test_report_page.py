"""`agegate report` writes one self-contained HTML page that headless Chromium renders."""

from __future__ import annotations

import shutil
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest

from service.app import create_app
from service.store import migrate
from tests import pngcheck
from tests.integration.conftest import (
    CHILD_BIRTH_DATE,
    GUARDIAN_RESIDENT_ID,
    bearer_for,
    consent_body,
    make_client,
    register,
    settings_for,
)
from tests.integration.test_cli import ok, run

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
                  "--disable-component-update", "--disable-sync", "--hide-scrollbars"]
ADULT_BAR = (0x2E, 0x86, 0xC1)  # the adult bracket's colour in service.reports.page


@pytest.fixture
def populated(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'agegate.db'}"
    migrate.upgrade(url)
    app = create_app(settings_for(url))
    http = app.test_client()
    auth = bearer_for(http, *make_client(url, "subjects:write", "consent:write", "tokens:issue", tenant="tenant-a"))
    register(http, auth, "child", method="self_declared", birth_date=CHILD_BIRTH_DATE)
    register(http, auth, "parent", method="resident_id", resident_id=GUARDIAN_RESIDENT_ID)
    for number in range(5):
        register(http, auth, f"adult-{number}", method="self_declared", birth_date="1990-05-05")
    consent = http.post("/v1/consents", json=consent_body(), headers=auth)
    assert consent.status_code == 201, consent.get_json()
    http.post(f"/v1/consents/{consent.get_json()['consent_id']}/withdraw", json={}, headers=auth)
    assert http.post("/v1/tokens", json={"subject_ref": "parent", "audience": "persona-chat"}, headers=auth).status_code == 201
    app.extensions["agegate"].activity.flush()
    return url


def test_the_report_is_one_file_without_scripts_and_chromium_renders_it(populated: str, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    year = datetime.now(timezone.utc).year
    ok(run(populated, "report", "--tenant", "tenant-a", "--year", str(year), "--out", str(page)))
    html = page.read_text(encoding="utf-8")
    assert "<script" not in html and "<link" not in html and "@import" not in html and "url(" not in html
    assert html.count("<svg") == 3 and "default-src 'none'" in html
    assert "Compliance report: tenant-a" in html and "1990-05-05" not in html and GUARDIAN_RESIDENT_ID not in html

    assert shutil.which(CHROMIUM), ".ci/run installs Debian's chromium"
    shot = tmp_path / "report.png"
    profile = tmp_path / "chromium-profile"
    subprocess.run(
        [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--screenshot={shot}", "--window-size=800,1200",
         page.as_uri()],
        capture_output=True, timeout=60, check=True,
    )
    colours = pngcheck.colours(shot.read_bytes())
    white = colours.get((255, 255, 255), 0)
    assert white < 0.97 * sum(colours.values()), "the screenshot is blank"
    assert colours.get(ADULT_BAR, 0) > 200, "the bracket chart did not render"


def test_a_year_that_has_not_begun_is_refused(populated: str, tmp_path: Path) -> None:
    result = run(populated, "report", "--tenant", "tenant-a", "--year", "2999", "--out", str(tmp_path / "r.html"))
    assert result.returncode == 2 and "--year" in result.stderr
