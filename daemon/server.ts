/**
 * The control server: HTTP/1.1 + JSON on a Unix socket (see lib/protocol.ts
 * for the API). Every request is untrusted: bodies are size-limited and
 * validated at the edge, and every failure answers with a coded JSON error.
 */

import http from 'node:http';
import type { Duplex } from 'node:stream';
import { applyConfig, exportConfig, validateConfig } from '../lib/config.js';
import { E, VimageError, fail } from '../lib/errors.js';
import { CPU_WEIGHT_MAX } from '../lib/sched.js';
import { SysctlValues } from '../lib/sysctl.js';
import type { Image, Registry } from '../lib/image.js';
import type { Logger } from '../lib/log.js';
import { TapDriver } from '../lib/net/if_tap.js';
import {
  API_VERSION,
  EXEC_UPGRADE,
  FRAME,
  FrameDecoder,
  MAX_BODY,
  encodeFrame,
  type ApiError,
  type ImageSummary,
  type VersionInfo,
} from '../lib/protocol.js';
import type { Guard, Peer } from './auth.js';
import type { LinuxAgent } from './linux/agent.js';
import { InputQueue, type ProcTable } from './proc.js';

export interface ServerDeps {
  registry: Registry;
  procs: ProcTable;
  log: Logger;
  version: string;
  /** Called after anything may have changed the configuration; resolves once it is saved. */
  onChange?: () => Promise<void> | void;
  /** Peer credentials check; without it every peer may do everything (tests). */
  guard?: Guard;
  /** In-image processes at once. */
  maxProcesses?: number;
  /** The agent that serves vimage-supervisor (Linux programs in an image). */
  linux?: LinuxAgent;
}

function denied(peer: Peer, what: string): never {
  fail(E.PERMISSION, `permission denied: ${what} needs root or membership of the vimage group (you are uid ${peer.uid}); others may only list`);
}

/** Largest configuration document `vimage load` may send. */
const MAX_CONFIG_BODY = 8 * 1024 * 1024;

const MAX_ARGS = 256;
/** Bytes of unread standard input a command may have queued before the client is paused. */
const STDIN_HIGH_WATER = 1024 * 1024;
const MAX_ARG_LEN = 4096;

export function summarize(deps: ServerDeps, im: Image, verbose: boolean): ImageSummary {
  const s: ImageSummary = {
    name: im.name,
    id: im.id,
    interfaces: im.ifnets.size,
    sockets: im.sockets.size, // raw sockets (ping, traceroute) are in the set too
    processes: deps.procs.processes(im).length,
    createdAt: new Date(im.createdAt).toISOString(),
  };
  if (verbose) {
    let ipackets = 0;
    let opackets = 0;
    s.ifnets = [];
    for (const ifp of im.ifnets.values()) {
      ipackets += ifp.counters.ipackets;
      opackets += ifp.counters.opackets;
      const entry: { name: string; kind: string; hostif?: string } = { name: ifp.name, kind: ifp.kind };
      if (ifp.driver instanceof TapDriver) entry.hostif = ifp.driver.port.name;
      s.ifnets.push(entry);
    }
    s.ipackets = ipackets;
    s.opackets = opackets;
    s.iqdrops = [...im.ifnets.values()].reduce((n, i) => n + i.counters.iqdrops, 0);
    s.heldOff = im.cpu.heldOff;
    s.cpuMs = Math.round(im.cpuMs * 1000) / 1000;
    s.procCpuMs = Math.round(im.cpu.procMs * 1000) / 1000;
    s.cpuShare = Math.round(im.cpu.share * 100) / 100;
    s.load = [im.cpu.load[0], im.cpu.load[1], im.cpu.load[2]].map((x) => Math.round(x * 100) / 100) as [number, number, number];
    s.cpuWeight = im.cpu.weight;
    s.cpuMax = im.cpu.max;
  }
  return s;
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body) + '\n';
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function errorBody(e: VimageError): ApiError {
  return { error: { code: e.code, message: e.message } };
}

async function readJson(req: http.IncomingMessage, limit = MAX_BODY): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > limit) fail(E.BAD_REQUEST, `request body larger than ${limit} bytes`);
    chunks.push(c);
  }
  if (size === 0) return {};
  let body: unknown;
  try {
    body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    fail(E.BAD_REQUEST, 'request body is not valid JSON');
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) fail(E.BAD_REQUEST, 'request body must be a JSON object');
  return body;
}

