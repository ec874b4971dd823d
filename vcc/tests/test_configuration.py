"""Configuration is documented in one place: the README's table names every environment
variable the code reads (settings, scripts, compose), and nothing else."""

import re
from pathlib import Path

from django.conf import settings

ROOT = Path(settings.BASE_DIR)
# Python: env.str("NAME" ...), os.environ.get("NAME"), os.environ["NAME"], os.getenv("NAME").
PYTHON_READ = re.compile(
    r"""(?:\benv\.\w+|os\.environ\.get|os\.getenv)\(\s*["']([A-Z][A-Z0-9_]*)["']"""
    r"""|os\.environ\[\s*["']([A-Z][A-Z0-9_]*)["']\s*\]"""
)
# Shell and compose: ${NAME}, ${NAME:-default}, ${NAME:?message}.
SHELL_READ = re.compile(r"\$\{([A-Z][A-Z0-9_]*)")
# Set by the tests and benchmarks for the processes they start: plumbing, not configuration.
INTERNAL = {"TEST_STAGES", "TEST_STAGE_SECONDS", "BENCH_POLL_SECONDS"}
SKIPPED_DIRS = {".venv", "var", "node_modules", "migrations", "test-artifacts", ".git"}


def _python_files() -> list[Path]:
    return [
        path
        for path in ROOT.rglob("*.py")
        if not SKIPPED_DIRS.intersection(path.relative_to(ROOT).parts)
        and path != Path(__file__)  # whose patterns would count as reads
    ]


def _names_read() -> dict[str, str]:
    """Each variable read anywhere, with one file that reads it."""
    found: dict[str, str] = {}
    for path in _python_files():
        for match in PYTHON_READ.finditer(path.read_text()):
            found.setdefault(match.group(1) or match.group(2), str(path.relative_to(ROOT)))
    for path in [*ROOT.glob("bin/*"), ROOT / ".ci" / "run", ROOT / "docker-compose.yml"]:
        for name in SHELL_READ.findall(path.read_text()):
            found.setdefault(name, str(path.relative_to(ROOT)))
    return {name: where for name, where in found.items() if name not in INTERNAL}


def _names_documented() -> set[str]:
    section = (ROOT / "README.md").read_text().split("## Configuration", 1)[1].split("\n## ")[0]
    rows = [line.split("|")[1] for line in section.splitlines() if line.startswith("| `")]
    return {name for cell in rows for name in re.findall(r"`([A-Z][A-Z0-9_]*)`", cell)}


def test_the_scan_sees_the_ways_the_code_reads_the_environment():
    read = _names_read()
    # One of each kind: settings (env.*), a multi-line read, a script, compose, os.environ.
    assert read["DATABASE_URL"] == "vcc/settings/base.py"
    assert read["DJANGO_ALLOWED_HOSTS"] == "vcc/settings/base.py"
    assert read["PORT"] == "bin/run"
    assert read["FLOWER_BASIC_AUTH"] == "docker-compose.yml"
    assert "TEST_E2E_DEALS" in read


def test_every_variable_the_code_reads_is_in_the_readme_table():
    undocumented = {name: where for name, where in _names_read().items()}
    for name in _names_documented():
        undocumented.pop(name, None)
    assert undocumented == {}, "add these to the README's Configuration table"


def test_the_readme_table_names_only_variables_the_code_reads():
    assert _names_documented() - set(_names_read()) == set()


def test_the_compose_example_env_file_sets_every_variable_compose_reads():
    compose = set(SHELL_READ.findall((ROOT / "docker-compose.yml").read_text()))
    example = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", (ROOT / ".env.example").read_text(), re.M))
    assert compose == example
