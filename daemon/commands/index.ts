/**
 * Every command that runs inside an image, by name. Each module exports
 * `commands: Record<string, Command>`; adding a module here is all it takes.
 */

import type { Command } from '../command.js';
import { commands as arp } from './arp.js';
import { commands as dnctl } from './dnctl.js';
import { commands as httpd } from './httpd.js';
import { commands as ifconfig } from './ifconfig.js';
import { commands as ifmcstat } from './ifmcstat.js';
import { commands as ipfw } from './ipfw.js';
import { commands as iperf3 } from './iperf3.js';
import { commands as nc } from './nc.js';
import { commands as ndp } from './ndp.js';
import { commands as netstat } from './netstat.js';
import { commands as ping } from './ping.js';
import { commands as ping6 } from './ping6.js';
import { commands as proc } from './proc.js';
import { commands as route } from './route.js';
import { commands as rtadvd } from './rtadvd.js';
import { commands as servers } from './servers.js';
import { commands as sockstat } from './sockstat.js';
import { commands as inetd } from './inetd.js';
import { commands as sysctl } from './sysctl.js';
import { commands as tcpdump } from './tcpdump.js';
import { commands as traceroute } from './traceroute.js';
import { commands as traceroute6 } from './traceroute6.js';

const modules: ReadonlyArray<Record<string, Command>> = [arp, dnctl, httpd, ifconfig, ifmcstat, inetd, iperf3, ipfw, nc, ndp, netstat, ping, ping6, proc, route, rtadvd, servers, sockstat, sysctl, tcpdump, traceroute, traceroute6];

export function allCommands(): Map<string, Command> {
  const m = new Map<string, Command>();
  for (const mod of modules) for (const [name, cmd] of Object.entries(mod)) m.set(name, cmd);
  return m;
}
