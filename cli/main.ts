#!/usr/bin/env node
/**
 * vimage: the command line. FreeBSD vimage(8)'s forms plus readable
 * subcommands:
 *
 *   vimage -c NAME | vimage create NAME      create an image
 *   vimage -d NAME | vimage destroy NAME     destroy it
 *   vimage -l [-v] [NAME] | vimage list      list images
 *   vimage -i NAME IF [NEWNAME]              move IF from the default image into NAME
 *   vimage -b [--restart] NAME CMD [ARGS...] run CMD in the background (ps, kill, logs inside NAME); --restart keeps it
 *   vimage NAME CMD [ARGS...]                run CMD inside image NAME
 *   vimage save FILE | vimage load [--merge] FILE   export / import the configuration
 *   vimage help [CMD] | vimage --version
 */

import { readFileSync, writeFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import {
  DEFAULT_SOCKET,
  MAX_ARGS,
  MAX_ARG_LEN,
  MAX_BODY,
  MAX_BULK,
  MAX_HEADERS,
  type CreateImage,
  type CreateImages,
  type ImagesCreated,
  type ImageDestroyed,
  type ImageList,
  type ImageSummary,
  type InterfaceMoved,
  type MoveInterface,
} from '../lib/protocol.js';
import { captureToFile, execToFile } from './capture.js';
import { Client, CliError } from './client.js';
import { onPath, runLinux, startDetached } from './linux.js';

const EX_USAGE = 64;
const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

interface GlobalOptions {
  socket: string;
  json?: boolean;
  create?: string;
  destroy?: string;
  list?: boolean;
  verbose?: boolean;
  interface?: string;
  detach?: boolean;
  restart?: boolean;
}

/** One page of `vimage -l`, written at once (thousands of images: one write, not one per image). */
function printImages(images: ImageSummary[], verbose: boolean): void {
  let all = '';
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
    all += out;
  }
  if (all !== '') process.stdout.write(all);
}

/** Images a `vimage -l` page asks for: the first lines show at once, and no answer is huge. */
const LIST_PAGE = 2000;

/** The request of vimage -c NAME with its `cpu.weight=N`, `cpu.max=P` and `sysctl.name=N` operands. */
function createRequest(name: string, ops: string[]): CreateImage {
  const cpu: { weight?: number; max?: number } = {};
  const sysctl: Record<string, number | string> = {};
  for (const o of ops) {
    const c = /^cpu\.([a-z]+)=(.*)$/.exec(o);
    const s = /^([a-z][a-z0-9_.]*)=([A-Za-z0-9_-]+)$/.exec(o);
    if (c !== null) {
      const [, key, value] = c as unknown as [string, string, string];
      if (key !== 'weight' && key !== 'max') throw new CliError(`${o}: unknown parameter cpu.${key}; known: cpu.weight, cpu.max`, EX_USAGE);
      const v = key === 'max' ? value.replace(/%$/, '') : value;
      if (!/^\d+$/.test(v)) throw new CliError(`${o}: '${value}' is not a valid cpu.${key}: give ${key === 'weight' ? 'a whole number, e.g. cpu.weight=200 (100 is the default)' : 'a percentage from 1 to 100, e.g. cpu.max=50'}`, EX_USAGE);
      cpu[key] = Number(v);
    }
    else if (s !== null) sysctl[s[1]!] = /^-?\d+$/.test(s[2]!) ? Number(s[2]) : s[2]!;
    else throw new CliError(`unexpected argument '${o}': vimage -c NAME [cpu.weight=N] [cpu.max=PERCENT] [sysctl.name=VALUE ...]`, EX_USAGE);
  }
  const body: CreateImage = { name };
  if (Object.keys(cpu).length > 0) body.cpu = cpu;
  if (Object.keys(sysctl).length > 0) body.sysctl = sysctl;
  return body;
}

/**
 * The exec request carries argv in its URL: refuse, with the real limits,
 * what the daemon could not read (instead of an HTTP 431).
 */
function checkExecArgs(image: string, argv: readonly string[]): void {
  if (argv.length > MAX_ARGS) throw new CliError(`too many arguments: ${argv.length}, the limit is ${MAX_ARGS}; pass long input on standard input instead`, EX_USAGE);
  const long = argv.findIndex((a) => a.length > MAX_ARG_LEN);
  if (long >= 0) throw new CliError(`argument ${long + 1} is ${argv[long]!.length} characters long, the limit is ${MAX_ARG_LEN}; pass long input on standard input instead`, EX_USAGE);
  const size = encodeURIComponent(image).length + new URLSearchParams({ argv: JSON.stringify(argv) }).toString().length + 512;
  if (size > MAX_HEADERS) throw new CliError(`arguments too long: about ${size} bytes once encoded, the limit of a request is ${MAX_HEADERS}; pass long input on standard input instead`, EX_USAGE);
}

/**
 * `vimage help [TOPIC]`: this help, a subcommand's, or an in-image
 * command's own --help (asked of the daemon, in the default image).
 */
