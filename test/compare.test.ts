/**
 * The image's stack against Linux's own, probe by probe: the same crafted
 * segments, datagrams and ICMP messages (test/tools/probes.py, scapy) go to a
 * Linux host and to an image, each running a TCP listener on the same port
 * and leaving the same TCP and UDP ports closed, and the normalised answers
 * must be equal, except where FreeBSD (which the image follows) and Linux
 * differ on purpose: the short allow-list below says where and why.
 *
 *   probe ns P:  vcmpp0 (no address) --veth-- vcmpl0 Linux ns L (10.74.1.1)
 *                vcmpt0 (no address) --tap--- image T (10.74.2.1)
 *
 * P owns no address, so its kernel stays silent (no RST to a SYN,ACK it did
 * not ask for); the targets reach the probe address through static entries.
 *
 * Left out of the signatures, as legitimately different: ISNs, windows and
 * window scale, option order, IP ids, TOS (Linux sends ICMP errors with TOS
 * 0xc0) and DF (Linux sets it on RSTs). VCMP_DETAIL=1 shows them.
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Lab, labUnavailable, sh } from './lab.js';

const P = 'vcmp'; // prefix of every namespace and host device this file makes
const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const PY = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
const PROBES = path.join(ROOT, 'test/tools/probes.py');
const OPEN = 7100;
const CLOSED_TCP = 7199;
const CLOSED_UDP = 7198;
const LINUX = { addr: '10.74.1.1', probe: '10.74.1.2' };
const IMAGE = { addr: '10.74.2.1', probe: '10.74.2.2' };

const skip = labUnavailable() ?? (spawnSync(PY, ['-c', 'import scapy']).status === 0 ? undefined : 'python3-scapy is not installed (scripts/install-test-tools.sh)');

type Signature = Record<string, unknown>[];
type Signatures = Record<string, Signature>;

/** The discard server the Linux host runs (the image runs its own `discard -t`). */
const LINUX_DISCARD = `
import socket, sys, threading
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", ${OPEN}))
s.listen(128)
def serve(c):
    try:
        while c.recv(65536):
            pass
    except OSError:
        pass
    c.close()
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
`;

const ack = (d: string, tsecr: string): Record<string, unknown> => ({ ack: d, flags: 'A', len: 0, seq: '+0', ttl: 64, tsecr });

/**
 * Where FreeBSD (and so the image) answers differently from Linux on purpose.
 * Each entry is what the image must answer; Linux's answer is only reported
 * (it varies between kernel versions).
 */
const FREEBSD_DIFFERS: Record<string, { image: Signature; why: string }> = {
  synfin_open: {
    image: [{ ack: '+1', flags: 'SA', len: 0, mss: 1460, opts: ['MSS', 'SAckOK', 'Timestamp', 'WScale'], seq: 'isn', tsecr: '=probe.tsval', ttl: 64 }],
    why: 'SYN+FIN to a listener: FreeBSD takes it as a SYN unless net.inet.tcp.drop_synfin=1 (default 0); Linux drops it',
  },
  est_ack_unsent: {
    image: [ack('+0', '=probe.tsval')],
    why:
      'an ACK for data never sent: FreeBSD records the TSval (ts_recent) before it checks the ACK and answers (dropafterack), so the ACK echoes ' +
      'the probe; Linux checks the ACK first and echoes the older TSval (older kernels do not answer at all)',
  },
  // Parameter problem pointers (RFC 792: "the octet where an error was detected"): FreeBSD's
  // ip_dooptions() and Linux's ip_options_compile() blame different bytes of a bad option.
  echo_option_length_zero: {
    image: [{ icmp: '12/0', pointer: 21, quote: 'all', quote_ip: true, quote_l4: true, ttl: 64 }],
    why: 'an option of length 0: FreeBSD points at its length byte (21), Linux at its first byte (20)',
  },
  echo_rr_too_short: {
    image: [{ icmp: '12/0', pointer: 22, quote: 'all', quote_ip: true, quote_l4: true, ttl: 64 }],
    why: 'a record route of length 2: FreeBSD points at the missing pointer byte (22), Linux at the length byte (21)',
  },
  udp_closed_large: {
    image: [{ icmp: '3/3', quote: 'prefix', quote_ip: true, quote_l4: true, quoted_bytes: 568, ttl: 64 }],
    why: 'ICMP errors quote the IP header plus net.inet.icmp.quotelen (548) bytes in FreeBSD; Linux fills the error up to 576 bytes (548 quoted in all)',
  },
};

/** VCMP_DETAIL=1 adds TOS, DF and windows to every answer (to read, not to compare); VCMP_DUMP=FILE keeps both signature sets. */
const DETAIL = process.env.VCMP_DETAIL === '1' ? ['detail'] : [];

/** JSON with object keys sorted, so signatures compare whatever order their fields were written in. */
const canon = (v: unknown): string =>
  JSON.stringify(v, (_k, x: unknown) => (x !== null && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : 1))) : x));

function runProbes(ns: string, ifname: string, target: string, mac: string, src: string): Signatures {
  const r = spawnSync('ip', ['netns', 'exec', ns, PY, PROBES, ifname, target, mac, src, String(OPEN), String(CLOSED_TCP), String(CLOSED_UDP), ...DETAIL], { encoding: 'utf8', timeout: 240_000 });
  assert.equal(r.status, 0, `probes.py against ${target} failed: ${r.stderr}${r.error?.message ?? ''}`);
  return JSON.parse(r.stdout) as Signatures;
}

