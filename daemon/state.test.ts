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
