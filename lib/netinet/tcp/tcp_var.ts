/**
 * TCP tunables (net.inet.tcp.*), with FreeBSD's names and defaults, the
 * statistics (`struct tcpstat`) and the connection states, spelled as in
 * RFC 9293.
 */

import { defineStats, type Stats } from '../../stats.js';
import { sysctlEnum, sysctlInt } from '../../sysctl.js';
import { CC_ALGORITHMS } from './tcp_cc.js';

export const TCPS = {
  CLOSED: 0,
  LISTEN: 1,
  SYN_SENT: 2,
  SYN_RECEIVED: 3,
  ESTABLISHED: 4,
  CLOSE_WAIT: 5,
  FIN_WAIT_1: 6,
  CLOSING: 7,
  LAST_ACK: 8,
  FIN_WAIT_2: 9,
  TIME_WAIT: 10,
} as const;
export type TcpState = (typeof TCPS)[keyof typeof TCPS];

/** State names as netstat prints them (FreeBSD's tcpstates[]). */
export const TCP_STATE_NAMES: readonly string[] = [
  'CLOSED',
  'LISTEN',
  'SYN_SENT',
  'SYN_RCVD',
  'ESTABLISHED',
  'CLOSE_WAIT',
  'FIN_WAIT_1',
  'CLOSING',
  'LAST_ACK',
  'FIN_WAIT_2',
  'TIME_WAIT',
];