describe('the image answers crafted probes as Linux does (FreeBSD where they differ)', { skip }, () => {
  const lab = new Lab(P);
  let L = '';
  let PNS = '';
  let linuxServer: ChildProcess | null = null;
  let imageServer: Promise<unknown> | null = null;
  let linuxMac = '';
  let imageMac = '';

  before(async () => {
    await lab.start(['--log-level', 'warn']);
    L = lab.netns('L');
    PNS = lab.netns('P');
    // Linux target over a veth pair.
    sh('ip', ['link', 'add', `${P}l0`, 'type', 'veth', 'peer', 'name', `${P}p0`]);
    sh('ip', ['link', 'set', `${P}l0`, 'netns', L]);
    sh('ip', ['link', 'set', `${P}p0`, 'netns', PNS]);
    sh('ip', ['-n', L, 'addr', 'add', `${LINUX.addr}/24`, 'dev', `${P}l0`]);
    sh('ip', ['-n', L, 'link', 'set', `${P}l0`, 'up']);
    sh('ip', ['-n', PNS, 'link', 'set', `${P}p0`, 'up']);
    // The image target over a TAP device.
    await lab.ok(['-c', 'T']);
    const tap = (await lab.ok(['T', 'ifconfig', 'tap', 'create', 'hostname', `${P}t0`])).trim();
    sh('ip', ['link', 'set', `${P}t0`, 'netns', PNS]);
    sh('ip', ['-n', PNS, 'link', 'set', `${P}t0`, 'up']);
    await lab.ok(['T', 'ifconfig', tap, 'inet', `${IMAGE.addr}/24`, 'up']);
    // Both targets reach the probe address through a static entry.
    const macOf = (ns: string, dev: string): string => /link\/ether ([0-9a-f:]{17})/.exec(sh('ip', ['-n', ns, 'link', 'show', dev]).stdout)![1]!;
    sh('ip', ['-n', L, 'neigh', 'add', LINUX.probe, 'lladdr', macOf(PNS, `${P}p0`), 'dev', `${P}l0`, 'nud', 'permanent']);
    await lab.ok(['T', 'arp', '-s', IMAGE.probe, macOf(PNS, `${P}t0`)]);
    linuxMac = macOf(L, `${P}l0`);
    imageMac = /\tether ([0-9a-f:]{17})/.exec(await lab.ok(['T', 'ifconfig', tap]))![1]!;
    // The same listener on both.
    linuxServer = spawn('ip', ['netns', 'exec', L, PY, '-c', LINUX_DISCARD], { stdio: 'ignore' });
    imageServer = lab.vimage(['T', 'discard', '-t', '-p', String(OPEN)], { timeoutMs: 600_000 });
    for (let i = 0; i < 100; i++) {
      const ss = sh('ip', ['netns', 'exec', L, 'ss', '-tln'], { allowFail: true }).stdout;
      const ns = await lab.ok(['T', 'netstat', '-an']);
      if (ss.includes(`:${OPEN} `) && new RegExp(`\\*\\.${OPEN} .* LISTEN`).test(ns)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error('the listeners did not come up');
  });

  after(async () => {
    linuxServer?.kill('SIGKILL');
    await lab.close();
    await imageServer?.catch(() => undefined);
  });

  let linux: Signatures = {};
  let image: Signatures = {};
  const table = (names: string[]): string =>
    names.map((n) => `${n}: ${canon(linux[n])}${canon(linux[n]) === canon(image[n]) ? '' : ` / image ${canon(image[n])}`}`).join('\n');

  test('the same probes go to Linux and to the image', () => {
    linux = runProbes(PNS, `${P}p0`, LINUX.addr, linuxMac, LINUX.probe);
    image = runProbes(PNS, `${P}t0`, IMAGE.addr, imageMac, IMAGE.probe);
    if (process.env.VCMP_DUMP !== undefined) writeFileSync(process.env.VCMP_DUMP, JSON.stringify({ linux, image }, null, 1));
    assert.deepEqual(Object.keys(image).sort(), Object.keys(linux).sort());
    // The captures work: answers of every kind were seen, so empty captures cannot pass below.
    assert.equal(linux.syn_open![0]!.flags, 'SA', table(['syn_open']));
    assert.equal(linux.udp_closed![0]!.icmp, '3/3', table(['udp_closed']));
    assert.equal(linux.est_syn![0]!.flags, 'A', table(['est_syn']));
  });

  test('every TCP, UDP, ICMP and IP (options too) probe gets the answer Linux gives, except the listed FreeBSD differences', () => {
    assert.ok(Object.keys(linux).length > 0, 'the probes ran');
    const names = Object.keys(linux).sort();
    const wrong: string[] = [];
    for (const name of names) {
      const l = canon(linux[name]);
      const i = canon(image[name]);
      const allowed = FREEBSD_DIFFERS[name];
      if (allowed !== undefined) {
        if (i !== canon(allowed.image)) wrong.push(`${name}: image ${i}, FreeBSD answers ${canon(allowed.image)}`);
        else console.log(`# expected difference ${name}: linux ${l}, image ${i}: ${allowed.why}`);
      } else if (l !== i) {
        wrong.push(`${name}: linux ${l} image ${i}`);
      }
    }
    assert.deepEqual(wrong, [], `answers that differ:\n${wrong.join('\n')}\n\nall probes (linux / image):\n${table(names)}`);
  });

});
