"""Command line of the quality domain.

``python -m orchestration.defs.quality``            rewrite the GX file context from the suites in code
``python -m orchestration.defs.quality docs [DIR]`` build GX Data Docs (default: <data_dir>/gx/data_docs)
"""

from __future__ import annotations

import argparse
from pathlib import Path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m orchestration.defs.quality")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("suites", help="rewrite expectations/gx from orchestration/defs/quality/suites.py (default)")
    docs = sub.add_parser("docs", help="build GX Data Docs from the stored validation results")
    docs.add_argument("site_dir", nargs="?", type=Path, help="folder of the site (default: <data_dir>/gx/data_docs)")
    args = parser.parse_args(argv)

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