function field(body: unknown, name: string, optional: true): string | undefined;
function field(body: unknown, name: string, optional?: false): string;
function field(body: unknown, name: string, optional = false): string | undefined {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) fail(E.BAD_REQUEST, 'request body must be a JSON object');
  const v = (body as Record<string, unknown>)[name];
  if (v === undefined && optional) return undefined;
  if (typeof v !== 'string' || v.length === 0 || v.length > 256) fail(E.BAD_REQUEST, `field '${name}' must be a non-empty string of at most 256 characters`);
  return v;
}

function imageName(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    fail(E.BAD_NAME, 'image name in the path is not valid percent-encoding');
  }
}

function checkArgv(argv: unknown, what = "field 'argv'"): asserts argv is string[] {
  if (!Array.isArray(argv) || argv.length === 0 || argv.length > MAX_ARGS || !argv.every((a) => typeof a === 'string' && a.length <= MAX_ARG_LEN)) {
    fail(E.BAD_REQUEST, `${what} must be a JSON array of 1 to ${MAX_ARGS} strings of at most ${MAX_ARG_LEN} characters`);
  }
}

/** Optional `sysctl: {name: value}` of a create request (tunables and other sysctls). */
function sysctlParams(body: unknown): Array<[string, string]> {
  const sc = (body as { sysctl?: unknown }).sysctl;
  if (sc === undefined) return [];
  if (typeof sc !== 'object' || sc === null || Array.isArray(sc)) fail(E.BAD_REQUEST, "field 'sysctl' must be an object of name: value");
  const out: Array<[string, string]> = [];
  for (const [k, v] of Object.entries(sc)) {
    if (typeof v !== 'number' && typeof v !== 'string') fail(E.BAD_REQUEST, `sysctl ${k}: the value must be a number`);
    out.push([k, String(v)]);
  }
  return out;
}

/** Optional `cpu: {weight, max}` of a create request. */
function cpuParams(body: unknown): { weight?: number; max?: number } {
  const cpu = (body as { cpu?: unknown }).cpu;
  if (cpu === undefined) return {};
  if (typeof cpu !== 'object' || cpu === null) fail(E.BAD_REQUEST, "field 'cpu' must be an object");
  const { weight, max } = cpu as { weight?: unknown; max?: unknown };
  const out: { weight?: number; max?: number } = {};
  if (weight !== undefined) {
    if (!Number.isInteger(weight) || (weight as number) < 1 || (weight as number) > CPU_WEIGHT_MAX) fail(E.OUT_OF_RANGE, `cpu.weight must be an integer between 1 and ${CPU_WEIGHT_MAX}`);
    out.weight = weight as number;
  }
  if (max !== undefined) {
    if (!Number.isInteger(max) || (max as number) < 1 || (max as number) > 100) fail(E.OUT_OF_RANGE, 'cpu.max must be a percentage between 1 and 100');
    out.max = max as number;
  }
  return out;
}

