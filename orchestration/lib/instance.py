"""The production Dagster instance file (``deploy/dagster.yaml``), rendered from the environment.

Dagster reads ``env: NAME`` itself for connection settings and secrets, but takes only literal
numbers for run retries, run monitoring and concurrency limits. Those are written in the
template as ``${NAME:-default}`` and filled in here from the environment, so that every
setting of the instance comes from an environment variable. Secrets never go through this
path: a placeholder whose name looks like a secret is refused.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from orchestration.lib.settings import PROJECT_ROOT

TEMPLATE = PROJECT_ROOT / "deploy" / "dagster.yaml"
PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
SECRET_WORDS = ("PASSWORD", "SECRET", "TOKEN", "KEY")


class InstanceConfigError(ValueError):
    """The template cannot be rendered: a variable is missing or names a secret."""


def render_instance_yaml(template: str, env: Mapping[str, str] | None = None) -> str:
    """``template`` with every ``${NAME:-default}`` replaced by ``env[NAME]`` (else the default)."""
    env = os.environ if env is None else env
    missing: list[str] = []

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if any(word in name.upper() for word in SECRET_WORDS):
            raise InstanceConfigError(
                f"${{{name}}} looks like a secret: use `env: {name}` so Dagster reads it at run time instead"
            )
        value = env.get(name)
        if value is None or value == "":
            if default is None:
                missing.append(name)
                return ""
            value = default
        if "\n" in value:
            raise InstanceConfigError(f"{name} must be one line")
        return value

    rendered = PLACEHOLDER.sub(replace, template)
    if missing:
        raise InstanceConfigError(f"set the environment variable(s) {', '.join(sorted(set(missing)))}")
    return rendered


def write_instance_yaml(output: Path, template: Path = TEMPLATE, env: Mapping[str, str] | None = None) -> Path:
    """Render ``template`` into ``output`` (e.g. ``$DAGSTER_HOME/dagster.yaml``)."""
    text = render_instance_yaml(template.read_text(), env)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(output.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(output)
    return output
