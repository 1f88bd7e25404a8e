// Placeholder until the host-local plugin lands: it speaks the protocol (VERSION works) and answers every
// other command with a clear CNI error instead of pretending to work.
import { CniError, Code } from "../../core/errors";
import type { Plugin } from "../../core/plugin";
import { SUPPORTED_VERSIONS } from "../../core/version";

const notYet = async (): Promise<never> => {
  throw new CniError(Code.Internal, "host-local: not implemented yet in this build");
};

export const plugin: Plugin = {
  name: "host-local",
  supportedVersions: SUPPORTED_VERSIONS,
  add: notYet,
  del: notYet,
  check: notYet,
  gc: notYet,
  status: notYet,
};