export const tcpMssDflt = sysctlInt({ name: 'net.inet.tcp.mssdflt', def: 536, min: 88, max: 65495, descr: 'Default TCP Maximum Segment Size' });
export const tcpMinMss = sysctlInt({ name: 'net.inet.tcp.minmss', def: 216, min: 88, max: 65495, descr: 'Minimum TCP Maximum Segment Size' });
export const tcpRfc1323 = sysctlInt({ name: 'net.inet.tcp.rfc1323', def: 1, min: 0, max: 1, descr: 'Enable rfc1323 (high performance TCP) extensions' });
export const tcpSackEnable = sysctlInt({ name: 'net.inet.tcp.sack.enable', def: 1, min: 0, max: 1, descr: 'Enable/Disable TCP SACK support' });
export const tcpDelayedAck = sysctlInt({ name: 'net.inet.tcp.delayed_ack', def: 1, min: 0, max: 1, descr: 'Delay ACK to try and piggyback it onto a data packet' });
export const tcpDelackTime = sysctlInt({ name: 'net.inet.tcp.delacktime', def: 40, min: 1, max: 1000, descr: 'Time before a delayed ACK is sent (ms)' });
export const tcpMsl = sysctlInt({ name: 'net.inet.tcp.msl', def: 30000, min: 1, max: 600000, descr: 'Maximum segment lifetime (ms)' });
export const tcpRexmitInitial = sysctlInt({ name: 'net.inet.tcp.rexmit_initial', def: 1000, min: 1, max: 60000, descr: 'Initial Retransmission Timeout (ms)' });
export const tcpRexmitMin = sysctlInt({ name: 'net.inet.tcp.rexmit_min', def: 30, min: 1, max: 60000, descr: 'Minimum Retransmission Timeout (ms)' });
export const tcpRexmitSlop = sysctlInt({ name: 'net.inet.tcp.rexmit_slop', def: 200, min: 0, max: 60000, descr: 'Retransmission Timer Slop (ms)' });
export const tcpKeepInit = sysctlInt({ name: 'net.inet.tcp.keepinit', def: 75000, min: 1, max: 3600000, descr: 'time to establish connection (ms)' });
export const tcpKeepIdle = sysctlInt({ name: 'net.inet.tcp.keepidle', def: 7200000, min: 1, max: 2147483647, descr: 'time before keepalive probes begin (ms)' });
export const tcpKeepIntvl = sysctlInt({ name: 'net.inet.tcp.keepintvl', def: 75000, min: 1, max: 3600000, descr: 'time between keepalive probes (ms)' });
export const tcpKeepCnt = sysctlInt({ name: 'net.inet.tcp.keepcnt', def: 8, min: 1, max: 1000, descr: 'Number of keepalive probes to send' });
export const tcpPersMin = sysctlInt({ name: 'net.inet.tcp.persmin', def: 5000, min: 1, max: 3600000, descr: 'minimum persistence interval (ms)' });
export const tcpPersMax = sysctlInt({ name: 'net.inet.tcp.persmax', def: 60000, min: 1, max: 3600000, descr: 'maximum persistence interval (ms)' });
export const tcpFinWait2Timeout = sysctlInt({ name: 'net.inet.tcp.finwait2_timeout', def: 60000, min: 1, max: 3600000, descr: 'FIN-WAIT2 timeout (ms)' });
export const tcpBlackhole = sysctlInt({ name: 'net.inet.tcp.blackhole', def: 0, min: 0, max: 2, descr: 'Do not send RST on segments to closed ports' });
export const tcpSendspace = sysctlInt({ name: 'net.inet.tcp.sendspace', def: 32768, min: 1024, max: 64 * 1024 * 1024, descr: 'Initial send socket buffer size' });
export const tcpRecvspace = sysctlInt({ name: 'net.inet.tcp.recvspace', def: 65536, min: 1024, max: 64 * 1024 * 1024, descr: 'Initial receive socket buffer size' });
export const tcpSendbufMax = sysctlInt({ name: 'net.inet.tcp.sendbuf_max', def: 2097152, min: 1024, max: 64 * 1024 * 1024, descr: 'Max size of automatic send buffer' });
export const tcpRecvbufMax = sysctlInt({ name: 'net.inet.tcp.recvbuf_max', def: 2097152, min: 1024, max: 64 * 1024 * 1024, descr: 'Max size of automatic receive buffer' });
export const tcpSendbufAuto = sysctlInt({ name: 'net.inet.tcp.sendbuf_auto', def: 1, min: 0, max: 1, descr: 'Enable automatic send buffer sizing' });
export const tcpRecvbufAuto = sysctlInt({ name: 'net.inet.tcp.recvbuf_auto', def: 1, min: 0, max: 1, descr: 'Enable automatic receive buffer sizing' });
export const tcpCcAlgorithm = sysctlEnum({
  name: 'net.inet.tcp.cc.algorithm',
  names: CC_ALGORITHMS,
  def: 'newreno',
  descr: 'Default congestion control algorithm',
});
export const tcpInitCwndSegs = sysctlInt({ name: 'net.inet.tcp.initcwnd_segments', def: 10, min: 1, max: 100, descr: 'Slow-start flight size (initial congestion window) in number of segments' });
export const tcpSyncookies = sysctlInt({ name: 'net.inet.tcp.syncookies', def: 1, min: 0, max: 1, descr: 'Use TCP SYN cookies if the syncache overflows' });
export const tcpAckWarCnt = sysctlInt({ name: 'net.inet.tcp.ack_war_cnt', def: 5, min: 0, max: 1000, descr: 'Maximum number of challenge ACKs sent per ack_war_timewindow' });
export const tcpAckWarTimeWindow = sysctlInt({ name: 'net.inet.tcp.ack_war_timewindow', def: 1000, min: 0, max: 60000, descr: 'Time interval in ms used to limit challenge ACKs' });
export const tcpTso = sysctlInt({ name: 'net.inet.tcp.tso', def: 1, min: 0, max: 1, descr: 'Enable TCP Segmentation Offload' });
export const tcpSomaxconn = sysctlInt({ name: 'kern.ipc.somaxconn', def: 4096, min: 1, max: 65535, descr: 'Maximum listen socket pending connection accept queue size' });

