"""Optional compiled scoring core: `MQLSYNC_COMPILE=1 pip install .` builds it with mypyc.

The scoring engine is plain, type-checked Python; mypyc compiles those same files to C
extensions (as black and mypy ship themselves), roughly 1.5–2x faster per lead. It is
opt-in because it needs a C compiler and the Python headers, and it is never applied to
editable installs: a stale compiled module would shadow the source a developer is editing.
Without the variable, the wheel is pure Python and behaves identically (tests/test_compiled.py
checks that the two give byte-identical scores).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

COMPILED_MODULES = (
    "connector/core/records.py",
    "connector/mapping/conditions.py",
    "connector/core/scoring.py",
)
"""The per-lead hot path: parsing records, evaluating conditions, scoring."""
MYPYC = ("mypy==2.4.1", "setuptools>=70", "pydantic>=2.6,<3")
"""Build requirements: mypyc, its setuptools driver, and pydantic, which the compiled modules
import (mapping/schema.py): mypyc type-checks them exactly as `mypy` does in CI."""


def compile_requested() -> bool:
    """True when the builder asked for the compiled core (MQLSYNC_COMPILE=1/true/yes)."""
    return os.environ.get("MQLSYNC_COMPILE", "").strip().lower() in {"1", "true", "yes"}


class CompiledCoreHook(BuildHookInterface):  # type: ignore[type-arg]
    """Adds the mypyc-compiled hot path to a wheel when MQLSYNC_COMPILE is set."""

    PLUGIN_NAME = "custom"

    def _wanted(self, version: str) -> bool:
        return self.target_name == "wheel" and version != "editable" and compile_requested()

    def dependencies(self) -> list[str]:
        return list(MYPYC) if compile_requested() else []

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if not self._wanted(version):
            return
        from mypyc.build import mypycify
        from setuptools import Distribution
        from setuptools.command.build_ext import build_ext

        root = Path(self.root)
        self._out = Path(tempfile.mkdtemp(prefix="mqlsync-mypyc-"))
        previous = Path.cwd()
        os.chdir(root)  # mypyc names modules after their paths relative to the cwd
        try:
            # a private cache: never reuse the checkout's .mypy_cache from another environment
            options = [f"--cache-dir={self._out / 'mypy-cache'}"]
            extensions = mypycify(
                [*options, *COMPILED_MODULES], opt_level="3", group_name="connector_core"
            )
            command = build_ext(Distribution({"ext_modules": extensions}))
            command.build_lib = str(self._out / "lib")
            command.build_temp = str(self._out / "temp")
            command.ensure_finalized()
            command.run()
        finally:
            os.chdir(previous)
        for built in (self._out / "lib").rglob("*.so"):
            relative = built.relative_to(self._out / "lib").as_posix()
            build_data["force_include"][str(built)] = relative
        build_data["pure_python"] = False
        build_data["infer_tag"] = True

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        out = getattr(self, "_out", None)
        if out is not None:
            shutil.rmtree(out, ignore_errors=True)
