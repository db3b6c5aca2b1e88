import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualPlatform } from '../lib/platform.js';
import { Registry } from '../lib/image.js';
import { silentLogger } from '../lib/log.js';
import { allCommands } from './commands/index.js';
import { ProcTable } from './proc.js';
import type { Command } from './command.js';

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

test('runLinux: a caller that is not root may not pick a group it is not in (inetd.conf user:group)', async () => {
  const reg = new Registry({ platform: new ManualPlatform(), log: silentLogger });
  const got: Array<unknown> = [];
  const probe = async (ctx: Parameters<Command>[0]): Promise<number> => {
    for (const gid of [0, 65534]) {
      const r = ctx.procs!.runLinux!(['/bin/true'], { uid: 65534, gid });
      if (typeof r !== 'string') {
        r.kill('SIGKILL');
        await r.done;
      }
      got.push(typeof r === 'string' ? r : 'ran');
    }
    return 0;
  };
  const table = new ProcTable(reg, new Map([['probe', probe as Command]]), silentLogger);
  table.linux = {} as NonNullable<typeof table.linux>;
  table.supervisor = { file: '/bin/true', socket: '/nonexistent' };
  try {
    const p = table.spawn(reg.default, ['probe'], {
      stdout: { write: () => {} },
      stderr: { write: () => {} },
      stdin: { async *[Symbol.asyncIterator]() {} },
      json: false,
      uid: 65534,
    });
    assert.equal(await p.done, 0);
    assert.match(String(got[0]), /permission denied/, 'nobody may not run a program with gid 0');
    assert.equal(got[1], 'ran', 'nobody may run a program with its own group');
  } finally {
    reg.close();
  }
});
