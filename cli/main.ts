#!/usr/bin/env node
/**
 * vimage: the command line. FreeBSD vimage(8)'s forms plus readable
 * subcommands:
 *
 *   vimage -c NAME | vimage create NAME      create an image
 *   vimage -d NAME | vimage destroy NAME     destroy it
 *   vimage -l [-v] [NAME] | vimage list      list images
 *   vimage -i NAME IF [NEWNAME]              move IF from the default image into NAME
 *   vimage -b NAME CMD [ARGS...]             run CMD in the background (ps, kill, logs inside NAME)
 *   vimage NAME CMD [ARGS...]                run CMD inside image NAME
 *   vimage save FILE | vimage load FILE      export / import the whole configuration
 */

import { readFileSync, writeFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { DEFAULT_SOCKET, type ImageSummary } from '../lib/protocol.js';
import { Client, CliError } from './client.js';
import { onPath, runLinux } from './linux.js';

const EX_USAGE = 64;

interface GlobalOptions {
  socket: string;
  json?: boolean;
  create?: string;
  destroy?: string;
  list?: boolean;
  verbose?: boolean;
  interface?: string;
  detach?: boolean;
}

function printImages(images: ImageSummary[], verbose: boolean): void {
  for (const im of images) {
    let out = `"${im.name}":\n`;
    out += `    ${im.sockets} sockets, ${im.interfaces} ifnets, ${im.processes} processes\n`;
    if (verbose) {
      const ifs = (im.ifnets ?? []).map((i) => (i.hostif !== undefined ? `${i.name} (host ${i.hostif})` : i.name));
      const load = (im.load ?? [0, 0, 0]).map((x) => x.toFixed(2)).join(', ');
      out += `    interfaces: ${ifs.join(' ')}\n`;
      out += `    packets: ${im.ipackets ?? 0} in, ${im.opackets ?? 0} out, ${im.iqdrops ?? 0} input drops, input held off ${im.heldOff ?? 0} times\n`;
      out += `    CPU time: ${((im.cpuMs ?? 0) / 1000).toFixed(3)} s (processes ${((im.procCpuMs ?? 0) / 1000).toFixed(3)} s), ${(im.cpuShare ?? 0).toFixed(1)}% of the daemon's CPU over the last 5 s\n`;
      out += `    load averages: ${load}\n`;
      out += `    cpu.weight=${im.cpuWeight ?? 100} cpu.max=${im.cpuMax ?? 100}%\n`;
      out += `    created: ${im.createdAt}\n`;
    }
    process.stdout.write(out);
  }
}

/** `cpu.weight=N`, `cpu.max=P` and `sysctl.name=N` operands of vimage -c NAME. */
function createOperands(ops: string[]): { cpu: { weight?: number; max?: number }; sysctl: Record<string, number | string> } {
  const cpu: { weight?: number; max?: number } = {};
  const sysctl: Record<string, number | string> = {};
  for (const o of ops) {
    const c = /^cpu\.(weight|max)=(\d+)%?$/.exec(o);
    const s = /^([a-z][a-z0-9_.]*)=([A-Za-z0-9_-]+)$/.exec(o);
    if (c !== null) cpu[c[1] as 'weight' | 'max'] = Number(c[2]);
    else if (s !== null) sysctl[s[1]!] = /^-?\d+$/.test(s[2]!) ? Number(s[2]) : s[2]!;
    else throw new CliError(`unexpected argument '${o}': vimage -c NAME [cpu.weight=N] [cpu.max=PERCENT] [sysctl.name=VALUE ...]`, EX_USAGE);
  }
  return { cpu, sysctl };
}

async function run(): Promise<number> {
  const program = new Command('vimage');
  let status = 0;
  const client = (): Client => new Client(program.opts<GlobalOptions>().socket);
  const json = (): boolean => program.opts<GlobalOptions>().json === true;

  const list = async (name: string | undefined, verbose: boolean): Promise<void> => {
    const q = verbose ? '?verbose=1' : '';
    const images =
      name === undefined
        ? (await client().request<{ images: ImageSummary[] }>('GET', `/v1/images${q}`)).images
        : [await client().request<ImageSummary>('GET', `/v1/images/${encodeURIComponent(name)}${q}`)];
    if (json()) process.stdout.write(JSON.stringify(name === undefined ? { images } : images[0], null, 2) + '\n');
    else printImages(images, verbose);
  };
  const create = async (name: string, ops: string[] = []): Promise<void> => {
    const { cpu, sysctl } = createOperands(ops);
    const body: { name: string; cpu?: typeof cpu; sysctl?: typeof sysctl } = { name };
    if (Object.keys(cpu).length > 0) body.cpu = cpu;
    if (Object.keys(sysctl).length > 0) body.sysctl = sysctl;
    const s = await client().request<ImageSummary>('POST', '/v1/images', body);
    if (json()) process.stdout.write(JSON.stringify(s, null, 2) + '\n');
  };
  const destroy = async (name: string): Promise<void> => {
    const r = await client().request<{ destroyed: string }>('DELETE', `/v1/images/${encodeURIComponent(name)}`);
    if (json()) process.stdout.write(JSON.stringify(r) + '\n');
  };

  program
    .description('run commands inside vimaged images: independent FreeBSD-style network stacks')
    .usage('[options] [NAME CMD [ARGS...]]')
    .addOption(new Option('--socket <path>', 'vimaged control socket').env('VIMAGE_SOCKET').default(DEFAULT_SOCKET))
    .option('--json', 'machine-readable output')
    .option('-c, --create <name>', 'create an image')
    .option('-d, --destroy <name>', 'destroy an image; its interfaces go back to the default image')
    .option('-l, --list', 'list images (with -v: interfaces, packets, CPU)')
    .option('-v, --verbose', 'more detail with -l')
    .option('-i, --interface <name>', 'move IF from the default image into image NAME: vimage -i NAME IF [NEWNAME]')
    .option('-b, --detach', 'run the command in the background; it keeps running after vimage exits (vimage -b NAME CMD ...)')
    .argument('[name]', 'image to run the command in')
    .argument('[cmd...]', 'command and arguments')
    .passThroughOptions()
    .enablePositionalOptions()
    .showHelpAfterError('(run vimage --help for usage)')
    .action(async (name: string | undefined, cmd: string[]) => {
      const o = program.opts<GlobalOptions>();
      const forms = [o.create, o.destroy, o.list, o.interface].filter((x) => x !== undefined).length;
      if (forms > 1) throw new CliError('use one of -c, -d, -l and -i at a time', EX_USAGE);
      if (o.create !== undefined) {
        return create(o.create, name === undefined ? [] : [name, ...cmd]);
      }
      if (o.destroy !== undefined) {
        if (name !== undefined) throw new CliError(`unexpected argument '${name}' after -d ${o.destroy}`, EX_USAGE);
        return destroy(o.destroy);
      }
      if (o.list === true) {
        // `vimage -l NAME -v`: options after NAME arrive as operands.
        const extra = cmd.filter((a) => a !== '-v');
        if (extra.length > 0) throw new CliError(`unexpected argument '${extra[0]}': vimage -l [-v] [NAME]`, EX_USAGE);
        return list(name, o.verbose === true || cmd.includes('-v'));
      }
      if (o.interface !== undefined) {
        if (name === undefined || cmd.length > 1) throw new CliError('usage: vimage -i NAME IF [NEWNAME]', EX_USAGE);
        const r = await client().request<{ name: string; image: string }>('POST', `/v1/images/${encodeURIComponent(o.interface)}/interfaces`, {
          ifname: name,
          ...(cmd[0] !== undefined ? { newName: cmd[0] } : {}),
        });
        if (json()) process.stdout.write(JSON.stringify(r) + '\n');
        else process.stdout.write(`${r.name}@${r.image}\n`);
        return;
      }
      if (name === undefined) {
        program.outputHelp();
        status = EX_USAGE;
        return;
      }
      if (cmd.length === 0) throw new CliError(`no command given for image ${name}: vimage ${name} CMD [ARGS...] (e.g. vimage ${name} ifconfig)`, EX_USAGE);
      if (o.detach === true) {
        if (cmd[0] === 'exec' || cmd[0]!.includes('/')) throw new CliError('Linux programs cannot run in the background yet (vimage -b); run them in the foreground', EX_USAGE);
        const r = await client()
          .request<{ pid: number; image: string }>('POST', `/v1/images/${encodeURIComponent(name)}/processes`, { argv: cmd, json: json() })
          .catch((e: unknown) => {
            if (e instanceof CliError && e.code === 'VIMAGE_ERR_NO_SUCH_COMMAND' && onPath(cmd[0]!)) {
              throw new CliError(`${cmd[0]} is a Linux program, and those cannot run in the background yet (vimage -b); run it in the foreground`, EX_USAGE, e.code);
            }
            throw e;
          });
        if (json()) process.stdout.write(JSON.stringify(r) + '\n');
        else process.stdout.write(`[${r.pid}]\n`);
        return;
      }
      status = await execOrLinux(name, cmd);
    });

  /** A built-in command, or else the Linux program of that name (`exec --linux CMD`: always the program). */
  const execOrLinux = async (name: string, cmd: string[]): Promise<number> => {
    const sock = program.opts<GlobalOptions>().socket;
    if (cmd[0] === 'exec' && cmd[1] === '--linux') {
      if (cmd.length < 3) throw new CliError(`usage: vimage ${name} exec --linux PROGRAM [ARGS...]`, EX_USAGE);
      return runLinux(sock, name, cmd.slice(2));
    }
    if (cmd[0]!.includes('/')) return runLinux(sock, name, cmd);
    try {
      return await client().exec(name, cmd, json());
    } catch (e) {
      if (!(e instanceof CliError) || e.code !== 'VIMAGE_ERR_NO_SUCH_COMMAND') throw e;
      if (!onPath(cmd[0]!)) throw new CliError(`${e.message}; nor is it a program on your PATH`, 127, e.code);
      return runLinux(sock, name, cmd);
    }
  };

  program
    .command('create')
    .description('create an image (vimage -c NAME), optionally with cpu.weight=N cpu.max=PERCENT and sysctl.name=VALUE (tunables)')
    .argument('<name>')
    .argument('[params...]')
    .action((name: string, params: string[]) => create(name, params));
  program
    .command('destroy')
    .description('destroy an image (vimage -d NAME)')
    .argument('<name>')
    .action((name: string) => destroy(name));
  program
    .command('list')
    .description('list images (vimage -l [-v] [NAME])')
    .argument('[name]')
    .option('-v, --verbose', 'interfaces, packets and CPU time')
    .action((name: string | undefined, o: { verbose?: boolean }) => list(name, o.verbose === true));
  program
    .command('save')
    .description('write the whole configuration to FILE (- for stdout) as JSON')
    .argument('<file>')
    .action(async (file: string) => {
      const doc = await client().request<unknown>('GET', '/v1/config');
      const text = JSON.stringify(doc, null, 2) + '\n';
      if (file === '-') process.stdout.write(text);
      else {
        try {
          writeFileSync(file, text);
        } catch (e) {
          throw new CliError(`cannot write ${file}: ${(e as Error).message}`, 73);
        }
      }
    });
  program
    .command('load')
    .description('apply a configuration saved with vimage save (- for stdin)')
    .argument('<file>')
    .action(async (file: string) => {
      let text: string;
      try {
        text = readFileSync(file === '-' ? 0 : file, 'utf8');
      } catch (e) {
        throw new CliError(`cannot read ${file}: ${(e as Error).message}`, 66);
      }
      let doc: unknown;
      try {
        doc = JSON.parse(text);
      } catch (e) {
        throw new CliError(`${file} is not valid JSON: ${(e as Error).message}`, 65);
      }
      const r = await client().request<{ applied: number; errors: string[] }>('POST', '/v1/config', doc);
      if (json()) process.stdout.write(JSON.stringify(r, null, 2) + '\n');
      else process.stdout.write(`${r.applied} items applied${r.errors.length > 0 ? `, ${r.errors.length} failed` : ''}\n`);
      for (const e of r.errors) process.stderr.write(`vimage: load: ${e}\n`);
      if (r.errors.length > 0) status = 1;
    });
  program
    .command('exec')
    .description('run a command inside an image (vimage NAME CMD ...)')
    .argument('<name>')
    .argument('<cmd...>')
    .passThroughOptions()
    .action(async (name: string, cmd: string[]) => {
      status = await execOrLinux(name, cmd);
    });

  program.exitOverride();
  try {
    await program.parseAsync(process.argv);
  } catch (e) {
    if (e instanceof CliError) {
      process.stderr.write(`vimage: ${e.message}\n`);
      return e.exitCode;
    }
    const ce = e as { code?: string; exitCode?: number };
    if (typeof ce.code === 'string' && ce.code.startsWith('commander.')) {
      if (ce.code === 'commander.helpDisplayed' || ce.code === 'commander.version') return 0;
      return EX_USAGE;
    }
    throw e;
  }
  return status;
}

run().then(
  (code) => {
    process.exitCode = code;
    // stdin may still hold the event loop open after an exec
    process.stdout.write('', () => process.exit(code));
  },
  (e: unknown) => {
    process.stderr.write(`vimage: internal error: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(70);
  },
);
