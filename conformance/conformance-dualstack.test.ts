// The attachment lifecycle again on a dual-stack (IPv4 + IPv6) bridge + host-local network.
import * as path from "node:path";
import { selectChecks } from "./checks/index";
import { CONFORMANCE_DIR } from "./harness";
import { REFERENCE_DIR, ourBinDir, oursSkip, refSkip, suite } from "./suite";

const DUALSTACK = path.join(CONFORMANCE_DIR, "fixtures/bridge-host-local-dualstack.conflist");
const checks = selectChecks(["lifecycle", "del.", "add.", "check."]);
suite("reference", () => REFERENCE_DIR, refSkip, DUALSTACK, checks, " (dual-stack)");
suite("ours", () => ourBinDir(), oursSkip, DUALSTACK, checks, " (dual-stack)");