export const tcpStats = defineStats({
  connattempt: 'connection requests',
  accepts: 'connection accepts',
  badsyn: 'bad connection attempts',
  listendrop: 'listen queue overflows',
  badrst: 'ignored RSTs in the windows',
  connects: 'connections established (including accepts)',
  rttupdated: 'segments updated rtt',
  segstimed: 'segments timed',
  closed: 'connections closed (including drops)',
  drops: 'connections dropped',
  conndrops: 'embryonic connections dropped',
  delack: 'delayed acks sent',
  timeoutdrop: 'connections dropped by rexmit timeout',
  rexmttimeo: 'retransmit timeouts',
  persisttimeo: 'persist timeouts',
  persistdrop: 'connections dropped by persist timeout',
  keeptimeo: 'keepalive timeouts',
  keepprobe: 'keepalive probes sent',
  keepdrops: 'connections dropped by keepalive',
  sndtotal: 'packets sent',
  sndpack: 'data packets sent',
  sndbyte: 'data bytes sent',
  sndrexmitpack: 'data packets retransmitted',
  sndrexmitbyte: 'data bytes retransmitted',
  sndacks: 'ack-only packets sent',
  sndprobe: 'window probes sent',
  sndwinup: 'window update packets sent',
  sndctrl: 'control packets sent',
  sndrst: 'resets sent',
  rcvtotal: 'packets received',
  rcvpack: 'packets received in sequence',
  rcvbyte: 'bytes received in sequence',
  rcvbadsum: 'discarded for bad checksums',
  rcvbadoff: 'discarded for bad header offset fields',
  rcvshort: 'discarded because packet too short',
  rcvduppack: 'completely duplicate packets',
  rcvdupbyte: 'completely duplicate bytes',
  rcvpartduppack: 'packets with some dup. data',
  rcvpartdupbyte: 'dup. bytes in part-dup. packets',
  rcvoopack: 'out-of-order packets',
  rcvoobyte: 'out-of-order bytes',
  rcvpackafterwin: 'packets of data after window',
  rcvbyteafterwin: 'bytes of data after window',
  rcvwinprobe: 'window probes',
  rcvdupack: 'duplicate acks',
  rcvacktoomuch: 'acks for unsent data',
  rcvackpack: 'ack packets',
  rcvackbyte: 'bytes acked by received acks',
  rcvwinupd: 'window update packets',
  rcvafterclose: 'packets received after close',
  rcvreassfull: 'discarded due to full reassembly queue',
  pawsdrop: 'discarded due to PAWS',
  noport: 'segments to closed ports',
  challengeack: 'challenge ACKs sent',
  fastrexmit: 'fast retransmits',
  recoveryepisode: 'NewReno/SACK recovery episodes',
  sackrexmitpack: 'segment rexmits in SACK recovery episodes',
  sackrcvblocks: 'SACK options (SACK blocks) received',
  sacksndblocks: 'SACK options (SACK blocks) sent',
  snddsackopt: 'D-SACK options sent',
  sndtso: 'TSO segments sent',
  sc_sendcookie: 'cookies sent',
  sc_recvcookie: 'cookies received',
  sc_added: 'syncache entries added',
  mturesent: 'resends due to MTU discovery',
});
export type TcpStat = Stats<(typeof tcpStats.keys)[number]>;

/** Maximum retransmissions before a connection is dropped (FreeBSD's TCP_MAXRXTSHIFT). */
export const TCP_MAXRXTSHIFT = 12;
/** Retransmissions of a SYN before connect fails (net.inet.tcp.syncnt-like; FreeBSD uses TCP_MAXRXTSHIFT too). */
export const TCP_SYN_RETRIES = 6;
/** RFC 6298 backoff multipliers, indexed by the shift (FreeBSD's tcp_backoff[]). */
export const TCP_BACKOFF = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 512, 512, 512];
/** The sum of TCP_BACKOFF (FreeBSD's tcp_totbackoff). */
export const TCP_TOTBACKOFF = 2559;
/**
 * Silence from a peer in persist state, at full backoff, before the
 * connection is dropped (FreeBSD's tcp_maxpersistidle = TCPTV_KEEP_IDLE, 2 h).
 */
export const TCP_MAXPERSISTIDLE = 7_200_000;
/** Largest RTO (64 s, FreeBSD's TCPTV_REXMTMAX). */
export const TCP_REXMTMAX = 64_000;
/**
 * Largest persist interval (FreeBSD's TCPTV_PERSMAX): also how long a
 * connection the application has closed may sit in persist without hearing
 * from the peer. The intervals themselves are net.inet.tcp.persmin/persmax.
 */
export const TCP_PERSMAX = 60_000;
/** Largest window before scaling; our receive window scale is chosen to cover the buffer. */
export const TCP_MAXWIN = 65535;
export const TCP_MAX_WINSHIFT = 14;
/** A timestamp older than 24 days no longer proves PAWS (RFC 7323 5.5). */
export const TCP_PAWS_IDLE = 24 * 24 * 3600 * 1000;

/** Timer slots of a connection (FreeBSD's tt_which). */
export const TT_REXMT = 0;
export const TT_PERSIST = 1;
export const TT_DELACK = 2;
export const TT_KEEP = 3;
export const TT_2MSL = 4;
export const TT_N = 5;

/** Option sizes that reduce the payload of each segment. */
export const TCPOLEN_TSTAMP_APPA = 12;
