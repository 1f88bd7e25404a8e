// Placeholder until the ebpf-bandwidth plugin lands: the counters command reports that clearly.
export async function printStats(_opts: { pinDir?: string }): Promise<number> {
  process.stderr.write("ebpf-bandwidth is not implemented yet: no counters to show\n");
  return 1;
}
