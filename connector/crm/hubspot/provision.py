"""Create mqlsync's contact property group and properties in as few API calls as HubSpot allows.

One batch read of mqlsync's own properties says what exists; a portal already provisioned
answers everything in that one call (a property in the `mqlsync` group proves the group
exists). A fresh portal then needs the group and one batch create: three calls, where one
call per property made fifteen. Properties that exist are checked, never changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from connector.crm.base import ProvisionReport
from connector.crm.hubspot.client import HubSpotCalls
from connector.crm.hubspot.fields import GROUP, GROUP_LABEL, PropertySpec, property_problem
from connector.errors import FatalSyncError

OBJECT = "contacts"
NOT_FOUND = 404
CONFLICT = 409


def provision_properties(
    calls: HubSpotCalls, specs: Sequence[PropertySpec], *, dry_run: bool = False
) -> ProvisionReport:
    """Create the `mqlsync` group and whichever of `specs` are missing; report the rest.

    `dry_run` reports what would be created and writes nothing (it may spend one more
    read to learn whether the group exists).
    """
    report = ProvisionReport()
    found = _read_existing(calls, specs)
    missing = [s for s in specs if s.name not in found]
    if any(p.group_name == GROUP for p in found.values()):
        report.existing.append(f"group {GROUP}")
    elif missing:
        created = _ensure_group(calls, dry_run=dry_run)
        (report.created if created else report.existing).append(f"group {GROUP}")
    for spec in specs:
        prop = found.get(spec.name)
        if prop is None:
            continue
        problem = property_problem(spec, prop)
        if problem:
            report.problems.append(problem)
        else:
            report.existing.append(spec.name)
    if not missing:
        return report
    if dry_run:
        report.created.extend(s.name for s in missing)
        return report
    created_names, problems = _create(calls, missing)
    report.created.extend(created_names)
    report.problems.extend(problems)
    return report


def _read_existing(calls: HubSpotCalls, specs: Sequence[PropertySpec]) -> dict[str, Any]:
    """mqlsync's properties the portal has, by name (one call; the rest come back as errors)."""
    body = {"archived": False, "inputs": [{"name": s.name} for s in specs]}
    batch = calls.client.crm.properties.batch_api
    answer = calls.call(
        "read mqlsync properties",
        batch.read,
        object_type=OBJECT,
        batch_read_input_property_name=body,
    )
    return {p.name: p for p in answer.results or ()}


def _ensure_group(calls: HubSpotCalls, *, dry_run: bool) -> bool:
    """Make sure the `mqlsync` group exists; True when it is (or, dry, would be) created."""
    groups = calls.client.crm.properties.groups_api
    try:
        if dry_run:
            calls.call("read property group", groups.get_by_name, object_type=OBJECT,
                       group_name=GROUP)  # fmt: skip
            return False
        body = {"name": GROUP, "label": GROUP_LABEL, "displayOrder": -1}
        calls.call("create property group", groups.create, object_type=OBJECT,
                   property_group_create=body)  # fmt: skip
    except FatalSyncError as exc:
        status = getattr(exc.__cause__, "status", None)
        if dry_run and status == NOT_FOUND:
            return True
        if not dry_run and status == CONFLICT:  # there, with none of mqlsync's properties yet
            return False
        raise
    return True


def _create(calls: HubSpotCalls, specs: Sequence[PropertySpec]) -> tuple[list[str], list[str]]:
    """Create `specs` in one batch: the names created, and a line per one that was not."""
    batch = calls.client.crm.properties.batch_api
    answer = calls.call(
        "create mqlsync properties",
        batch.create,
        object_type=OBJECT,
        batch_input_property_create={"inputs": [s.create_body() for s in specs]},
    )
    made = {p.name for p in answer.results or ()}
    problems = [
        f"creating properties failed: {getattr(e, 'message', e)}"
        for e in getattr(answer, "errors", None) or ()
    ]
    left = [s.name for s in specs if s.name not in made]
    if left and not problems:
        problems.append(f"HubSpot did not create {', '.join(left)}; run provision again")
    return [s.name for s in specs if s.name in made], problems
