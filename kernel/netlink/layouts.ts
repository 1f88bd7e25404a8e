// C struct layouts from the UAPI headers, as data (see struct.ts). Sizes are asserted in the
// unit tests against the values sizeof() gives on Linux.
import { defineStruct } from "./struct";

export interface NlMsgHdr { len: number; type: number; flags: number; seq: number; pid: number }
export const nlmsghdr = defineStruct<NlMsgHdr>("nlmsghdr", [
  ["len", "u32"], ["type", "u16"], ["flags", "u16"], ["seq", "u32"], ["pid", "u32"],
]);

export interface IfInfoMsg { family: number; type: number; index: number; flags: number; change: number }
export const ifinfomsg = defineStruct<IfInfoMsg>("ifinfomsg", [
  ["family", "u8"], ["pad", "u8"], ["type", "u16"], ["index", "s32"], ["flags", "u32"], ["change", "u32"],
]);

export interface IfAddrMsg { family: number; prefixlen: number; flags: number; scope: number; index: number }
export const ifaddrmsg = defineStruct<IfAddrMsg>("ifaddrmsg", [
  ["family", "u8"], ["prefixlen", "u8"], ["flags", "u8"], ["scope", "u8"], ["index", "u32"],
]);

export interface RtMsg {
  family: number; dstLen: number; srcLen: number; tos: number; table: number;
  protocol: number; scope: number; type: number; flags: number;
}
export const rtmsg = defineStruct<RtMsg>("rtmsg", [
  ["family", "u8"], ["dstLen", "u8"], ["srcLen", "u8"], ["tos", "u8"], ["table", "u8"],
  ["protocol", "u8"], ["scope", "u8"], ["type", "u8"], ["flags", "u32"],
]);

export interface NdMsg { family: number; ifindex: number; state: number; flags: number; type: number }
export const ndmsg = defineStruct<NdMsg>("ndmsg", [
  ["family", "u8"], ["pad1", "u8"], ["pad2", "u16"], ["ifindex", "s32"], ["state", "u16"], ["flags", "u8"], ["type", "u8"],
]);

export interface TcMsg { family: number; ifindex: number; handle: number; parent: number; info: number }
export const tcmsg = defineStruct<TcMsg>("tcmsg", [
  ["family", "u8"], ["pad1", "u8"], ["pad2", "u16"], ["ifindex", "s32"], ["handle", "u32"], ["parent", "u32"], ["info", "u32"],
]);

/** struct nlmsgerr minus the echoed request header, which is parsed separately. */
export const nlmsgerrHead = defineStruct<{ error: number }>("nlmsgerr.error", [["error", "s32"]]);

export interface TcRateSpec { cellLog: number; linklayer: number; overhead: number; cellAlign: number; mpu: number; rate: number }
export const tcRatespec = defineStruct<TcRateSpec>("tc_ratespec", [
  ["cellLog", "u8"], ["linklayer", "u8"], ["overhead", "u16"], ["cellAlign", "s16"], ["mpu", "u16"], ["rate", "u32"],
]);

export interface TcHtbOpt { rate: Partial<TcRateSpec>; ceil: Partial<TcRateSpec>; buffer: number; cbuffer: number; quantum: number; level: number; prio: number }
export const tcHtbOpt = defineStruct<TcHtbOpt>("tc_htb_opt", [
  ["rate", tcRatespec], ["ceil", tcRatespec], ["buffer", "u32"], ["cbuffer", "u32"], ["quantum", "u32"], ["level", "u32"], ["prio", "u32"],
]);

export interface TcHtbGlob { version: number; rate2quantum: number; defcls: number; debug: number; directPkts: number }
export const tcHtbGlob = defineStruct<TcHtbGlob>("tc_htb_glob", [
  ["version", "u32"], ["rate2quantum", "u32"], ["defcls", "u32"], ["debug", "u32"], ["directPkts", "u32"],
]);

export interface TcTbfQopt { rate: Partial<TcRateSpec>; peakrate: Partial<TcRateSpec>; limit: number; buffer: number; mtu: number }
export const tcTbfQopt = defineStruct<TcTbfQopt>("tc_tbf_qopt", [
  ["rate", tcRatespec], ["peakrate", tcRatespec], ["limit", "u32"], ["buffer", "u32"], ["mtu", "u32"],
]);

/** struct tc_mirred: tc_gen (index, capab, action, refcnt, bindcnt) + eaction + ifindex. */
export interface TcMirred { index: number; capab: number; action: number; refcnt: number; bindcnt: number; eaction: number; ifindex: number }
export const tcMirred = defineStruct<TcMirred>("tc_mirred", [
  ["index", "u32"], ["capab", "u32"], ["action", "s32"], ["refcnt", "s32"], ["bindcnt", "s32"], ["eaction", "s32"], ["ifindex", "u32"],
]);

export const tcFifoQopt = defineStruct<{ limit: number }>("tc_fifo_qopt", [["limit", "u32"]]);

export interface GnetStatsBasic { bytes: number; packets: number }
export const gnetStatsBasic = defineStruct<GnetStatsBasic>("gnet_stats_basic", [["bytes", "u64"], ["packets", "u32"]]);

export interface GnetStatsQueue { qlen: number; backlog: number; drops: number; requeues: number; overlimits: number }
export const gnetStatsQueue = defineStruct<GnetStatsQueue>("gnet_stats_queue", [
  ["qlen", "u32"], ["backlog", "u32"], ["drops", "u32"], ["requeues", "u32"], ["overlimits", "u32"],
]);

export interface BridgeVlanInfo { flags: number; vid: number }
export const bridgeVlanInfo = defineStruct<BridgeVlanInfo>("bridge_vlan_info", [["flags", "u16"], ["vid", "u16"]]);

export interface IfaCacheinfo { prefered: number; valid: number; cstamp: number; tstamp: number }
export const ifaCacheinfo = defineStruct<IfaCacheinfo>("ifa_cacheinfo", [
  ["prefered", "u32"], ["valid", "u32"], ["cstamp", "u32"], ["tstamp", "u32"],
]);
