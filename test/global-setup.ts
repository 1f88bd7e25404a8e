// Once per test run: afterwards, stop the daemon a shim may have spawned in the test runner's own
// network namespace (tests that exec a plugin directly, without a node namespace). Daemons in
// node namespaces are stopped when those namespaces are deleted (helpers/netns.ts).
import { stopDaemon } from "./helpers/mode";

export function teardown(): void {
  stopDaemon("/proc/self/ns/net");
}
