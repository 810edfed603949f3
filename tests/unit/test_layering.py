"""The layering is checked by import-linter (``lint-imports``, run by ``make test``), and every
contract in pyproject.toml bites: one import against it, anywhere in the tree, breaks the run."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).parents[2]
PACKAGES = ("domain", "application", "projections", "adapters", "api", "cli", "wiring", "bench")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
# (contract id, the module given an import against it, what it imports)
VIOLATIONS = [
    ("layers", "wiring/tokens.py", "cli.output"),
    ("domain-alone", "domain/values.py", "application.errors"),
    ("application-on-domain", "application/errors.py", "projections.views"),
    ("projections-on-domain", "projections/views.py", "application.errors"),
    ("adapters-below-edge", "adapters/secrets.py", "api.problems"),
    ("api-without-cli", "api/plain.py", "cli.failures"),
    ("cli-without-api", "cli/failures.py", "api.problems"),
    ("adapters-only-in-wiring", "api/plain.py", "adapters.secrets"),
    ("wiring-at-the-top", "api/plain.py", "wiring.tokens"),
]


def lint_imports(tree: Path, *contracts: str) -> subprocess.CompletedProcess[str]:
    options = [arg for contract in contracts for arg in ("--contract", contract)]
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", *options],
        cwd=tree,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the packages and their contracts, to break one import at a time."""
    copy = tmp_path_factory.mktemp("tree")
    for package in PACKAGES:
        shutil.copytree(REPO / package, copy / package, ignore=shutil.ignore_patterns("*.pyc"))
    shutil.copy(REPO / "pyproject.toml", copy)
    return copy


def test_the_tree_keeps_every_contract(tree: Path) -> None:
    result = lint_imports(tree)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "9 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("contract", "module", "target"), VIOLATIONS, ids=[v[0] for v in VIOLATIONS]
)
def test_one_import_against_a_contract_breaks_it(
    tree: Path, contract: str, module: str, target: str
) -> None:
    path = tree / module
    original = path.read_text()
    path.write_text(f"{original}\nimport {target}  # against the layering\n")
    try:
        result = lint_imports(tree, contract)
    finally:
        path.write_text(original)

    assert result.returncode != 0, result.stdout
    assert "0 kept, 1 broken" in result.stdout
    assert f"{module.removesuffix('.py').replace('/', '.')} -> {target}" in result.stdout
