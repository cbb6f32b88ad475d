"""The import direction of DESIGN.md: the error family and the schema stand below the models."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    "module",
    [
        "fme.core.errors",
        "fme.core.options",
        "fme.core.outputs",
        "fme.core.digest",
        "db.models",
        "db.engine",
        "db.migrate",
        "db.votes",
        "db.ratings",
        "study.report",  # the statistics, tables and figures: no models, no torch
    ],
)
def test_module_imports_no_generation_and_no_torch(module):
    code = (
        f"import sys, {module}; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('generation', 'torch', 'eval'));"
        "print(','.join(bad))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "", f"{module} pulls in {out}"


def test_old_error_import_path_is_the_same_family():
    from fme import errors
    from generation import errors as old

    assert old.FMEError is errors.FMEError and old.DataError is errors.DataError
