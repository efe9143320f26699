"""The account's rate limiter outlives a mapping reload: the day's quota, the 429 history
and the API counters the metrics read stay with the daemon, not with one adapter."""

from __future__ import annotations

import shutil

from connector.ops.runner import LiveContext, open_context
from tests.conftest import MAPPINGS


def test_a_mapping_reload_keeps_the_rate_limiter(tmp_path, monkeypatch):
    mapping = tmp_path / "model.toml"
    shutil.copy(MAPPINGS / "b2b-saas.toml", mapping)
    config = tmp_path / "mqlsync.toml"
    config.write_text(
        f'[mapping]\npath = "{mapping}"\n[state]\nurl = "sqlite:///{tmp_path / "s.db"}"\n'
        '[hubspot]\nbase_url = "http://127.0.0.1:9"\n'
    )
    monkeypatch.setenv("MQLSYNC_HUBSPOT_TOKEN", "pat-na1-00000000-0000")
    monkeypatch.delenv("MQLSYNC_CONFIG", raising=False)
    with open_context(config) as ctx:
        live = LiveContext(ctx, mapping)
        assert ctx.limiter is not None and ctx.adapter.calls.limiter is ctx.limiter  # type: ignore[attr-defined]
        ctx.limiter.note_daily_usage(120, 1000)
        mapping.write_text(mapping.read_text() + "\n# edited\n")
        after = live.current()
        assert after.adapter is not ctx.adapter and after.version != ctx.version
        assert after.limiter is ctx.limiter
        assert after.adapter.calls.limiter is ctx.limiter  # type: ignore[attr-defined]
        assert after.limiter.daily_usage is not None and after.limiter.daily_usage.used == 120
