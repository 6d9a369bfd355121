#!/usr/bin/env bash
# Create (idempotently) a separate virtualenv holding the official IIIF Image API validator.
# Usage: tests/iiif/validator_setup.sh VENV_DIR
# Needs Debian's libmagic1 (python-magic): apt-get update && apt-get install -y libmagic1
set -euo pipefail
venv="${1:?usage: validator_setup.sh VENV_DIR}"
version="1.0.5"
python="${PYTHON:-python3}"

if [ -x "$venv/bin/iiif-validate.py" ] && "$venv/bin/python" -c "import magic" 2>/dev/null \
   && "$venv/bin/pip" show iiif-validator 2>/dev/null | grep -qx "Version: $version"; then
  exit 0
fi

if ! "$python" -c "import ctypes.util, sys; sys.exit(0 if ctypes.util.find_library('magic') else 1)"; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && apt-get install -y -qq libmagic1 >/dev/null
  else
    echo "libmagic1 is missing: run 'apt-get update && apt-get install -y libmagic1' as root" >&2
    exit 2
  fi
fi

"$python" -m venv "$venv"
"$venv/bin/pip" install -q --upgrade pip
"$venv/bin/pip" install -q "iiif-validator==$version"
"$venv/bin/python" -c "import magic"
test -x "$venv/bin/iiif-validate.py"
