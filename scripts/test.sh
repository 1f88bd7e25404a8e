#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run every test: unit tests, kernel integration tests in throwaway
# network namespaces, plugin tests, conformance. Ends with "N passed, N failed[, N skipped]".
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || { echo "setup failed"; echo "0 passed, 1 failed"; exit 1; }

mkdir -p build
report=build/vitest-report.json
rm -f "$report"
npx vitest run --reporter=default --reporter=json --outputFile.json="$report" "$@"
status=$?
if [[ -f "$report" ]]; then
  node -e '
    const r = require(process.argv[1]);
    const skipped = (r.numPendingTests || 0) + (r.numTodoTests || 0);
    // Suites that fail to load count as failures too.
    const broken = (r.testResults || []).filter((t) => t.status === "failed" && (!t.assertionResults || t.assertionResults.length === 0)).length;
    console.log(`${r.numPassedTests} passed, ${r.numFailedTests + broken} failed, ${skipped} skipped`);
  ' "$PWD/$report"
else
  echo "0 passed, 1 failed"
  status=1
fi
exit $status
