/**
 * `vimage load` (without --merge): each image the document names is made
 * to match it; images it does not name are left alone. Before the document
 * is applied (lib/config.ts `applyConfig`, which adds what is missing),
 * this removes from each named image what the document does not have:
 * interfaces (destroyed as `ifconfig IF destroy` does: an epair with both
 * its ends, a TAP with the host device vimage made), addresses, static
 * routes and ARP entries; sysctls and CPU parameters go back to their
 * defaults; a section (ipfw rules and pipes) that differs is flushed and
 * rebuilt from the document.
 *
 * `precheckConverge` refuses, before anything changes, what the live state
 * would make fail: a TAP device the document binds that is held by an
 * image it does not name, or more images than the daemon allows.
 */

import type { ConfigDocument, ConfigSection, ImageConfig } from './config.js';
import { ConfigError } from './config_check.js';
import type { Image, Registry } from './image.js';
import type { Ifnet } from './net/if.js';
import { EpairDriver } from './net/if_epair.js';
import { TapDriver } from './net/if_tap.js';
import { VlanDriver } from './net/if_vlan.js';
import { LLE_STATIC, arpDelete } from './netinet/if_ether.js';
import { inDeleteAddress } from './netinet/in.js';
import { RTF } from './netinet/route.js';
import { CPU_MAX_DEFAULT, CPU_WEIGHT_DEFAULT } from './sched.js';
import { ip4ToString, parseCidr, parseIp4, prefixMask } from './wire/ipv4.js';

/** How to empty a section before it is rebuilt from the document. */
const SECTION_RESET: Record<string, (im: Image) => void> = {
  ipfw: (im) => {
    im.fw.flush();
    im.fw.dn.flush();
    im.fw.nat.flush();
    // The rules are gone, so no table is referenced: tables (and entries) the file lacks must not stay.
    for (const name of im.fw.tables.names()) im.fw.tables.destroy(name);
  },
};

function boundTap(reg: Registry, hostif: string): { im: Image; ifp: Ifnet } | undefined {
  for (const im of reg.list()) {
    for (const ifp of im.ifnets.values()) if (ifp.driver instanceof TapDriver && ifp.driver.port.name === hostif) return { im, ifp };
  }
  return undefined;
}

/** Throws a ConfigError when applying `doc` to the live registry would fail for a reason the document alone does not show. */
export function precheckConverge(reg: Registry, doc: ConfigDocument): void {
  const named = new Set(doc.images.map((i) => i.name));
  const fresh = doc.images.filter((i) => reg.get(i.name) === undefined && i.name !== 'default').length;
  const made = reg.list().length - 1;
  if (made + fresh > reg.limits.images) throw new ConfigError('images', `${fresh} new images would exceed the daemon's limit of ${reg.limits.images} (${made} exist; limits.images in vimaged's configuration)`);
  doc.images.forEach((ic, i) => {
    ic.interfaces.forEach((fc, j) => {
      if (fc.kind !== 'tap' || fc.hostif === undefined) return;
      const b = boundTap(reg, fc.hostif);
      if (b !== undefined && !named.has(b.im.name)) {
        throw new ConfigError(`images[${i}].interfaces[${j}].hostif`, `${fc.hostif} is bound to ${b.ifp.name} in image ${b.im.name}, which the file does not name; add that image to the file, or destroy or move ${b.ifp.name} first`);
      }
    });
  });
}

function cidrKey(text: string): string {
  const c = parseCidr(text)!;
  return `${ip4ToString(c.addr)}/${c.prefixLen}`;
}

function keeps(ic: ImageConfig, ifp: Ifnet): boolean {
  const fc = ic.interfaces.find((f) => f.name === ifp.name);
  if (fc === undefined || fc.kind !== ifp.kind) return false;
  if (ifp.driver instanceof TapDriver) return ifp.driver.port.name === fc.hostif;
  if (ifp.driver instanceof EpairDriver) {
    const peer = ifp.driver.peer;
    return peer !== null && peer.name === fc.peer?.name && peer.owner.name === fc.peer.image;
  }
  // A VLAN on another tag is re-made; its parent is set again by the applier.
  if (ifp.driver instanceof VlanDriver) return ifp.driver.tag === fc.vlan;
  return true;
}

/** Remove from each image `doc` names what the document does not have. Returns how many things were removed. */
export function convergeConfig(reg: Registry, doc: ConfigDocument, sections: readonly ConfigSection[]): number {
  let removed = 0;
  const hostifs = new Set(doc.images.flatMap((ic) => ic.interfaces.map((f) => f.hostif).filter((h) => h !== undefined)));
  for (const ic of doc.images) {
    const im = reg.get(ic.name);
    if (im === undefined) continue;
    for (const ifp of [...im.ifnets.values()]) {
      if (ifp === im.lo0 || im.ifnets.get(ifp.name) !== ifp || keeps(ic, ifp)) continue;
      // A TAP the document binds elsewhere (or renamed) is moved there by the applier, not re-created.
      if (ifp.driver instanceof TapDriver && hostifs.has(ifp.driver.port.name)) continue;
      reg.destroyIfnet(im, ifp);
      removed++;
    }
  }
  for (const ic of doc.images) {
    const im = reg.get(ic.name);
    if (im === undefined) continue;
    for (const ifp of im.ifnets.values()) {
      if (ifp === im.lo0) continue;
      const want = new Set((ic.interfaces.find((f) => f.name === ifp.name)?.addrs ?? []).map(cidrKey));
      for (const a of [...ifp.addrs]) {
        if (want.has(`${ip4ToString(a.addr)}/${a.prefixLen}`)) continue;
        inDeleteAddress(im, ifp, a.addr);
        removed++;
      }
    }
    const routes = new Set(
      ic.routes.map((r) => {
        const c = parseCidr(r.dst)!;
        return `${ip4ToString((c.addr & prefixMask(c.prefixLen)) >>> 0)}/${c.prefixLen} ${r.gateway === undefined ? '' : ip4ToString(parseIp4(r.gateway)!)} ${r.interface}`;
      }),
    );
    removed += im.routes.removeWhere((r) => {
      if ((r.flags & RTF.STATIC) === 0) return false;
      if (r.prefixLen === 32 && im.inAddrs.has(r.dst) && r.ifp === im.lo0) return false; // our own address
      const gw = (r.flags & RTF.GATEWAY) !== 0 ? ip4ToString(r.gateway) : '';
      return !routes.has(`${ip4ToString(r.dst)}/${r.prefixLen} ${gw} ${r.ifp.name}`);
    }).length;
    const arp = new Set(ic.arp.map((a) => a.ip));
    for (const [ip, e] of [...im.arp.entries]) {
      if (e.state !== LLE_STATIC || im.inAddrs.has(ip) || arp.has(ip4ToString(ip))) continue;
      arpDelete(im, ip);
      removed++;
    }
    for (const { decl, value } of im.sysctl.list()) {
      if (decl.readOnly || decl.tunable || ic.sysctl[decl.name] !== undefined || value === decl.def) continue;
      im.sysctl.set(decl.name, String(decl.def));
      removed++;
    }
    if (ic.cpu === undefined) {
      im.cpu.weight = CPU_WEIGHT_DEFAULT;
      im.cpu.max = CPU_MAX_DEFAULT;
    }
    for (const s of sections) {
      const reset = SECTION_RESET[s.name];
      if (reset === undefined) continue;
      const have = s.save(im);
      if (JSON.stringify(have) === JSON.stringify(ic[s.name])) continue;
      if (have !== undefined) {
        reset(im);
        removed++;
      }
    }
  }
  return removed;
}
