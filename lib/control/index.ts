/**
 * The control surface of an image (lib/control): what in-image commands,
 * the control API and configuration use to read and change an image.
 * Commands import this module, lib/socket and lib/wire, and nothing else
 * of lib/.
 */

export type { Clock, Timer } from '../clock.js';
export { E, VimageError, fail } from '../errors.js';
export { CPU_WEIGHT_MAX, ImageControl, SocketsControl, VnetHandle, commandHandles, type CpuParams } from './image.js';
export {
  DEFAULT_RULE,
  FirewallControl,
  ProfileError,
  RuleSyntaxError,
  protoName,
  type DnConfigSpec,
  type DnProfile,
  type DnFlowInfo,
  type DnFlowsetInfo,
  type DnMaskInfo,
  type DnPipeInfo,
  type DnSchedInfo,
  type DummynetInfo,
  type DynStateInfo,
  type FirewallSwitch,
  type RuleInfo,
  RESVD_SET,
  setShowLine,
  type SetsControl,
  FLOW_FIELDS,
  TT,
  TT_NAMES,
  VT_LEGACY,
  VT_NAMES,
  parseValtype,
  type EntryResult,
  type TableCreateSpec,
  type TableEntry,
  type TableInfo,
  type TablesControl,
} from './firewall.js';
export { IFF, classfulLen, flagNames, type AddressInfo, type InterfaceCounters, type InterfaceInfo, type InterfaceOp } from './interfaces.js';
export type { BridgeAddress, BridgeInfo, BridgeOp, VlanInfo } from './interfaces.js';
export type { VxlanEntry, VxlanInfo } from '../net/if_vxlan.js';
export type { VxlanParams } from './vxlan.js';
export type { GifInfo, GifTunnel } from './gif.js';
export type { NeighbourInfo } from './neighbours.js';
export type { Icmp6Socket, Inet6AddressInfo, Nd6IfInfo, Nd6NeighbourInfo, Nd6PrefixInfo, Nd6RouterInfo, Route6Info } from './inet6.js';
export { RTF, RTM, rtFlagString, type RouteInfo, type RouteMessage, type RouteSpec, type RouteTarget } from './routes.js';
export { PROTOCOL_NAMES, isProtocolName, type HistogramEntry, type ProtocolName, type ProtocolStats, type StatEntry } from './stats.js';
export type { SysctlInfo } from './sysctl.js';
export type { OwnedSocketRow, SocketOwner } from './sockets.js';
export { BPF_DEFAULT_SNAPLEN, DLT_EN10MB, DLT_NULL, bpfLinkType, type BpfDesc } from '../net/bpf.js';
export { BpfCompileError, bpfCompile } from '../net/bpf_compile.js';
