#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run every test: unit tests, kernel integration tests in throwaway
# network namespaces, plugin tests, conformance. The plugin-facing suites run twice: with the
# resident daemon behind the shims (default), and with the shims' fallback (every call execs the
# executable; TSCNI_TEST_MODE=fallback). Ends with "N passed, N failed, N skipped" over both runs.
# Arguments go to vitest (e.g. a file filter); then only the resident run happens.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || { echo "setup failed"; echo "0 passed, 1 failed"; exit 1; }

mkdir -p build
status=0
reports=()
run() { # run <name> <env...> -- <vitest args...>
  local name=$1; shift
  local envs=()
  while [[ $1 != -- ]]; do envs+=("$1"); shift; done
  shift
  local report="build/vitest-$name.json"
  rm -f "$report"
  echo "== $name =="
  env "${envs[@]}" npx vitest run --reporter=default --reporter=json --outputFile.json="$report" "$@" || status=1
  reports+=("$report")
}

run resident TSCNI_TEST_MODE=resident -- "$@"
if (($# == 0)); then
  # The suites that exec our plugins (bpf-*, netlink-*, kernel-* and unit tests do not).
  run fallback TSCNI_TEST_MODE=fallback -- test/integration/bridge test/integration/host-local test/integration/ebpf-bandwidth \
    test/integration/names test/integration/libcni test/integration/podman test/integration/executable test/integration/cri \
    test/integration/loopback test/integration/isolation test/integration/gc-table conformance/
fi

node -e '
  let passed = 0, failed = 0, skipped = 0, missing = 0;
  for (const f of process.argv.slice(1)) {
    let r;
    try { r = require(f); } catch { missing++; continue; }
    // Suites that fail to load count as failures too.
    const broken = (r.testResults || []).filter((t) => t.status === "failed" && (!t.assertionResults || t.assertionResults.length === 0)).length;
    passed += r.numPassedTests; failed += r.numFailedTests + broken; skipped += (r.numPendingTests || 0) + (r.numTodoTests || 0);
  }
  console.log(`${passed} passed, ${failed + missing} failed, ${skipped} skipped`);
' "${reports[@]/#/$PWD/}"
exit $status
