// kernel/bpf: our own BPF loader and attach layer (no libbpf, no bpftool at run time).
//
//   spec.ts      collectionSpec(elfBytes): CollectionSpec       pure ELF → maps, programs, relocations
//   loader.ts    loadCollection(spec, opts?): Collection        create maps, patch ld_imm64, PROG_LOAD
//   handles.ts   BpfMap / BpfProgram / BpfLink                   fd owners; fromPin(), pin(), close()
//   tcx.ts       attachTcx / queryTcx / detachPinnedLink         TCX links (kernel ≥ 6.6)
//   clsact.ts    attachClsact / detachClsact / listClsact        cls_bpf fallback via rtnetlink
//   probe.ts     haveTcx / probeSchFq / features                 what this kernel can do
//   pin.ts       ensureBpffs / makePinDir / removePinDir / pinName   bpffs and per-attachment dirs
//   objects.ts   objectBytes / objectSpec                        the compiled bpf/*.c objects
//   shaping.ts   the shaping maps' layouts (shape_cfg, shape_stats) and readShapingStats
//   syscall.ts   raw typed bpf() commands                        attr.ts holds the bpf_attr layouts
export * from "./constants";
export { BpfError, isBpfError } from "./errors";
export { ElfError, parseElf } from "./elf";
export { type CollectionSpec, type MapSpec, type ProgramSpec, collectionSpec } from "./spec";
export { Collection, type LoadOptions, createMap, loadCollection, relocate } from "./loader";
export { BpfLink, BpfMap, BpfProgram } from "./handles";
export { type Direction, type TcxAttachOptions, attachTcx, detachPinnedLink, queryTcx, tcxAttachType } from "./tcx";
export { type ClsactAttachment, type ClsactOptions, CLSACT_PRIORITY, attachClsact, detachClsact, listClsact } from "./clsact";
export { type Features, MIN_KERNEL, features, haveSchFq, haveTcx, kernelAtLeast, kernelVersion, probeSchFq } from "./probe";
export { ensureBpffs, inInitialMountNamespace, isBpffs, makePinDir, pinComponent, pinName, removePinDir } from "./pin";
export { OBJECTS, type ObjectName, objectBytes, objectSpec } from "./objects";
export * from "./shaping";
export { possibleCpus } from "./cpus";
