/**
 * One image's control surface: the only way commands, the control API and
 * configuration save/restore read and change an image. It groups the parts
 * (interfaces, routes, neighbours, sysctls, statistics, sockets, scheduling)
 * and hands out sockets for in-image programs. It returns plain data and
 * throws the project's coded errors; it never hands out stack internals.
 *
 * Moving interfaces between images needs the registry; commands get that as
 * a separate narrow handle (VnetHandle), never the registry itself.
 */

import type { Clock } from '../clock.js';
import { E, fail } from '../errors.js';
import type { Image, Registry, SocketOwner } from '../image.js';
import { CPU_WEIGHT_MAX } from '../sched.js';
import { listSockets, type SocketRow } from '../socket/list.js';
import { RawSocket } from '../socket/raw.js';
import { Raw6Socket } from '../socket/raw6.js';
import { TcpListener, TcpSocket } from '../socket/tcp.js';
import { UdpSocket, type SocketOptions } from '../socket/udp.js';
import { FirewallControl } from './firewall.js';
import { Inet6Control } from './inet6.js';
import { InterfacesControl } from './interfaces.js';
import { NeighboursControl } from './neighbours.js';
import { RoutesControl } from './routes.js';
import { ownedSockets, recordOwner, type OwnedSocketRow } from './sockets.js';
import { StatsControl } from './stats.js';
import { SysctlControl } from './sysctl.js';

/** Scheduling parameters (`set cpu.weight=N cpu.max=P`). */
export interface CpuParams {
  weight: number;
  max: number;
}

export { CPU_WEIGHT_MAX };

/** Sockets of the image, for in-image programs. Each throws SocketError as the system call would. */
export class SocketsControl {
  readonly #im: Image;
  /** The process sockets made here belong to (sockstat), when known. */
  readonly #owner: SocketOwner | undefined;

  constructor(im: Image, owner?: SocketOwner) {
    this.#im = im;
    this.#owner = owner;
  }

  /** netstat's list: TCP connections and listeners, then UDP endpoints. */
  list(): SocketRow[] {
    return listSockets(this.#im);
  }

  /** sockstat's list: TCP and UDP endpoints with the process holding each (lib/control/sockets.ts). */
  owned(): OwnedSocketRow[] {
    return ownedSockets(this.#im);
  }

  #own<T extends object>(so: T): T {
    recordOwner(this.#im, so, this.#owner);
    return so;
  }

  tcp(o?: SocketOptions): TcpSocket {
    return this.#own(new TcpSocket(this.#im, o));
  }

  tcpListener(o?: SocketOptions): TcpListener {
    return this.#own(new TcpListener(this.#im, o));
  }

  udp(o?: SocketOptions): UdpSocket {
    return this.#own(new UdpSocket(this.#im, o));
  }

  /** socket(AF_INET, SOCK_RAW, proto). */
  raw(proto: number): RawSocket {
    return this.#own(new RawSocket(this.#im, proto));
  }

  /** socket(AF_INET6, SOCK_RAW, proto). */
  raw6(proto: number): Raw6Socket {
    return this.#own(new Raw6Socket(this.#im, proto));
  }
}

export class ImageControl {
  readonly name: string;
  /** The image's clock (timers charged to the image). */
  readonly clock: Clock;
  readonly interfaces: InterfacesControl;
  readonly routes: RoutesControl;
  readonly neighbours: NeighboursControl;
  readonly sysctl: SysctlControl;
  readonly stats: StatsControl;
  readonly sockets: SocketsControl;
  readonly firewall: FirewallControl;
  /** inet6 addresses, the neighbor cache, ICMPv6 endpoints. */
  readonly inet6: Inet6Control;
  readonly #im: Image;

  constructor(im: Image, reg: Registry, owner?: SocketOwner) {
    reg.touch(im); // whoever holds a surface may change the image: its saved state is checked at the next commit
    this.#im = im;
    this.name = im.name;
    this.clock = im.clock;
    this.interfaces = new InterfacesControl(im, reg);
    this.routes = new RoutesControl(im);
    this.neighbours = new NeighboursControl(im);
    this.sysctl = new SysctlControl(im);
    this.stats = new StatsControl(im);
    this.sockets = new SocketsControl(im, owner);
    this.firewall = new FirewallControl(im);
    this.inet6 = new Inet6Control(im);
  }

  get cpu(): CpuParams {
    return { weight: this.#im.cpu.weight, max: this.#im.cpu.max };
  }

  /** Change scheduling parameters; both are checked before either changes. */
  setCpu(p: Partial<CpuParams>): void {
    if (p.weight !== undefined && (!Number.isInteger(p.weight) || p.weight < 1 || p.weight > CPU_WEIGHT_MAX)) {
      fail(E.OUT_OF_RANGE, `cpu.weight: ${p.weight} out of range, must be an integer between 1 and ${CPU_WEIGHT_MAX}`);
    }
    if (p.max !== undefined && (!Number.isInteger(p.max) || p.max < 1 || p.max > 100)) {
      fail(E.OUT_OF_RANGE, `cpu.max: ${p.max} out of range, must be a percentage between 1 and 100`);
    }
    if (p.weight !== undefined) this.#im.cpu.weight = p.weight;
    if (p.max !== undefined) this.#im.cpu.max = p.max;
  }
}

/**
 * What a command may do across images: move one of its own interfaces to
 * another image (`ifconfig IF vnet IMAGE`) or take one back from another
 * (`ifconfig IF -vnet IMAGE`). Nothing else of the registry.
 */
export class VnetHandle {
  readonly #im: Image;
  readonly #reg: Registry;

  constructor(im: Image, reg: Registry) {
    this.#im = im;
    this.#reg = reg;
  }

  /** Move `ifname` of this image to image `to`, optionally renamed. */
  moveTo(ifname: string, to: string, newName?: string): void {
    this.#reg.move(this.#im, this.#im.ifnet(ifname), this.#reg.image(to), newName);
  }

  /** Take `ifname` back from image `from` into this image. */
  reclaim(ifname: string, from: string): void {
    const src = this.#reg.get(from);
    if (src === undefined) fail(E.NO_SUCH_IMAGE, `image ${from} does not exist; 'vimage -l' lists images`);
    const ifp = src.ifnets.get(ifname);
    if (ifp === undefined) fail(E.NO_SUCH_INTERFACE, `interface ${ifname} does not exist in image ${from}`);
    this.#reg.move(src, ifp, this.#im);
  }
}

/** What a command running in `im` is handed: its image's surface and the move handle; `owner` holds the sockets it makes. */
export function commandHandles(im: Image, reg: Registry, owner?: SocketOwner): { image: ImageControl; vnet: VnetHandle } {
  return { image: new ImageControl(im, reg, owner), vnet: new VnetHandle(im, reg) };
}
