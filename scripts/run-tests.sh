#!/usr/bin/env bash
# Runs the whole suite: lint, types, then every test. Service-backed tests never skip: a
# missing service fails the run. Test artefacts (reports, screenshots) go to test-artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
mkdir -p test-artifacts

echo "== ruff"
$BIN/ruff check .
echo "== mypy"
$BIN/mypy archive ingest iiif search
echo "== elasticsearch"
# A real single-node Elasticsearch on 127.0.0.1 for the service tests; it is stopped on exit.
export MEMORIA_ES_PORT="${MEMORIA_ES_PORT:-9200}"
export MEMORIA_ES_URL="http://127.0.0.1:${MEMORIA_ES_PORT}"
if ! bash scripts/es.sh start; then
  echo "Elasticsearch could not start: the search service tests cannot run" >&2
  exit 1
fi
trap 'bash scripts/es.sh stop || true' EXIT
echo "== pytest"
# -rs lists any skip, and a skip in CI is turned into a failure below.
set +e
$BIN/pytest -p no:cacheprovider -rs --junitxml=test-artifacts/junit.xml "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: that is a failure" >&2
  exit 1
fi
if [ "$status" -eq 0 ] && [ "${CI:-}" = "true" ] && grep -q '<skipped' test-artifacts/junit.xml; then
  echo "tests were skipped in CI; every test must run here" >&2
  exit 1
fi
exit "$status"
