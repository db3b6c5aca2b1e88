import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualPlatform } from '../lib/platform.js';
import { Registry } from '../lib/image.js';
import { silentLogger } from '../lib/log.js';
import { allCommands } from './commands/index.js';
import { ProcTable } from './proc.js';

async function run(table: ProcTable, reg: Registry, argv: string[]): Promise<{ status: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const p = table.spawn(reg.default, argv, {
    stdout: { write: (t) => void (out += t) },
    stderr: { write: (t) => void (err += t) },
    stdin: { async *[Symbol.asyncIterator]() {} },
    json: false,
  });
  return { status: await p.done, out, err };
}

test('every in-image command answers --help with its usage and status 0, and runs nothing', async () => {
  const reg = new Registry({ platform: new ManualPlatform(), log: silentLogger });
  const commands = allCommands();
  const table = new ProcTable(reg, commands, silentLogger);
  try {
    for (const name of commands.keys()) {
      const r = await run(table, reg, [name, '--help']);
      assert.equal(r.status, 0, `${name} --help: ${r.err}`);
      assert.match(r.out, new RegExp(`^usage: ${name} `), `${name} --help prints its synopsis`);
      assert.equal(r.err, '');
    }
    // --help that is not the first argument is the command's own business.
    const r = await run(table, reg, ['sysctl', 'net.inet.ip.forwarding', '--help']);
    assert.notEqual(r.status, 0);
    assert.doesNotMatch(r.out, /^usage:/);
  } finally {
    reg.close();
  }
});
