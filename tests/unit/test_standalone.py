"""The repository stands alone: nothing it runs reads a folder beside the clone.

``.ci/run`` proves it by running the suite in a clone placed in an empty folder; this
test names the offending line at once, on any checkout.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHECKED = ["myreports_async", "tests", "docs", "benchmarks", ".ci", "noxfile.py", "pyproject.toml"]
SUFFIXES = {".py", ".md", ".toml", ".yml", ".yaml", ".cfg", ".ini", ".sh", ""}
# A path that climbs out of the repository to a sibling folder, written in any of the
# ways it has been: "../<name>/", parents[N] / "<name>", or an absolute path to it.
OUTSIDE = re.compile(
    "|".join(
        [
            r"\.\./" + "shared",
            r"parents\[\d+\]\s*/\s*[\"']" + "shared",
            "/" + "work/",
        ]
    )
)


def checked_files() -> list[Path]:
    files: list[Path] = []
    for name in CHECKED:
        path = ROOT / name
        candidates = [path] if path.is_file() else sorted(path.rglob("*"))
        files += [
            p
            for p in candidates
            if p.is_file()
            and p.suffix in SUFFIXES
            and not any(
                part.startswith(".") and part != ".ci" for part in p.relative_to(ROOT).parts
            )
        ]
    return files


def test_nothing_reads_outside_the_repository() -> None:
    offending = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in checked_files()
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert offending == []


def test_the_documented_payloads_are_in_the_repository() -> None:
    data = ROOT / "tests" / "data"
    assert (data / "billingdata_get_all.json").is_file()
    assert (data / "billingdata_get_all_as_documented.txt").is_file()
    assert (data / "README.md").read_text().startswith("# Documented payloads")
