"""Command line of the quality domain.

``python -m orchestration.defs.quality``            rewrite the GX file context from the suites in code
``python -m orchestration.defs.quality docs [DIR]`` build GX Data Docs (default: <data_dir>/gx/data_docs)
``python -m orchestration.defs.quality count``      the suites of the committed context with their expectation
                                                    counts, as a markdown table (read through GX itself)
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path
from typing import Any


def suites_table(project_root: Path | None = None) -> str:
    """Every suite of the GX file context with its expectation count per severity (markdown).

    Reads the committed context through GX (``gx.get_context``), not the generator: it counts
    what GX will run. Raw suites first, then load suites, then mart suites.
    """
    import great_expectations as gx

    from orchestration.defs.quality.suites import EXPECTATIONS_DIR

    context: Any = gx.get_context(mode="file", project_root_dir=str(project_root or EXPECTATIONS_DIR))
    order = {"raw": 0, "load": 1, "mart": 2}
    suites = sorted(context.suites.all(), key=lambda s: (order.get(s.name.split("_")[0], 3), s.name))
    lines = ["| suite | expectations | critical | warning |", "| --- | ---: | ---: | ---: |"]
    total: Counter[str] = Counter()
    for suite in suites:
        severities = Counter(str(getattr(e.severity, "value", e.severity)) for e in suite.expectations)
        n = len(suite.expectations)
        total.update({"expectations": n, "critical": severities["critical"], "warning": severities["warning"]})
        lines.append(f"| `{suite.name}` | {n} | {severities['critical']} | {severities['warning']} |")
    lines.append(
        f"| **{len(suites)} suites** | **{total['expectations']}** | **{total['critical']}** | **{total['warning']}** |"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m orchestration.defs.quality")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("suites", help="rewrite expectations/gx from orchestration/defs/quality/suites.py (default)")
    docs = sub.add_parser("docs", help="build GX Data Docs from the stored validation results")
    docs.add_argument("site_dir", nargs="?", type=Path, help="folder of the site (default: <data_dir>/gx/data_docs)")
    sub.add_parser("count", help="print the suites with their expectation counts (markdown)")
    args = parser.parse_args(argv)

    if args.command == "count":
        print(suites_table())
        return

    if args.command == "docs":
        from orchestration.defs.quality.validation import build_data_docs, gx_dirs

        index = build_data_docs(args.site_dir or gx_dirs()[1])
        print(f"Data Docs: {index.as_uri()}")
        return

    from orchestration.defs.quality.suites import CONTEXT_DIRNAME, EXPECTATIONS_DIR, write_context

    written = write_context()
    print(f"wrote {len(written)} files under {EXPECTATIONS_DIR / CONTEXT_DIRNAME}")


if __name__ == "__main__":
    main()