async function helpTopic(program: Command, client: () => Client, topic: string | undefined): Promise<number> {
  if (topic === undefined) {
    program.outputHelp();
    process.stdout.write(`\nIn-image commands: vimage help CMD (e.g. vimage help ifconfig), or vimage NAME CMD --help.\nAPI and JSON: docs/api.md. Version ${VERSION}.\n`);
    return 0;
  }
  const sub = program.commands.find((c) => c.name() === topic);
  if (sub !== undefined) {
    sub.outputHelp();
    return 0;
  }
  return client().exec('default', [topic, '--help'], false);
}

/** `--json` anywhere on the command line: errors are JSON too. */
function wantsJson(): boolean {
  return process.argv.slice(2).includes('--json');
}

/** The stable code for a CLI failure that has none from the daemon (lib/errors.ts registers them). */
function codeForStatus(exitCode: number): string {
  if (exitCode === EX_USAGE) return 'VIMAGE_ERR_USAGE';
  if (exitCode === 69) return 'VIMAGE_ERR_UNAVAILABLE';
  if (exitCode === 77) return 'VIMAGE_ERR_PERMISSION';
  if (exitCode === 65 || exitCode === 66 || exitCode === 73) return 'VIMAGE_ERR_FILE';
  return 'VIMAGE_ERR_COMMAND_FAILED';
}

/** One error: `vimage: message`, or with --json one JSON object `{"error": {"code", "message"}}`; both on stderr. */
function reportError(message: string, code: string): void {
  if (wantsJson()) process.stderr.write(JSON.stringify({ error: { code, message } }) + '\n');
  else process.stderr.write(`vimage: ${message}\n`);
}

/**
 * `vimage load [--merge] FILE`: the daemon checks the whole file first and
 * refuses it, changing nothing, with the path of the first bad value.
 */
async function load(client: Client, file: string, merge: boolean, json: boolean): Promise<number> {
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
  const r = await client.request<{ applied: number; removed: number; errors: string[] }>('POST', `/v1/config${merge ? '?merge=1' : ''}`, doc);
  if (json) {
    process.stdout.write(JSON.stringify(r, null, 2) + '\n');
    if (r.errors.length > 0) reportError(`load: ${r.errors.length} items could not be applied: ${r.errors.join('; ')}`, 'VIMAGE_ERR_COMMAND_FAILED');
  } else {
    process.stdout.write(`${r.applied} items applied${merge ? '' : `, ${r.removed} removed`}${r.errors.length > 0 ? `, ${r.errors.length} failed` : ''}\n`);
    for (const e of r.errors) process.stderr.write(`vimage: load: ${e}\n`);
  }
  return r.errors.length > 0 ? 1 : 0;
}

