/**
 * The README's walk-through, run as a new user would run it: every `sh`
 * block of the sections from "A small topology" to "Tear down", line by
 * line, in order, on one daemon, ending with the check that nothing the
 * walk-through made is left.
 *
 * What is changed before a line runs, and only this: the namespaces A and B
 * and the host devices hostA and hostB get this file's prefix (vrd), /tmp/www
 * becomes a directory of this test (/etc/vimage/R, which the supervisor
 * reads, is used as written and kept aside when it exists), and PID stands for the pid the last
 * `vimage -b` printed, as the README says. A line whose comment says
 * "Ctrl-C stops it" runs until a probe has seen it work, then gets SIGINT
 * (to its process group, as a terminal sends it). Every other line must
 * exit 0; some must also print what the README says they print.
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { CLI, Lab, labUnavailable, sh, until } from './lab.js';

const P = 'vrd';
const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
/** The walk-through: every section from the first to the last of these, in the README's order. */
const FIRST = 'A small topology';
const LAST = 'Tear down';
/** Where the walk-through gives image R resolvers (the supervisor reads /etc/vimage/IMAGE); kept aside if it exists. */
const ETC_R = '/etc/vimage/R';

function walkThrough(readme: string): string[] {
  const headings = [...readme.matchAll(/^## (.+)$/gm)].map((m) => m[1]!);
  const a = headings.indexOf(FIRST);
  const b = headings.indexOf(LAST);
  assert.ok(a >= 0 && b > a, `README has sections "${FIRST}" .. "${LAST}"`);
  return headings.slice(a, b + 1);
}

/** The `sh` blocks of one README section, as runnable lines (comments kept: they carry the Ctrl-C mark). */
function sectionLines(readme: string, heading: string): string[] {
  const start = readme.indexOf(`\n## ${heading}\n`);
  assert.ok(start >= 0, `README has no section "${heading}"`);
  const end = readme.indexOf('\n## ', start + 1);
  const body = readme.slice(start, end < 0 ? undefined : end);
  const lines: string[] = [];
  for (const m of body.matchAll(/```sh\n([\s\S]*?)```/g)) {
    for (const l of m[1]!.split('\n')) if (l.trim() !== '' && !l.trim().startsWith('#')) lines.push(l);
  }
  return lines;
}

/** What a line must print (stdout and stderr together), by a piece of the line. */
const EXPECT: [string, RegExp][] = [
  ['ip netns exec A ping -c 3 10.0.2.2', / 3 received/],
  ['ip netns exec A ping -c 3 10.0.3.2', / 3 received/],
  ['vimage R ping -c 3 10.0.2.2', / 3 packets received/],
  ['exec A traceroute -n 10.0.2.2', /^ 1 {2}10\.0\.1\.1 [\s\S]*^ 2 {2}10\.0\.2\.2 /m],
  ['vimage R traceroute -n 10.0.2.2', /^ 1 {2}10\.0\.2\.2 /m],
  ['ifconfig tap create hostname hostA', /^tap0\n$/],
  ['ifconfig tap create hostname hostB', /^tap1\n$/],
  ['ifconfig epair create', /^epair0a\n$/],
  ['S sees only lo0 and epair0b', /^lo0: [\s\S]*^epair0b: /m],
  ['vimage R netstat -rn', /^10\.0\.3\.0\/24 +link#\d+ +U +epair0a/m],
  ['ip netns exec A curl http://10.0.3.2/', /^hello$/m],
  ['vimage R curl', /^hello\n from 10\.0\.3\.1$/m],
  ['exec --linux nc -zvn 10.0.3.2 80', /succeeded/],
  ['ipfw show', /^00100 +0 +0 allow icmp from any to any$/m],
  ['ipfw pipe show', /^00001: +10\.000 Mbit\/s +50 ms /m],
  ['vimage R cat /etc/resolv.conf', /^nameserver 10\.0\.2\.3\n$/],
  ['vimage R ps', /ping -i 1 10\.0\.2\.2/],
  ['vimage R logs PID', /bytes from 10\.0\.2\.2/],
];

/** While a Ctrl-C line runs: what shows it works (retried until it does). */
const PROBES: [string, string[], RegExp][] = [
  ['vimage S nc -l 5000', ['ip', 'netns', 'exec', `${P}A`, 'sh', '-c', 'echo hi from A | nc -N -w 2 10.0.3.2 5000'], /^$/],
  ['python3 -m http.server 8000', ['ip', 'netns', 'exec', `${P}A`, 'curl', '-s', '-m', '2', 'http://10.0.1.1:8000/'], /Directory listing/],
];

/** The line as this test runs it. */
function localise(line: string, www: string, pid: string | undefined): string {
  let l = line.replace(/(\bnetns (?:add |del |exec )?| -n )([AB])\b/g, `$1${P}$2`).replace(/\bhost([AB])\b/g, `${P}h$1`).replaceAll('/tmp/www', www);
  if (/\bPID\b/.test(l.replace(/#.*/, ''))) {
    assert.ok(pid !== undefined, `"${line}" needs the pid of an earlier vimage -b`);
    l = l.replace(/\bPID\b/g, pid);
  }
  return l;
}

interface Ran {
  code: number | null;
  signal: NodeJS.Signals | null;
  out: string;
}

/** Run one line; with `ctrlC`, send SIGINT once it resolves or fails (its failure is `probeError`). */
function run(line: string, env: NodeJS.ProcessEnv, ctrlC?: () => Promise<void>): Promise<Ran & { probeError?: unknown }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', line], { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const kill = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), 30_000);
    child.on('error', reject);
    let probeError: unknown;
    let probed: Promise<void> = Promise.resolve();
    child.on('close', (code, signal) => {
      clearTimeout(kill);
      void probed.then(() => resolve(probeError === undefined ? { code, signal, out } : { code, signal, out, probeError }));
    });
    if (ctrlC !== undefined) {
      probed = ctrlC()
        .catch((e: unknown) => {
          probeError = e;
        })
        .finally(() => {
          try {
            process.kill(-child.pid!, 'SIGINT');
          } catch {
            // already gone: its exit status says why
          }
        });
    }
  });
}


const skip = labUnavailable();

describe('the README walk-through, section by section, on one daemon', { skip }, () => {
  const lab = new Lab(P);
  const www = path.join(lab.dir, 'www');
  const bin = path.join(lab.dir, 'bin');
  let env: NodeJS.ProcessEnv;
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  let lastPid: string | undefined;
  /** Set by the first section that fails: the later ones would only add noise. */
  let broken: string | undefined;
  const used = new Set<string>();
  const etcSaved = `${ETC_R}.${P}-saved`;
  const ours = (): string[] => [
    ...sh('ip', ['netns', 'list']).stdout.split('\n').filter((l) => l.startsWith(P)),
    ...sh('ip', ['-br', 'link']).stdout.split('\n').filter((l) => l.startsWith(P)),
  ];

  before(async () => {
    for (const n of ['A', 'B']) sh('ip', ['netns', 'del', `${P}${n}`], { allowFail: true });
    for (const h of ['A', 'B']) sh('ip', ['link', 'del', `${P}h${h}`], { allowFail: true });
    // A resolver someone gave their own image R stays theirs: kept aside, put back after.
    if (existsSync(ETC_R)) renameSync(ETC_R, etcSaved);
    mkdirSync(bin);
    writeFileSync(path.join(bin, 'vimage'), `#!/bin/sh\nexec "${process.execPath}" "${CLI}" "$@"\n`);
    chmodSync(path.join(bin, 'vimage'), 0o755);
    env = { ...process.env, PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`, VIMAGE_SOCKET: lab.sock };
    await lab.start();
  });

  after(async () => {
    await lab.close();
    for (const n of ['A', 'B']) sh('ip', ['netns', 'del', `${P}${n}`], { allowFail: true });
    for (const h of ['A', 'B']) sh('ip', ['link', 'del', `${P}h${h}`], { allowFail: true });
    rmSync(ETC_R, { recursive: true, force: true });
    if (existsSync(etcSaved)) renameSync(etcSaved, ETC_R);
  });

  for (const heading of walkThrough(readme)) {
    test(heading, async (t) => {
      if (broken !== undefined) {
        t.skip(`section "${broken}" failed; this one builds on it`);
        return;
      }
      broken = heading;
      for (const line of sectionLines(readme, heading)) {
        const l = localise(line, www, lastPid);
        for (const [k] of [...EXPECT, ...PROBES]) if (line.includes(k)) used.add(k);
        const probe = PROBES.find(([k]) => line.includes(k));
        const ctrlC = /Ctrl-C stops it\)?$/.test(line) && !line.includes('without -c');
        let probed = '';
        const r = await run(
          l,
          env,
          ctrlC
            ? async () => {
                assert.ok(probe !== undefined, `no probe for "${line}"`);
                await until(`"${line}" answers`, () => {
                  const p = sh(probe[1][0]!, probe[1].slice(1), { allowFail: true, timeoutMs: 5000 });
                  probed = p.stdout;
                  return p.code === 0 && probe[2].test(p.stdout);
                }, 15_000);
              }
            : undefined,
        );
        if (ctrlC) {
          if (r.probeError !== undefined) throw r.probeError;
          // nc -l also ends by itself when its one connection closes, so Ctrl-C may find it gone.
          assert.ok(r.code === 0 || r.code === 130 || r.signal === 'SIGINT', `"${line}" after Ctrl-C exited ${r.code ?? r.signal}:\n${r.out}\nprobe saw: ${probed}`);
          if (line.includes('nc -l 5000')) assert.match(r.out, /^hi from A$/m, 'nc -l printed what A sent');
          continue;
        }
        if (line.startsWith('vimage default ifconfig -l')) {
          // The host sides went with their namespaces; their image interfaces follow within a second.
          await until('only lo0 left', async () => (await run(l, env)).out === 'lo0\n', 2000);
          continue;
        }
        assert.equal(r.code, 0, `"${l}" exited ${r.code}:\n${r.out}`);
        for (const [k, re] of EXPECT) if (line.includes(k)) assert.match(r.out, re, `"${l}" printed:\n${r.out}`);
        if (line.startsWith('vimage -b ')) {
          const m = /^\[(\d+)\]$/m.exec(r.out);
          assert.ok(m !== null, `"${l}" printed no [pid]: ${r.out}`);
          lastPid = m[1];
        }
      }
      broken = undefined;
    });
  }

  test('every expected output and probe matched a README line', (t) => {
    if (broken !== undefined) {
      t.skip(`section "${broken}" failed`);
      return;
    }
    assert.deepEqual(
      [...EXPECT, ...PROBES].map(([k]) => k).filter((k) => !used.has(k)),
      [],
      'the README changed under these checks: update EXPECT/PROBES',
    );
  });

  test('nothing the walk-through made is left', async () => {
    assert.deepEqual(ours(), []);
    assert.equal(await lab.ok(['default', 'ifconfig', '-l']), 'lo0\n');
    const { images } = JSON.parse(await lab.ok(['--json', '-l'])) as { images: { name: string }[] };
    assert.deepEqual(images.map((i) => i.name), ['default']);
    assert.equal(existsSync(www), false, 'the web root is gone');
    assert.equal(existsSync(ETC_R), false, `${ETC_R} is gone`);
  });
});
