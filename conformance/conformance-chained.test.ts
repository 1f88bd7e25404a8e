// Lifecycle, GC and STATUS with the bandwidth plugin chained behind bridge + host-local (ours:
// ebpf-bandwidth; the reference: bandwidth), at the versions runtimes use today.
import { selectChecks } from "./checks/index";
import { REFERENCE_DIR, ourBinDir, oursSkip, refSkip, suite } from "./suite";
import { DEFAULT_CHAIN_FIXTURE } from "./run";

const checks = selectChecks(["lifecycle.*@1.0.0", "lifecycle.*@1.1.0", "del.", "add.", "check.", "gc.", "status."]);
suite("reference", () => REFERENCE_DIR, refSkip, DEFAULT_CHAIN_FIXTURE, checks, " (chained bandwidth)");
suite("ours", () => ourBinDir(), oursSkip, DEFAULT_CHAIN_FIXTURE, checks, " (chained bandwidth)");
