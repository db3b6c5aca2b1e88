import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualPlatform } from '../lib/platform.js';
import { applyConfig, exportConfig, validateConfig } from '../lib/config.js';
import { Registry } from '../lib/image.js';
import { silentLogger } from '../lib/log.js';
import { commands } from './commands/ipfw.js';
import { commandHandles } from '../lib/control/index.js';
test('ipfw rules, pipes and queues are saved and restored', async () => {
  const reg = new Registry({ platform: new ManualPlatform(), log: silentLogger });
  const r = reg.create('R');
  const run = async (...args: string[]): Promise<string> => {
    let out = '';
    let err = '';
    const status = await commands['ipfw']!({
      argv: ['ipfw', ...args],
      ...commandHandles(r, reg),
      stdout: { write: (t) => (out += t) },
      stderr: { write: (t) => (err += t) },
      stdin: (async function* () {})(),
      signal: new AbortController().signal,
      json: false,
      pid: 1,
    });
    assert.equal(status, 0, err);
    return out;
  };
  await run('pipe', '1', 'config', 'bw', '10Mbit/s', 'delay', '20', 'plr', '0.1');
  await run('queue', '2', 'config', 'pipe', '1', 'weight', '3', 'mask', 'src-ip', '0xffffffff');
  await run('add', '100', 'allow', 'tcp', 'from', '{', '10.0.0.1', 'or', '10.0.0.2', '}', 'to', 'me', '22', 'setup', 'keep-state');
  await run('add', '200', 'pipe', '1', 'udp', 'from', 'any', 'to', 'any', 'dst-port', '5000-5100', 'in', 'via', 'lo0');
  await run('add', '300', 'deny', 'icmp', 'from', 'any', 'to', 'any', 'icmptypes', '8,13');
  const doc = exportConfig(reg);
  const fresh = new Registry({ platform: new ManualPlatform(), log: silentLogger });
  const report = applyConfig(fresh, validateConfig(JSON.parse(JSON.stringify(doc))));
  assert.deepEqual(report.errors, []);
  assert.deepEqual(exportConfig(fresh), doc);
  const saved = doc.images.find((i) => i.name === 'R')!['ipfw'] as { rules: string[] };
  assert.equal(saved.rules.length, 3);
});

// ---- the state journal (daemon/state.ts) ------------------------------------

import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { JOURNAL_FILE, STATE_FILE, StateStore, replayJournal } from './state.js';
import type { Logger } from '../lib/log.js';

function capture(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const rec = (level: string) => (a: unknown, b?: unknown): void => void lines.push(`${level} ${typeof a === 'string' ? a : String(b)}`);
  const log = { debug: rec('debug'), info: rec('info'), warn: rec('warn'), error: rec('error'), child: () => log } as unknown as Logger;
  return { log, lines };
}

function fresh(dir: string): { reg: Registry; store: StateStore; lines: string[] } {
  const reg = new Registry({ platform: new ManualPlatform(), log: silentLogger, limits: { images: 100_000 } });
  const { log, lines } = capture();
  const store = new StateStore(dir, reg, log);
  store.restore();
  return { reg, store, lines };
}

const names = (reg: Registry): string[] => reg.list().map((im) => im.name);

test('replayJournal applies puts and deletes in order onto the snapshot', () => {
  const images = new Map<string, unknown>([['default', { name: 'default' }], ['A', { name: 'A', v: 1 }]]);
  const text = ['{"journal":3}', '{"put":{"name":"B"}}', '{"put":{"name":"A","v":2}}', '{"del":"default"}', ''].join('\n');
  const r = replayJournal(images, text, 3);
  assert.deepEqual(r, { records: 3, stale: false });
  assert.deepEqual([...images.keys()], ['A', 'B']);
  assert.deepEqual(images.get('A'), { name: 'A', v: 2 });
});

test('replayJournal ignores a torn last record and a journal of another generation', () => {
  const images = new Map<string, unknown>();
  const torn = replayJournal(images, '{"journal":1}\n{"put":{"name":"B"}}\n{"put":{"name":"C"', 1);
  assert.equal(torn.records, 1);
  assert.match(torn.problem ?? '', /cut short/);
  assert.deepEqual([...images.keys()], ['B']);
  const stale = replayJournal(images, '{"journal":1}\n{"del":"B"}\n', 2);
  assert.deepEqual(stale, { records: 0, stale: true });
  assert.deepEqual([...images.keys()], ['B']);
  const bad = replayJournal(images, '{"journal":2}\n{"put":{"name":"D"}}\nnot json\n{"put":{"name":"E"}}\n', 2);
  assert.equal(bad.records, 1);
  assert.match(bad.problem ?? '', /line 3 .* ignored/);
  assert.deepEqual([...images.keys()], ['B', 'D']);
});

