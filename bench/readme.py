"""Put a benchmark's figures into README.md, between ``<!-- bench:NAME -->`` and ``<!-- /bench:NAME -->``,
and name the machine they come from."""

from __future__ import annotations

import platform
import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def fill_readme(name: str, text: str) -> None:
    """Replace what stands between the two markers of ``name`` with ``text``; the markers must exist."""
    pattern = re.compile(rf"(<!-- bench:{re.escape(name)} -->\n).*?(\n<!-- /bench:{re.escape(name)} -->)", re.S)
    content = README.read_text()
    if not pattern.search(content):
        raise SystemExit(f"README.md has no <!-- bench:{name} --> block to fill")
    README.write_text(pattern.sub(lambda m: m.group(1) + text + m.group(2), content))


def cpu_name() -> str:
    """The CPU's model name: figures depend on it as much as on the core count."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"
