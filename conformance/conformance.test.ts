// The conformance table against the reference plugins (/usr/lib/cni) and ours (dist/tscni), main
// fixture (bridge + host-local) and the chain fixture for the chain.* checks.
import { REFERENCE_DIR, ourBinDir, oursSkip, refSkip, suite } from "./suite";

suite("reference", () => REFERENCE_DIR, refSkip);
suite("ours", () => ourBinDir(), oursSkip);
