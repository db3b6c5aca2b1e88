/**
 * `CMD --help` for every in-image command: the synopsis as the FreeBSD 14
 * man page gives it (for the options this image supports), then one line
 * on what it does here. The process runner answers `--help` from this table
 * before the command runs, so a command never sees it; a test checks that
 * every command has an entry.
 */

const HELP: Readonly<Record<string, string>> = {
  arp: `usage: arp [-n] [-i IF] HOST
       arp [-n] [-i IF] -a
       arp -d HOST | arp -d [-i IF] -a
       arp -s HOST MAC [temp] | arp -S HOST MAC [temp]
Show and change the image's ARP cache (FreeBSD arp(8)).`,
  chargen: `usage: chargen [-t | -u] [-p port] [-v]
Character generator service (RFC 864) on TCP and UDP port 19 of the image.`,
  discard: `usage: discard [-t | -u] [-p port] [-v]
Discard service (RFC 863) on TCP and UDP port 9 of the image.`,
  dnctl: `usage: dnctl [-s [field]] [-nq] {pipe | queue | sched} number config config-options
       dnctl [-s [field]] {pipe | queue | sched} {delete | list | show} [number ...]
       dnctl [-fq] flush
The image's dummynet pipes, queues and schedulers (FreeBSD dnctl(8); the same objects as ipfw pipe|queue|sched).`,
  echo: `usage: echo [-t | -u] [-p port] [-v]
Echo service (RFC 862) on TCP and UDP port 7 of the image.`,
  httpd: `usage: httpd [-p port] -r docroot [-v]
A small static HTTP/1.1 server for labs: serves the files under docroot.`,
  ifmcstat: `usage: ifmcstat [-i interface] [-f address family]
List the multicast groups the image's interfaces listen to and their MLD state (FreeBSD ifmcstat(8)).`,
  ifconfig: `usage: ifconfig [-a | -l] [-u] [-d] [inet | inet6 | ether]
       ifconfig IF [inet] [ADDR[/LEN]] [netmask MASK] [broadcast ADDR] [alias | -alias]
       ifconfig IF inet6 ADDR[/LEN] [prefixlen LEN] [alias | -alias] [accept_rtadv | -accept_rtadv]
                   [up | down] [mtu N] [name NEWNAME] [lladdr MAC] [arp | -arp]
       ifconfig IF vnet IMAGE | ifconfig IF -vnet IMAGE | ifconfig IF destroy
       ifconfig epair[N] create | ifconfig tap[N] create [hostname HOSTIF]
       ifconfig bridge[N] create | ifconfig bridgeN [addm IF] [deletem IF] [span IF] [-span IF]
                [maxaddr N] [timeout SECS] [flush] [addr] [learn|-learn|discover|-discover|sticky|-sticky IF]
       ifconfig vlan[N] create [vlan TAG vlandev IF] | ifconfig IF.TAG create | ifconfig vlanN vlan TAG vlandev IF | -vlandev
       ifconfig vxlan[N] create vxlanid VNI vxlanlocal ADDR vxlanremote ADDR [vxlanport P] [vxlanttl N]
                [vxlanlearn|-vxlanlearn] [vxlanflush] [vxlantimeout SECS] [vxlanmaxaddr N] [vxlandev IF]
Bridges learn and flood as FreeBSD's bridge(4) but run no spanning tree (STP/RSTP):
do not join two bridges by more than one path. vxlan carries a segment in UDP to vxlanremote
(unicast only: multicast groups are not supported).
Configure the image's interfaces (FreeBSD ifconfig(8)).`,
  iperf3: `usage: iperf3 -s [-p port] [-1] [-B bind_address]
An iperf3 server speaking iperf3's protocol: a stock iperf3 client is the peer.`,
  ipfw: `usage: ipfw [-acdefnNqSv] <command>
       ipfw add | delete | list | show | zero | resetlog | flush | enable | disable ...
       ipfw pipe | queue | sched N config | show | delete ...
The image's firewall and dummynet shaper (FreeBSD ipfw(8), dnctl(8)).`,
  kill: `usage: kill [-s signal_name] pid ...
       kill -signal_name pid ... | kill -0 pid ...
Signal a process of this image (FreeBSD kill(1)).`,
  killall: `usage: killall [-l] [-SIGNAL] [-s signal_name] procname ...
Signal this image's processes by name, built-in commands and Linux programs (FreeBSD killall(1)).`,
  logs: `usage: logs PID
Print the output kept for a background process (vimage -b) of this image.`,
  nc: `usage: nc [-46DdhklNnrSuvz] [-I length] [-i interval] [-O length] [-p source_port]
          [-s source] [-w timeout] [destination] [port]
Arbitrary TCP and UDP connections and listens (FreeBSD nc(1)).`,
  netstat: `usage: netstat [-46aLnW] [-f inet] [-p tcp|udp]
       netstat -r [-46nW] [-f inet|inet6]
       netstat -i [-bdn] [-f inet|link] [-I IF]
       netstat -s [-s] [-z] [-46] [-p tcp|udp|ip|icmp|arp|ip6|icmp6]
Sockets, routes, interfaces and protocol statistics of the image (FreeBSD netstat(1)).`,
  ndp: `usage: ndp [-n] hostname | ndp [-n] -a | ndp -c | ndp -p | ndp -r | ndp -P | ndp -R
       ndp -d hostname | ndp -i interface | ndp -s nodename etheraddr
Show and change the image's IPv6 neighbor cache (FreeBSD ndp(8)).`,
  ping6: `usage: ping6 [-nqv] [-c count] [-i wait] [-m hoplimit] [-S sourceaddr] [-s packetsize]
             [-t timeout] [-W waittime] host[%IF]
Send ICMPv6 echo requests from the image (FreeBSD ping -6); link-local hosts take %IF.`,
  ping: `usage: ping [-DfnoQq] [-C pcp] [-c count] [-i wait] [-m ttl] [-S src_addr] [-s packetsize]
            [-t timeout] [-W waittime] host
       ping -6 [options as ping6] host
Send ICMP echo requests from the image (FreeBSD ping(8)).`,
  inetd: `usage: inetd [-dl] [configuration_file]
The internet super-server (FreeBSD inetd(8)): reads inetd.conf (default /etc/inetd.conf) and
serves echo, discard, chargen, daytime and time itself, or runs a Linux program per connection.`,
  ps: `usage: ps [-aux]
List the processes of this image (FreeBSD ps(1)).`,
  rtadvd: `usage: rtadvd [-dDfRs] [-c -] interface ...
Send IPv6 router advertisements on the interfaces, with the prefixes of their inet6 addresses
(FreeBSD rtadvd(8); needs net.inet6.ip6.forwarding=1; -c - reads rtadvd.conf(5) from stdin).`,
  route: `usage: route [-nqv] add|delete|change|get [-net|-host] destination
             [gateway | -interface IF] [-netmask mask] [-blackhole|-reject] [-mtu N]
Change and query the image's routing table (FreeBSD route(8)).`,
  set: `usage: set [cpu.weight=N] [cpu.max=P]
Show or set the image's CPU weight (1-10000, default 100) and cap (percent of a core).`,
  sockstat: `usage: sockstat [-46cLlnqsuw] [-p ports] [-P protocols]
List the image's TCP and UDP sockets with the process holding each (FreeBSD sockstat(1)).`,
  sysctl: `usage: sysctl [-deNnq] name[=value] ...
       sysctl [-deNn] -a
Read and set the image's tunables (FreeBSD sysctl(8)).`,
  tcpdump: `usage: tcpdump [-Denptv] [-c count] [-i interface] [-s snaplen] [-w file | -] [expression]
Print the packets an interface of the image sends and receives, one line each, or write them
as pcap (-w); expression is a pcap-filter(7) filter such as 'tcp port 80' (FreeBSD tcpdump(1)).`,
  traceroute: `usage: traceroute [-FInS] [-f first_ttl] [-m max_ttl] [-P udp|icmp] [-p port]
                  [-q nprobes] [-s src_addr] [-w waittime] host [packetlen]
Print the route packets from the image take to a host (FreeBSD traceroute(8)).`,
  traceroute6: `usage: traceroute6 [-dIlnNUv] [-f firsthop] [-m hoplimit] [-p port] [-q probes]
       [-s src] [-w waittime] target[%IF] [datalen]
Print the hops to an IPv6 host (FreeBSD traceroute6(8)); probes are UDP datagrams to port 33434 and up,
ICMPv6 echo requests with -I, packets with no next header with -N.`,
};

/** The help text of `name`, ending in a newline; undefined for a command without one. */
export function commandHelp(name: string): string | undefined {
  const h = Object.hasOwn(HELP, name) ? HELP[name] : undefined;
  return h === undefined ? undefined : `${h}\n`;
}
