"""`mqlsync provision` for Salesforce: mqlsync's custom fields on Lead and Contact.

Idempotent. Reads `describe` of Lead and Contact (2 requests), then creates each missing field
through the Tooling API (`POST tooling/sobjects/CustomField`, 1 request per field). Existing
fields of the right type are reported as existing; a field of the wrong type (or a picklist
lacking values, a text too short) is a problem that says exactly what to change in Setup.

Creating fields needs the Customize Application permission, which an integration user often
lacks. When the Tooling API refuses, nothing more is attempted: the missing fields are written
as a ready-to-deploy Metadata API package (a folder in mdapi format, and the same as a zip:
`package.xml`, `objects/Lead.object`, `objects/Contact.object`, and a permission set
`MQLSync_Fields` granting read/edit on every field), and the problem says how an admin deploys
it. Fields created through the Tooling API (or deployed) are not visible to profiles until
field-level security grants them; the package's permission set does that.

Also checks that the Lead `Status` picklist holds the statuses the mapping writes (MQL and
recycle), else a problem naming the value to add.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from connector.crm.base import ProvisionReport
from connector.crm.salesforce.fields import (
    LEAD_STATUS,
    OBJECTS,
    FieldSpec,
    field_specs,
    object_specs,
)
from connector.crm.salesforce.write import SalesforceCallsLike, salesforce_error

log = logging.getLogger(__name__)

API_VERSION = "59.0"
PERMISSION_SET = "MQLSync_Fields"
PACKAGE_NAME = "mqlsync-salesforce-fields"
REFUSED_CODES = frozenset(
    {
        "INSUFFICIENT_ACCESS",
        "INSUFFICIENT_ACCESS_OR_READONLY",
        "INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY",
        "API_DISABLED_FOR_ORG",
        "FUNCTIONALITY_NOT_ENABLED",
    }
)
"""Tooling API answers that mean "this user may not change metadata" (not a bad request)."""


class _Refused(Exception):
    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


def _refusal(exc: BaseException) -> str | None:
    """The refusal of a metadata write for lack of permission, in words; else None."""
    found = salesforce_error(exc)
    if found is None:
        return None
    status, code, message = found
    if code in REFUSED_CODES or (status == 403 and code != "REQUEST_LIMIT_EXCEEDED"):
        return f"HTTP {status} {code}: {message}".strip()
    return None


def _describe(calls: SalesforceCallsLike, sobject: str) -> dict[str, Any]:
    result = calls.call(
        f"describe {sobject}", calls.sf.restful, path=f"sobjects/{sobject}/describe"
    )
    return dict(result or {})


def _create(calls: SalesforceCallsLike, sobject: str, spec: FieldSpec) -> None:
    try:
        calls.call(
            f"create field {sobject}.{spec.name}",
            calls.sf.restful,
            path="tooling/sobjects/CustomField",
            method="POST",
            json=spec.tooling_body(sobject),
        )
    except Exception as exc:
        refused = _refusal(exc)
        if refused is None:
            raise
        raise _Refused(refused) from exc


def provision(
    calls: SalesforceCallsLike,
    *,
    dry_run: bool = False,
    package_dir: Path | None = None,
    specs: Sequence[FieldSpec] | None = None,
    lead_statuses: Sequence[str] = ("Marketing Qualified", "Open - Not Contacted"),
) -> ProvisionReport:
    """Create mqlsync's missing fields on Lead and Contact; report what exists and what is wrong.

    `package_dir`: where the metadata package goes if the Tooling API is refused (default a
    new temporary folder, named in the problem). `specs`: the write-back fields (default
    `field_specs()`, overridable names). `lead_statuses`: Lead Status values mqlsync writes
    (the mapping's MQL and recycle statuses), checked against the picklist.
    """
    report = ProvisionReport()
    base = list(field_specs() if specs is None else specs)
    missing: list[tuple[str, FieldSpec]] = []
    for obj, sobject in OBJECTS.items():
        described = _describe(calls, sobject)
        by_name = {str(f.get("name", "")).lower(): f for f in described.get("fields") or ()}
        for spec in object_specs(obj, base):
            found = by_name.get(spec.name.lower())
            if found is None:
                missing.append((sobject, spec))
                continue
            problem = spec.problem(sobject, found)
            if problem:
                report.problems.append(problem)
            else:
                report.existing.append(f"{sobject}.{spec.name}")
        if sobject == "Lead":
            report.problems.extend(
                _status_problems(by_name.get(LEAD_STATUS.lower()), lead_statuses)
            )

    if dry_run:
        report.created.extend(f"{s}.{spec.name}" for s, spec in missing)
        return report
    left = list(missing)
    while left:
        sobject, spec = left[0]
        try:
            _create(calls, sobject, spec)
        except _Refused as refused:
            path = write_package(left, package_dir)
            report.problems.append(_refused_problem(refused.what, left, path))
            break
        report.created.append(f"{sobject}.{spec.name}")
        left.pop(0)
    return report


def _status_problems(status: Mapping[str, Any] | None, wanted: Sequence[str]) -> list[str]:
    if status is None:
        return ["Lead has no Status field in describe: check the integration user's access"]
    have = [
        str(v.get("value")) for v in status.get("picklistValues") or () if v.get("active", True)
    ]
    problems = []
    for value in dict.fromkeys(wanted):
        if value not in have:
            problems.append(
                f"Lead Status picklist has no value {value!r}, which mqlsync writes: add it in "
                "Setup → Object Manager → Lead → Fields & Relationships → Lead Status → Values "
                f"→ New ({value!r}, not converted), or set mql / lead under "
                f"[lifecycle.stages.salesforce] in the mapping to one of: {', '.join(have)}"
            )
    return problems


def _refused_problem(why: str, left: Sequence[tuple[str, FieldSpec]], path: Path) -> str:
    names = ", ".join(f"{s}.{spec.name}" for s, spec in left)
    return (
        f"Salesforce refused to create fields through the Tooling API ({why}): the user "
        "mqlsync logs in as lacks the Customize Application permission. "
        f"{len(left)} field(s) are missing: {names}. Either grant that permission and run "
        "`mqlsync provision` again, or have a Salesforce admin deploy the package written to "
        f"{path} (zip: {path}.zip) — `sf project deploy start --metadata-dir {path} "
        "--target-org <org>`, or Workbench → Migration → Deploy with the zip — then assign "
        f"the permission set {PERMISSION_SET} to the mqlsync integration user and run "
        "`mqlsync provision` again to check"
    )


def write_package(fields: Sequence[tuple[str, FieldSpec]], package_dir: Path | None = None) -> Path:
    """Write a Metadata API (mdapi format) package creating `fields` ((sObject, spec) pairs)
    plus the permission set that makes them editable; returns the folder (a zip of it sits
    next to it, `<folder>.zip`)."""
    root = (
        Path(package_dir) if package_dir is not None else Path(tempfile.mkdtemp(prefix="mqlsync-"))
    )
    root = root / PACKAGE_NAME
    if root.exists():
        shutil.rmtree(root)
    (root / "objects").mkdir(parents=True)
    (root / "permissionsets").mkdir()
    by_object: dict[str, list[FieldSpec]] = {}
    for sobject, spec in fields:
        by_object.setdefault(sobject, []).append(spec)
    for sobject, specs in by_object.items():
        body = "\n".join(s.metadata_xml() for s in specs)
        (root / "objects" / f"{sobject}.object").write_text(
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<CustomObject xmlns="http://soap.sforce.com/2006/04/metadata">\n'
            f"{body}\n</CustomObject>\n",
            encoding="utf-8",
        )
    members = [f"{s}.{spec.name}" for s, spec in fields]
    perms = "\n".join(
        "    <fieldPermissions>\n"
        "        <editable>true</editable>\n"
        f"        <field>{escape(m)}</field>\n"
        "        <readable>true</readable>\n"
        "    </fieldPermissions>"
        for m in members
    )
    (root / "permissionsets" / f"{PERMISSION_SET}.permissionset").write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<PermissionSet xmlns="http://soap.sforce.com/2006/04/metadata">\n'
        "    <description>Read and edit mqlsync's lead-scoring fields</description>\n"
        f"{perms}\n"
        "    <hasActivationRequired>false</hasActivationRequired>\n"
        "    <label>MQLSync Fields</label>\n"
        "</PermissionSet>\n",
        encoding="utf-8",
    )
    field_members = "\n".join(f"        <members>{escape(m)}</members>" for m in members)
    (root / "package.xml").write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<Package xmlns="http://soap.sforce.com/2006/04/metadata">\n'
        f"    <types>\n{field_members}\n        <name>CustomField</name>\n    </types>\n"
        f"    <types>\n        <members>{PERMISSION_SET}</members>\n"
        "        <name>PermissionSet</name>\n    </types>\n"
        f"    <version>{API_VERSION}</version>\n"
        "</Package>\n",
        encoding="utf-8",
    )
    shutil.make_archive(str(root), "zip", root_dir=root)  # package.xml at the zip root
    log.info("wrote Salesforce metadata package %s (%d fields)", root, len(members))
    return root