test('each change is appended to the journal, and a restart without a clean stop (kill -9) restores it', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vimage-state-'));
  try {
    const a = fresh(dir);
    // Enough images that the snapshot is not rewritten at every commit.
    for (let i = 0; i < 400; i++) a.reg.create(`i${i}`);
    a.store.save();
    const snap = readFileSync(path.join(dir, STATE_FILE), 'utf8');
    a.reg.create('late');
    a.reg.destroy('i7');
    const r = a.reg.get('i3')!;
    r.sysctl.set('net.inet.ip.forwarding', '1');
    a.reg.touch(r);
    assert.equal(a.store.flush(), true);
    assert.equal(readFileSync(path.join(dir, STATE_FILE), 'utf8'), snap, 'the snapshot was not rewritten');
    const journal = readFileSync(path.join(dir, JOURNAL_FILE), 'utf8').trim().split('\n');
    assert.equal(journal.length, 1 + 3, 'a header and one record per changed image');
    assert.equal(a.store.flush(), false, 'nothing changed: nothing written');
    // No close(), no save(): as after kill -9.
    const b = fresh(dir);
    assert.deepEqual(names(b.reg), names(a.reg));
    assert.deepEqual(exportConfig(b.reg), exportConfig(a.reg));
    assert.ok(b.lines.some((l) => /journal replayed/.test(l)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a torn last journal record is ignored with a warning; acknowledged records before it survive', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vimage-state-'));
  try {
    const a = fresh(dir);
    for (let i = 0; i < 400; i++) a.reg.create(`i${i}`);
    a.store.save();
    a.reg.create('acked');
    a.store.flush();
    appendFileSync(path.join(dir, JOURNAL_FILE), '{"put":{"name":"torn","interfaces":[');
    const b = fresh(dir);
    assert.ok(b.reg.get('acked') !== undefined);
    assert.equal(b.reg.get('torn'), undefined);
    assert.ok(b.lines.some((l) => /^warn .*cut short/.test(l)), b.lines.join('\n'));
    // Restoring compacted: the torn bytes are gone, and the next change appends to a clean journal.
    assert.equal(readFileSync(path.join(dir, JOURNAL_FILE), 'utf8').includes('torn'), false);
    b.reg.create('after');
    b.store.flush();
    const c = fresh(dir);
    assert.ok(c.reg.get('after') !== undefined && c.reg.get('acked') !== undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('compaction folds the journal into the snapshot; a crash between the two files loses nothing', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vimage-state-'));
  try {
    const a = fresh(dir);
    for (let i = 0; i < 400; i++) a.reg.create(`i${i}`);
    a.store.save();
    for (let i = 0; i < 50; i++) {
      a.reg.create(`j${i}`);
      a.store.flush();
    }
    const before = statSync(path.join(dir, JOURNAL_FILE)).size;
    assert.ok(before > 50 * 20, `journal ${before} bytes`);
    const oldJournal = readFileSync(path.join(dir, JOURNAL_FILE), 'utf8');
    a.store.save();
    assert.match(readFileSync(path.join(dir, STATE_FILE), 'utf8'), /"name":"j49"/);
    assert.ok(statSync(path.join(dir, JOURNAL_FILE)).size < 32, 'a fresh journal');
    // A crash after the new snapshot but before the new journal: the old journal is stale and ignored.
    writeFileSync(path.join(dir, JOURNAL_FILE), oldJournal.replace(/\n$/, '') + '\n{"del":"i0"}\n');
    const b = fresh(dir);
    assert.equal(b.reg.size, 1 + 400 + 50);
    assert.ok(b.reg.get('i0') !== undefined, 'a journal of the previous generation is not replayed');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a corrupt snapshot: the previous one and both journals restore every acknowledged change', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vimage-state-'));
  try {
    const a = fresh(dir);
    for (let i = 0; i < 400; i++) a.reg.create(`i${i}`);
    a.store.save();
    a.reg.create('one');
    a.store.flush();
    a.store.save();
    a.reg.create('two');
    a.store.flush();
    writeFileSync(path.join(dir, STATE_FILE), '{"version":1,"images":[{"na');
    const b = fresh(dir);
    assert.deepEqual(names(b.reg), names(a.reg));
    assert.ok(b.lines.some((l) => /unreadable or corrupt/.test(l)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the cost of a change does not grow with the number of images (journal bytes per change)', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'vimage-state-'));
  try {
    const a = fresh(dir);
    const per = (): number => {
      const j = path.join(dir, JOURNAL_FILE);
      const s0 = statSync(j).size;
      a.reg.create(`x${a.reg.size}`);
      a.store.flush();
      return statSync(j).size - s0;
    };
    for (let i = 0; i < 300; i++) a.reg.create(`i${i}`);
    a.store.save();
    const small = per();
    for (let i = 300; i < 3000; i++) a.reg.create(`i${i}`);
    a.store.save();
    const large = per();
    assert.ok(small > 0 && large <= small + 8, `${small} bytes with 300 images, ${large} with 3000`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
