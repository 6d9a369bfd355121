#!/usr/bin/env bash
# Installs what the test suite needs beyond Python packages. Idempotent; safe to re-run.
# Each later capability (Elasticsearch, Chromium, the IIIF validator) adds its step here, and
# a step that cannot complete fails the run with a clear message instead of letting tests skip.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
for pkg in "$@"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ "${#need_apt[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: need Debian packages ${need_apt[*]}; run as root or install them" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
fi
# Elasticsearch is fetched from Maven Central and its analysis plugin compiled: mvn and javac.
command -v mvn >/dev/null || { apt-get update -qq && apt-get install -y -qq maven; }
command -v javac >/dev/null || { apt-get update -qq && apt-get install -y -qq openjdk-17-jdk-headless; }
command -v unzip >/dev/null || { apt-get update -qq && apt-get install -y -qq unzip; }

# The official IIIF Image API validator, in its own virtualenv (it pins old dependencies).
bash tests/iiif/validator_setup.sh .cache/iiif-validator-venv

echo "setup: test services ready"
