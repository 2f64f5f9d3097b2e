"""The catalogue as a Markdown table (embedded in ``docs/catalogue.md``)."""

from __future__ import annotations

from collections.abc import Mapping

from pytest_openwhisk.catalog.manifest import FunctionSpec


def markdown_table(specs: Mapping[str, FunctionSpec]) -> str:
    """The catalogue as a Markdown table (docs/catalogue.md embeds it between marker comments)."""
    rows = [
        "| function | kind | packaging | limits | SLO warm | SLO cold | what it does |",
        "|---|---|---|---|---|---|---|",
    ]
    for spec in specs.values():
        if spec.is_sequence:
            packaging = "sequence: " + " → ".join(spec.components)
        elif spec.language == "java" and spec.code is not None:
            packaging = f"jar from `{spec.code.name}` (javac + Gson at deploy)"
        elif spec.zip is not None:
            packaging = "zip" + (f" + bundled {', '.join(spec.zip.bundle)}" if spec.zip.bundle else "")
        else:
            packaging = f"file `{spec.code.name if spec.code else ''}`"
        limits = (
            ", ".join(
                x
                for x in (
                    f"{spec.memory} MB" if spec.memory else "",
                    f"{spec.timeout / 1000:g} s" if spec.timeout else "",
                )
                if x
            )
            or "defaults"
        )
        slo = {
            mode: ", ".join(f"{k} ≤ {v}" for k, v in spec.slo.get(mode, {}).items()) or "–"
            for mode in ("warm", "cold")
        }
        rows.append(
            f"| `{spec.name}` | {spec.kind} | {packaging} | {limits} | {slo['warm']} | {slo['cold']} "
            f"| {spec.description} |"
        )
    return "\n".join(rows) + "\n"
