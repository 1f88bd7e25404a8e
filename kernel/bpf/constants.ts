// bpf(2) UAPI numbers (include/uapi/linux/bpf.h). ABI: values never change once released, so they
// are written out here rather than taken from a build host's headers (older ones predate TCX).

export const Cmd = {
  MAP_CREATE: 0,
  MAP_LOOKUP_ELEM: 1,
  MAP_UPDATE_ELEM: 2,
  MAP_DELETE_ELEM: 3,
  MAP_GET_NEXT_KEY: 4,
  PROG_LOAD: 5,
  OBJ_PIN: 6,
  OBJ_GET: 7,
  PROG_TEST_RUN: 10,
  PROG_GET_FD_BY_ID: 13,
  MAP_GET_FD_BY_ID: 14,
  OBJ_GET_INFO_BY_FD: 15,
  PROG_QUERY: 16,
  BTF_LOAD: 18,
  LINK_CREATE: 28,
  LINK_GET_FD_BY_ID: 30,
  LINK_DETACH: 34,
} as const;
export type CmdName = keyof typeof Cmd;

export const MapType = {
  HASH: 1,
  ARRAY: 2,
  PERCPU_HASH: 5,
  PERCPU_ARRAY: 6,
  LRU_HASH: 9,
} as const;

export const ProgType = {
  SOCKET_FILTER: 1,
  SCHED_CLS: 3,
  SCHED_ACT: 4,
} as const;

export const AttachType = {
  /** Unspecified expected_attach_type: usable by both TCX links and cls_bpf. */
  NONE: 0,
  TCX_INGRESS: 46,
  TCX_EGRESS: 47,
} as const;

export const LinkType = {
  TCX: 11,
} as const;

/** BPF_MAP_UPDATE_ELEM flags. */
export const UpdateFlag = {
  ANY: 0,
  NOEXIST: 1,
  EXIST: 2,
} as const;

/** Flags for LINK_CREATE (tcx) and PROG_QUERY: position relative to other programs (mprog). */
export const MprogFlag = {
  REPLACE: 1 << 2,
  BEFORE: 1 << 3,
  AFTER: 1 << 4,
  ID: 1 << 5,
  LINK: 1 << 13,
} as const;

/** ld_imm64 src_reg values. */
export const PSEUDO_MAP_FD = 1;
export const PSEUDO_MAP_VALUE = 2;

/** tc / tcx program return codes. */
export const TcAct = {
  UNSPEC: -1, // TCX_NEXT
  OK: 0, // TCX_PASS
  SHOT: 2, // TCX_DROP
  REDIRECT: 7, // TCX_REDIRECT
} as const;

/** Mount flags and magic for bpffs. */
export const BPF_FS_MAGIC = 0xcafe4a11;

/** Default pin root. */
export const BPFFS_ROOT = "/sys/fs/bpf";
