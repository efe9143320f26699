"""Pure pieces of crash recovery: memory from the CRM's own fields, the settle decisions,
reasons that never vanish, and a 400 batch split down to its bad input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from connector.core.lifecycle import Memory
from connector.core.reasons import reasons_text
from connector.core.scoring import Reason, ScoreResult
from connector.crm.base import Patch
from connector.crm.hubspot import HubSpotAdapter
from connector.errors import FatalSyncError
from connector.mapping.loader import load_mapping
from connector.pipeline.settle import landed, stage_cleared
from tests.conftest import MAPPINGS

T = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
H = timedelta(hours=1)


def test_memory_takes_later_promotion_and_recycle_times_from_the_crm():
    stored = Memory(stage="lead", mql_at=T, status_at_promotion="OPEN")
    assert stored.recovered(None, None, None) is stored
    assert stored.recovered(T, None, None) is stored  # same time: nothing lost
    assert stored.recovered(T - H, None, None) is stored  # older: the store is ahead
    promoted = stored.recovered(T + H, None, None)
    assert (promoted.stage, promoted.mql_at, promoted.status_at_promotion) == ("mql", T + H, None)
    recycled = Memory(stage="mql", mql_at=T).recovered(T, T + H, "no sales touch in 14 days")
    assert (recycled.stage, recycled.recycled_at) == ("lead", T + H)
    assert recycled.recycle_reason == "no sales touch in 14 days"
    # re-promoted after a recycle the store never saw
    again = Memory().recovered(T + 2 * H, T + H, "rejected by sales: UNQUALIFIED")
    assert (again.stage, again.mql_at, again.recycled_at) == ("mql", T + 2 * H, T + H)


def test_memory_json_round_trip():
    memory = Memory("mql", T, "OPEN", T - H, "no sales touch in 14 days")
    assert Memory.from_json(memory.to_json()) == memory
    assert Memory.from_json(Memory().to_json()) == Memory()


def test_a_write_landed_when_any_changed_field_holds_its_new_value():
    changes: dict[str, Any] = {
        "fit": (10, 25),
        "grade": ("C4", "B4"),
        "scored_at": ("2026-11-01T00:00:00.000Z", "2026-11-02T09:00:00.000Z"),
    }
    assert landed(changes, {"fit": 25, "grade": "B4"})
    assert landed(changes, {"fit": "25", "grade": "A1"})  # a rep changed grade since
    assert not landed(changes, {"fit": 10, "grade": "C4"})
    # a timestamp alone proves nothing (it rides along with every write)
    assert not landed(changes, {"fit": 10, "grade": "C4", "scored_at": "2026-11-02T09:00:00Z"})


def test_a_cleared_stage_is_one_whose_write_set_a_stage_and_the_crm_has_none():
    assert stage_cleared({"stage": ("mql", "lead")}, {"stage": None})
    assert not stage_cleared({"stage": ("mql", "lead")}, {"stage": "lead"})
    assert not stage_cleared({"fit": (1, 2)}, {"stage": None})
    assert not stage_cleared({"stage": ("lead", None)}, {"stage": None})


def _result(*reasons: Reason) -> ScoreResult:
    return ScoreResult("1", 0, 0, None, False, "cold", "discard", reasons)


def test_reasons_are_cut_at_whole_reasons_and_a_huge_first_one_is_shortened():
    small = Reason("pricing_page", "engagement", 20, "page_view https://acme.io/pricing")
    labels = {"pricing_page": "Viewed the pricing page", "title": "Senior title"}
    assert reasons_text(_result(small), labels) == (
        "Viewed the pricing page +20 (page_view https://acme.io/pricing)"
    )
    huge = Reason("title", "fit", 15, "title = " + "VP " * 600)
    text = reasons_text(_result(huge, small), labels)
    assert len(text) == 1000 and text.startswith("Senior title +15 (title = VP VP") and (
        text[-1] == "…"
    )
    two = reasons_text(_result(small, huge), labels)
    assert two == "Viewed the pricing page +20 (page_view https://acme.io/pricing)"


class _Rejecting:
    """Stands in for HubSpotCalls: a batch holding a poisoned id is answered 400 whole."""

    def __init__(self, poisoned: set[str]) -> None:
        self.poisoned = poisoned
        self.sizes: list[int] = []
        self.client = type("Client", (), {})()
        self.client.crm = type("Crm", (), {})()
        self.client.crm.contacts = type("Contacts", (), {"batch_api": type("B", (), {})()})()
        self.client.crm.contacts.batch_api.update = None

    def call(self, what: str, fn: Any, **kwargs: Any) -> Any:
        inputs = kwargs["batch_input_simple_public_object_batch_input"]["inputs"]
        self.sizes.append(len(inputs))
        if any(str(i["id"]) in self.poisoned for i in inputs):
            cause = type("ApiException", (Exception,), {"status": 400})()
            try:
                raise cause
            except Exception as exc:
                raise FatalSyncError(
                    "update contacts: HubSpot rejected the request (HTTP 400)"
                ) from exc
        results = [
            type("R", (), {"id": i["id"], "updated_at": T, "properties": {}})() for i in inputs
        ]
        return type("Res", (), {"results": results, "errors": []})()


def test_a_batch_answered_400_is_split_until_the_bad_input_fails_alone():
    calls = _Rejecting({"13"})
    adapter = HubSpotAdapter(calls, load_mapping(MAPPINGS / "b2b-saas.toml"))  # type: ignore[arg-type]
    patches = [Patch("contact", str(i), {"fit": 10}) for i in range(1, 101)]
    outcomes = {o.record_id: o for o in adapter.write("contact", patches)}
    assert outcomes["13"].error and "HTTP 400" in outcomes["13"].error
    assert not outcomes["13"].retriable
    assert [rid for rid, o in outcomes.items() if o.error] == ["13"]
    assert len(outcomes) == 100
    assert len(calls.sizes) <= 2 * 7 + 1  # halving: about two calls per level


def test_a_future_or_unreadable_time_in_the_crm_is_garbage_not_memory():
    from connector.pipeline.steps import memory_with_crm

    now = T
    real = memory_with_crm(None, {"mql_at": (T - H).isoformat()}, now)
    assert real.mql_at == T - H and real.stage == "mql"
    for garbage in ("9500-01-01T00:00:00Z", "١٧٠٠٠٠٠٠٠٠٠٠٠", "yesterday"):
        assert memory_with_crm(None, {"mql_at": garbage}, now) == Memory()