export function createControlServer(deps: ServerDeps): http.Server {
  const { registry, log } = deps;
  const server = http.createServer({ maxHeaderSize: 16 * 1024, requestTimeout: 30_000 });

  server.on('request', (req, res) => {
    handle(req, res).catch(async (e: unknown) => {
      if (req.method !== 'GET') await deps.onChange?.(); // whatever did change is saved
      if (e instanceof VimageError) {
        sendJson(res, e.status, errorBody(e));
        return;
      }
      log.error({ err: e, url: req.url }, 'request failed');
      sendJson(res, 500, { error: { code: E.INTERNAL.code, message: `internal error: ${(e as Error).message}` } } satisfies ApiError);
    });
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://vimaged');
    const path = url.pathname;
    const verbose = url.searchParams.get('verbose') === '1';
    const method = req.method ?? 'GET';
    // A change is on disk before the client hears it is done (kill -9 loses nothing).
    const reply = async (status: number, doc: unknown): Promise<void> => {
      if (method !== 'GET') await deps.onChange?.();
      sendJson(res, status, doc);
    };
    if (method !== 'GET' && deps.guard !== undefined) {
      const peer = deps.guard.peer(req.socket);
      if (!peer.admin) denied(peer, `${method} ${path}`);
    }
    if (!path.startsWith(`/${API_VERSION}/`)) fail(E.NOT_FOUND, `no such endpoint ${path}; the API lives under /${API_VERSION}/`);
    const parts = path.split('/').slice(2);
    if (parts.length === 1 && parts[0] === 'version' && method === 'GET') {
      await reply(200, { name: 'vimaged', version: deps.version, api: API_VERSION, pid: process.pid } satisfies VersionInfo);
      return;
    }
    if (parts.length === 1 && parts[0] === 'config') {
      if (method === 'GET') {
        await reply(200, exportConfig(registry));
        return;
      }
      if (method === 'POST') {
        const body = await readJson(req, MAX_CONFIG_BODY);
        let doc;
        try {
          doc = validateConfig(body);
        } catch (e) {
          fail(E.BAD_REQUEST, `configuration refused: ${(e as Error).message}`);
        }
        await reply(200, applyConfig(registry, doc));
        return;
      }
    }
    if (parts[0] !== 'images') fail(E.NOT_FOUND, `no such endpoint ${path}`);
    if (parts.length === 1) {
      if (method === 'GET') {
        await reply(200, { images: registry.list().map((im) => summarize(deps, im, verbose)) });
        return;
      }
      if (method === 'POST') {
        const body = await readJson(req);
        const cpu = cpuParams(body);
        const tunables = sysctlParams(body);
        const name = field(body, 'name');
        // Check the tunables on a scratch set of values first: a bad one creates nothing.
        const check = new SysctlValues();
        for (const [k, v] of tunables) check.set(k, v, true);
        const im = registry.create(name);
        for (const [k, v] of tunables) im.sysctl.set(k, v, true);
        if (cpu.weight !== undefined) im.cpu.weight = cpu.weight;
        if (cpu.max !== undefined) im.cpu.max = cpu.max;
        await reply(201, summarize(deps, im, verbose));
        return;
      }
    }
    if (parts.length === 2) {
      const name = imageName(parts[1]!);
      if (method === 'GET') {
        await reply(200, summarize(deps, registry.image(name), verbose));
        return;
      }
      if (method === 'DELETE') {
        const im = registry.image(name);
        if (im === registry.default) fail(E.IMAGE_IS_DEFAULT, 'the default image cannot be destroyed');
        await deps.procs.stopImage(im);
        registry.destroy(name);
        await reply(200, { destroyed: name });
        return;
      }
    }
    if (parts.length === 3 && parts[2] === 'processes' && method === 'POST') {
      const im = registry.image(imageName(parts[1]!));
      const body = await readJson(req);
      const argv = (body as { argv?: unknown }).argv;
      checkArgv(argv);
      if (deps.procs.size >= (deps.maxProcesses ?? Infinity)) fail(E.LIMIT, `${deps.procs.size} processes are running; the daemon's limit is ${deps.maxProcesses} (limits.processes in vimaged's configuration)`);
      if (!deps.procs.commandNames().includes(argv[0]!)) fail(E.NO_SUCH_COMMAND, `${argv[0]}: command not found; commands in an image: ${deps.procs.commandNames().join(', ')}`);
      const p = deps.procs.spawnDetached(im, argv, (body as { json?: unknown }).json === true);
      void p.done.then(() => deps.onChange?.());
      await reply(201, { pid: p.pid, image: im.name });
      return;
    }
    if (parts.length === 3 && parts[2] === 'interfaces' && method === 'POST') {
      const to = registry.image(imageName(parts[1]!));
      const body = await readJson(req);
      const ifname = field(body, 'ifname');
      const newName = field(body, 'newName', true);
      const from = registry.default;
      const ifp = from.ifnets.get(ifname);
      if (ifp === undefined) fail(E.NO_SUCH_INTERFACE, `interface ${ifname} is not in the default image; 'vimage default ifconfig -l' lists what is there`);
      registry.move(from, ifp, to, newName);
      await reply(200, { name: ifp.name, image: to.name });
      return;
    }
    fail(E.NOT_FOUND, `no such endpoint ${method} ${path}`);
  }

  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    try {
      if (deps.linux?.upgrade(req, socket, head) === true) return;
      upgradeExec(req, socket, head);
    } catch (e) {
      const err = e instanceof VimageError ? e : new VimageError(E.INTERNAL, `internal error: ${(e as Error).message}`);
      if (!(e instanceof VimageError)) log.error({ err: e }, 'exec upgrade failed');
      const text = JSON.stringify(errorBody(err)) + '\n';
      socket.end(
        `HTTP/1.1 ${err.status} ${http.STATUS_CODES[err.status] ?? 'Error'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${text}`,
      );
    }
  });

  function upgradeExec(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://vimaged');
    const m = new RegExp(`^/${API_VERSION}/images/([^/]+)/exec$`).exec(url.pathname);
    if (m === null) fail(E.NOT_FOUND, `no such endpoint for an upgrade: ${url.pathname}`);
    if ((req.headers.upgrade ?? '').toLowerCase() !== EXEC_UPGRADE) fail(E.BAD_REQUEST, `exec needs 'Upgrade: ${EXEC_UPGRADE}'`);
    if (deps.guard !== undefined) {
      const peer = deps.guard.peer(req.socket as import('node:net').Socket);
      if (!peer.admin) denied(peer, 'running commands in an image');
    }
    const maxProcs = deps.maxProcesses ?? Infinity;
    if (deps.procs.size >= maxProcs) fail(E.LIMIT, `${deps.procs.size} processes are running; the daemon's limit is ${maxProcs} (limits.processes in vimaged's configuration)`);
    const im = registry.image(imageName(m[1]!));
    let argv: unknown;
    try {
      argv = JSON.parse(url.searchParams.get('argv') ?? 'null');
    } catch {
      fail(E.BAD_REQUEST, "query parameter 'argv' must be a JSON array of strings");
    }
    checkArgv(argv, "query parameter 'argv'");
    if (!deps.procs.commandNames().includes(argv[0]!)) fail(E.NO_SUCH_COMMAND, `${argv[0]}: command not found; commands in an image: ${deps.procs.commandNames().join(', ')}`);
    const json = url.searchParams.get('json') === '1';
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: ${EXEC_UPGRADE}\r\n\r\n`);

    const stdin = new InputQueue();
    let open = true;
    const send = (type: typeof FRAME.STDOUT | typeof FRAME.STDERR, text: string): void => {
      if (open && text.length > 0) socket.write(encodeFrame(type, Buffer.from(text, 'utf8')));
    };
    const sendBytes = (b: Uint8Array): void => {
      if (open && b.length > 0) socket.write(encodeFrame(FRAME.STDOUT, b));
    };
    const proc = deps.procs.spawn(im, argv as string[], {
      stdout: { write: (t) => send(FRAME.STDOUT, t), writeBytes: sendBytes },
      stderr: { write: (t) => send(FRAME.STDERR, t) },
      stdin,
      json,
    });
    // Flow control: stop reading the client while the command has not
    // consumed what it was sent (a fast pipe into a slow command).
    stdin.onDrain = () => {
      if (socket.isPaused()) socket.resume();
    };
    const decoder = new FrameDecoder((type, payload) => {
      if (type === FRAME.STDIN) {
        stdin.push(Uint8Array.prototype.slice.call(payload));
        if (stdin.queued > STDIN_HIGH_WATER) socket.pause();
      }
      else if (type === FRAME.STDIN_EOF) stdin.end();
      else if (type === FRAME.SIGNAL) proc.abort.abort(Buffer.from(payload).toString('ascii').slice(0, 16) || 'INT');
    });
    const onData = (chunk: Buffer): void => {
      if (!decoder.push(chunk)) {
        log.warn({ pid: proc.pid }, 'exec stream sent a malformed frame; stopping the process');
        proc.abort.abort('protocol error');
        socket.destroy();
      }
    };
    if (head.length > 0) onData(head);
    socket.on('data', onData);
    socket.on('error', () => {});
    socket.on('close', () => {
      open = false;
      stdin.end();
      proc.abort.abort('client went away');
    });
    void proc.done.then(async (status) => {
      await deps.onChange?.();
      if (!open) return;
      const b = new Uint8Array(4);
      new DataView(b.buffer).setUint32(0, status);
      socket.end(encodeFrame(FRAME.EXIT, b));
    });
  }

  return server;
}
