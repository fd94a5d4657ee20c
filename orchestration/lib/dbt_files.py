"""Which files of the dbt project are its code, and their digest (no dbt, Dagster or DuckDB
imports: the warm dbt process, ``lib/warm_dbt.py``, checks its pre-parsed manifest with it)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

#: Folders of the dbt project that are not its code.
NOT_PROJECT_FILES = ("target", "logs")
#: The files that make what dbt builds (a README or a docs page does not).
CODE_SUFFIXES = (".sql", ".yml", ".yaml", ".csv", ".py")


def project_files_digest(project_dir: Path) -> str:
    """SHA-256 over the paths and contents of the dbt project's code: its SQL, YAML, seeds and
    Python, not its target, logs or documentation (the target folder is not even walked: it
    holds the last builds' thousands of files)."""
    root = Path(project_dir)
    files = []
    for folder, subfolders, names in os.walk(root):
        here = Path(folder)
        subfolders[:] = sorted(
            d for d in subfolders if d != "__pycache__" and not (here == root and d in NOT_PROJECT_FILES)
        )
        files += [here / n for n in names if Path(n).suffix.lower() in CODE_SUFFIXES]
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(path.relative_to(root).as_posix().encode("utf-8") + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()