async function run(): Promise<number> {
  const program = new Command('vimage');
  let status = 0;
  const client = (): Client => new Client(program.opts<GlobalOptions>().socket);
  const json = (): boolean => program.opts<GlobalOptions>().json === true;

  const list = async (name: string | undefined, verbose: boolean): Promise<void> => {
    const q = verbose ? '?verbose=1' : '';
    if (name !== undefined) {
      const one = await client().request<ImageSummary>('GET', `/v1/images/${encodeURIComponent(name)}${q}`);
      if (json()) process.stdout.write(JSON.stringify(one, null, 2) + '\n');
      else printImages([one], verbose);
      return;
    }
    // Page by page, each printed as it arrives (an image made meanwhile may be listed twice or not at all).
    const images: ImageSummary[] = [];
    const c = client();
    for (let offset: number | undefined = 0; offset !== undefined; ) {
      const page: ImageList = await c.request<ImageList>('GET', `/v1/images?limit=${LIST_PAGE}&offset=${offset}${verbose ? '&verbose=1' : ''}`);
      if (json()) images.push(...page.images);
      else printImages(page.images, verbose);
      // A daemon without paging answers everything at once, without `total`.
      offset = page.total === undefined ? undefined : page.next;
    }
    if (json()) process.stdout.write(JSON.stringify({ images }, null, 2) + '\n');
  };
  /** vimage create A [B C ...] [params]: one name as before, several in one request (all or none). */
  const create = async (name: string, ops: string[] = []): Promise<void> => {
    const more = ops.filter((o) => !o.includes('='));
    if (more.length === 0) {
      const s = await client().request<ImageSummary>('POST', '/v1/images', createRequest(name, ops));
      if (json()) process.stdout.write(JSON.stringify(s, null, 2) + '\n');
      return;
    }
    const { cpu, sysctl } = createRequest(name, ops.filter((o) => o.includes('=')));
    // As many names a request as fit in the daemon's body limit; each request is all or none.
    const names = [name, ...more];
    const made: ImagesCreated = { images: [] };
    for (let i = 0; i < names.length; ) {
      const body: CreateImages = { names: [] };
      if (cpu !== undefined) body.cpu = cpu;
      if (sysctl !== undefined) body.sysctl = sysctl;
      let size = JSON.stringify(body).length;
      while (i < names.length && body.names.length < MAX_BULK && size + names[i]!.length * 6 + 3 < MAX_BODY) {
        size += JSON.stringify(names[i]).length + 1;
        body.names.push(names[i++]!);
      }
      if (body.names.length === 0) body.names.push(names[i++]!); // one name too long: the daemon says why
      const r = await client().request<ImagesCreated>('POST', '/v1/images', body);
      made.images.push(...r.images);
    }
    if (json()) process.stdout.write(JSON.stringify(made, null, 2) + '\n');
  };
  const destroy = async (name: string): Promise<void> => {
    const r = await client().request<ImageDestroyed>('DELETE', `/v1/images/${encodeURIComponent(name)}`);
    if (json()) process.stdout.write(JSON.stringify(r) + '\n');
  };

  program
    .description('run commands inside vimaged images: independent FreeBSD-style network stacks')
    .version(VERSION, '--version', 'print the version of vimage')
    .usage('[options] [NAME CMD [ARGS...]]')
    .addOption(new Option('--socket <path>', 'vimaged control socket').env('VIMAGE_SOCKET').default(DEFAULT_SOCKET))
    .option('--json', 'machine-readable output')
    .option('-c, --create <name>', 'create an image')
    .option('-d, --destroy <name>', 'destroy an image; its interfaces go back to the default image')
    .option('-l, --list', 'list images (with -v: interfaces, packets, CPU)')
    .option('-v, --verbose', 'more detail with -l')
    .option('-i, --interface <name>', 'move IF from the default image into image NAME: vimage -i NAME IF [NEWNAME]')
    .option('-b, --detach', 'run the command in the background; it keeps running after vimage exits (vimage -b NAME CMD ...)')
    .option('--restart', 'with -b: part of the saved configuration, restarted when it exits and when the daemon starts; kill PID stops it for good')
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
        const body: MoveInterface = { ifname: name };
        if (cmd[0] !== undefined) body.newName = cmd[0];
        const r = await client().request<InterfaceMoved>('POST', `/v1/images/${encodeURIComponent(o.interface)}/interfaces`, body);
        if (json()) process.stdout.write(JSON.stringify(r) + '\n');
        else process.stdout.write(`${r.name}@${r.image}\n`);
        return;
      }
      if (name === undefined) {
        program.outputHelp();
        status = EX_USAGE;
        return;
      }
      if (name === 'help' && o.detach !== true) {
        status = await helpTopic(program, client, cmd[0]);
        return;
      }
      if (cmd.length === 0) throw new CliError(`no command given for image ${name}: vimage ${name} CMD [ARGS...] (e.g. vimage ${name} ifconfig)`, EX_USAGE);
      if (o.restart === true && o.detach !== true) throw new CliError('--restart goes with -b: vimage -b --restart NAME CMD [ARGS...]', EX_USAGE);
      checkExecArgs(name, cmd);
      if (o.detach === true) {
        const r = await startDetached(client(), name, cmd, { json: json(), restart: o.restart === true });
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
    const cap = captureToFile(cmd);
    if (cap !== null) return execToFile(client(), name, cap, json());
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
    .description('create images (vimage -c NAME; several names are made in one request, all or none), optionally with cpu.weight=N cpu.max=PERCENT and sysctl.name=VALUE (tunables)')
    .argument('<name>')
    .argument('[names-and-params...]')
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
    .description('make each image named in FILE (- for stdin) as the file says; other images are left alone')
    .argument('<file>')
    .option('--merge', 'only add what the file has; remove nothing')
    .action(async (file: string, o: { merge?: boolean }) => {
      status = await load(client(), file, o.merge === true, json());
    });
  program
    .command('exec')
    .description('run a command inside an image (vimage NAME CMD ...)')
    .argument('<name>')
    .argument('<cmd...>')
    .passThroughOptions()
    .action(async (name: string, cmd: string[]) => {
      checkExecArgs(name, cmd);
      status = await execOrLinux(name, cmd);
    });

  program.exitOverride();
  if (wantsJson()) program.configureOutput({ writeErr: () => undefined }); // reported below, as JSON
  try {
    await program.parseAsync(process.argv);
  } catch (e) {
    if (e instanceof CliError) {
      reportError(e.message, e.code ?? codeForStatus(e.exitCode));
      return e.exitCode;
    }
    const ce = e as { code?: string; exitCode?: number; message?: string };
    if (typeof ce.code === 'string' && ce.code.startsWith('commander.')) {
      if (ce.code === 'commander.helpDisplayed' || ce.code === 'commander.version') return 0;
      if (wantsJson()) reportError(String(ce.message ?? 'bad arguments').replace(/^error: /, ''), 'VIMAGE_ERR_USAGE');
      return EX_USAGE;
    }
    throw e;
  }
  return status;
}

// A reader that went away (`vimage R tcpdump | head`): end as a tool killed by
// SIGPIPE does (status 128 + 13); the daemon stops the command when we hang up.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(141);
  throw e;
});

run().then(
  (code) => {
    process.exitCode = code;
    // stdin may still hold the event loop open after an exec
    process.stdout.write('', () => process.exit(code));
  },
  (e: unknown) => {
    reportError(`internal error: ${(e as Error).stack ?? String(e)}`, 'VIMAGE_ERR_INTERNAL');
    process.exit(70);
  },
);
