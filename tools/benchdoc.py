"""Shared by tools/bench-*: machine facts and the marked sections of
docs/BENCHMARKS.md that each script owns and rewrites."""
import pathlib
import re
import sys


def cpu_model():
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def section(name, tool, lines):
    """The text of section `name`, between the markers that find it again."""
    return "\n".join([f"<!-- {name}:begin (written by {tool}; do not edit by hand) -->", *lines,
                      f"<!-- {name}:end -->"])


def write_section(repo, name, text, tool):
    """Replaces section `name` in docs/BENCHMARKS.md, or appends it."""
    doc = pathlib.Path(repo) / "docs/BENCHMARKS.md"
    old = doc.read_text() if doc.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"<!-- {name}:begin.*?<!-- {name}:end -->", re.S)
    new = pattern.sub(lambda _: text, old) if pattern.search(old) else \
        old.rstrip() + "\n\n" + text + "\n"
    doc.write_text(new)
    print(f"{tool}: wrote {doc}", file=sys.stderr)
