"""``python -m orchestration.defs.quality``: rewrite the GX file context from the suites in code."""

from orchestration.defs.quality.suites import CONTEXT_DIRNAME, EXPECTATIONS_DIR, write_context

if __name__ == "__main__":
    written = write_context()
    print(f"wrote {len(written)} files under {EXPECTATIONS_DIR / CONTEXT_DIRNAME}")
