// One bound on stdin (the network configuration) for every way a call runs. A runtime never sends
// megabytes, and an unbounded read would let bad input exhaust memory; one number for all paths
// keeps the answer the same whichever path a call takes:
//   - the shim reads at most STDIN_LIMIT + 1 bytes (scripts/build.mjs reads the number below out
//     of this file and passes it to the C); more than STDIN_LIMIT goes to the fallback, replayed;
//   - the fallback (cli/stdin.ts) reads at most STDIN_LIMIT + 1 bytes;
//   - the dispatcher (core/skel.ts) answers more than STDIN_LIMIT with stdinTooLarge(), so the
//     daemon and the fallback print the same bytes.
// Keep STDIN_LIMIT a literal `N << M` or `N`: the build parses it.
import { CniError, Code } from "./errors";

export const STDIN_LIMIT = 4 << 20;

/** The one error for a stdin over STDIN_LIMIT. */
export const stdinTooLarge = () => new CniError(Code.DecodingFailure, "network config too large", `stdin exceeds ${STDIN_LIMIT} bytes`);
