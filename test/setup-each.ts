// After every test, one turn of the event loop. Most integration tests are synchronous (spawnSync
// of plugins, ip, tc); vitest's runner moves between them on microtasks only, so without a turn the
// worker would not read its runner's replies for as long as a file's synchronous tests take, and a
// file running over 60 s that way ends in "[vitest-worker]: Timeout calling onTaskUpdate".
import { afterEach } from "vitest";

afterEach(() => new Promise<void>((resolve) => setImmediate(resolve)));
