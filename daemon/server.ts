/**
 * The control server: HTTP/1.1 + JSON on a Unix socket (see lib/protocol.ts
 * for the API). Every request is untrusted: bodies are size-limited and
 * validated at the edge, and every failure answers with a coded JSON error.
 */

import http from 'node:http';
import type { Duplex } from 'node:stream';
import { ConfigError, checkLoadable, exportConfig, loadConfig } from '../lib/config.js';
import { E, VimageError, fail } from '../lib/errors.js';
import { ImageControl } from '../lib/control/index.js';
import { CPU_WEIGHT_MAX } from '../lib/sched.js';
import { SysctlValues } from '../lib/sysctl.js';
import { IMAGE_NAME_RE, type Image, type Registry } from '../lib/image.js';
import type { Logger } from '../lib/log.js';
import { TapDriver } from '../lib/net/if_tap.js';
import {
  API_VERSION,
  EXEC_UPGRADE,
  FRAME,
  FrameDecoder,
  MAX_ARGS,
  MAX_ARG_LEN,
  MAX_BODY,
  MAX_HEADERS,
  encodeFrame,
  type ApiError,
  type ConfigApplied,
  type CreateImage,
  type CreateImages,
  type ImagesCreated,
  MAX_BULK,
  type ImageDestroyed,
  type ImageList,
  type ImageSummary,
  type InterfaceMoved,
  type InterfaceSummary,
  type MoveInterface,
  type ProcessStarted,
  type StartDetached,
  type VersionInfo,
} from '../lib/protocol.js';
import { refusal, type Guard, type Peer } from './auth.js';
import type { Keeper } from './keep.js';
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
  /** Background commands kept across exits and restarts (`vimage -b --restart`). */
  keeper?: Keeper;
  /** The agent that serves vimage-supervisor (Linux programs in an image). */
  linux?: LinuxAgent;
}

function denied(peer: Peer): never {
  fail(E.PERMISSION, refusal(peer.uid));
}

/** Largest configuration document `vimage load` may send. */
const MAX_CONFIG_BODY = 8 * 1024 * 1024;

/** Bytes of unread standard input a command may have queued before the client is paused. */
const STDIN_HIGH_WATER = 1024 * 1024;
/** How long `vimage -b` waits to see whether the command fails at once. */
const EARLY_EXIT_MS = 250;

export function summarize(deps: ServerDeps, im: Image, verbose: boolean): ImageSummary {
  const s: ImageSummary = {
    name: im.name,
    id: im.id,
    interfaces: im.ifnets.size,
    sockets: im.sockets.size, // raw sockets (ping, traceroute) are in the set too
    processes: deps.procs.count(im),
    createdAt: new Date(im.createdAt).toISOString(),
  };
  if (verbose) {
    let ipackets = 0;
    let opackets = 0;
    s.ifnets = [];
    for (const ifp of im.ifnets.values()) {
      ipackets += ifp.counters.ipackets;
      opackets += ifp.counters.opackets;
      const entry: InterfaceSummary = { name: ifp.name, kind: ifp.kind };
      if (ifp.driver instanceof TapDriver) entry.hostif = ifp.driver.port.name;
      s.ifnets.push(entry);
    }
    s.ipackets = ipackets;
    s.opackets = opackets;
    s.iqdrops = [...im.ifnets.values()].reduce((n, i) => n + i.counters.iqdrops, 0);
    s.heldOff = im.cpu.heldOff;
    const linuxMs = deps.procs.linux?.cpuMs(im) ?? 0; // Linux programs: their cgroup's CPU time
    s.cpuMs = Math.round((im.cpuMs + linuxMs) * 1000) / 1000;
    s.procCpuMs = Math.round((im.cpu.procMs + linuxMs) * 1000) / 1000;
    s.cpuShare = Math.round(im.cpu.share * 100) / 100;
    s.load = [im.cpu.load[0], im.cpu.load[1], im.cpu.load[2]].map((x) => Math.round(x * 100) / 100) as [number, number, number];
    s.cpuWeight = im.cpu.weight;
    s.cpuMax = im.cpu.max;
  }
  return s;
}

/**
 * `vimage --json NAME CMD`: what the command wrote to stderr, as one JSON
 * object. A failure (non-zero status) is `{"error": {"code", "message"}}`
 * with the code of the VimageError the command hit, or VIMAGE_ERR_USAGE
 * for bad arguments (status 64) and VIMAGE_ERR_COMMAND_FAILED otherwise; a
 * success that printed something is `{"warning": {"message"}}`.
 */
export function stderrAsJson(text: string, status: number): string {
  let coded: string | undefined;
  const plain: string[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    if (coded === undefined && line.startsWith('{"error":')) {
      try {
        JSON.parse(line);
        coded = line;
        continue;
      } catch {
        // not ours: plain text
      }
    }
    plain.push(line);
  }
  if (status !== 0 && coded !== undefined) return coded + '\n';
  const message = plain.join('\n');
  if (status === 0) return JSON.stringify({ warning: { message } }) + '\n';
  return JSON.stringify({ error: { code: status === 64 ? E.USAGE.code : E.COMMAND_FAILED.code, message } } satisfies ApiError) + '\n';
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
  const tooLarge = (): never => fail(E.TOO_LARGE, `request body larger than ${limit} bytes, the limit of ${req.method} ${req.url?.split('?')[0]}`);
  if (Number(req.headers['content-length'] ?? 0) > limit) tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > limit) tooLarge();
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

/** The methods each endpoint takes (docs/api.md lists them); undefined for no such endpoint. */
function methodsOf(parts: readonly string[]): readonly string[] | undefined {
  const [a, , c] = parts;
  if (parts.length === 1 && a === 'version') return ['GET'];
  if (parts.length === 1 && a === 'config') return ['GET', 'POST'];
  if (a !== 'images') return undefined;
  if (parts.length === 1) return ['GET', 'POST'];
  if (parts.length === 2) return ['GET', 'DELETE'];
  if (parts.length === 3 && (c === 'processes' || c === 'interfaces')) return ['POST'];
  if (parts.length === 3 && c === 'exec') return ['GET'];
  return undefined;
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
function sysctlParams(body: unknown): Record<string, number | string> {
  const sc = (body as { sysctl?: unknown }).sysctl;
  if (sc === undefined) return {};
  if (typeof sc !== 'object' || sc === null || Array.isArray(sc)) fail(E.BAD_REQUEST, "field 'sysctl' must be an object of name: value");
  const out: Record<string, number | string> = {};
  for (const [k, v] of Object.entries(sc)) {
    if (typeof v !== 'number' && typeof v !== 'string') fail(E.BAD_REQUEST, `sysctl ${k}: the value must be a number`);
    out[k] = v;
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

/** The request bodies, validated into their protocol types at the edge. */
function createImageRequest(body: unknown): CreateImage | CreateImages {
  const cpu = cpuParams(body);
  const sysctl = sysctlParams(body);
  const names = (body as { names?: unknown }).names;
  if (names !== undefined) {
    if (!Array.isArray(names) || names.length === 0 || names.length > MAX_BULK || !names.every((n) => typeof n === 'string')) {
      fail(E.BAD_REQUEST, `field 'names' must be a list of 1 to ${MAX_BULK} image names`);
    }
    if ((body as { name?: unknown }).name !== undefined) fail(E.BAD_REQUEST, "give either 'name' or 'names', not both");
    return { names: names as string[], cpu, sysctl };
  }
  // The registry names the real limit of an image name (64), not the API's generic 256.
  const rawName = (body as { name?: unknown }).name;
  const name = typeof rawName === 'string' && rawName.length > 0 ? rawName : field(body, 'name');
  return { name, cpu, sysctl };
}

/** Bulk creation is all or nothing: every name is checked before the first image is made. */
function checkNewNames(registry: Registry, names: readonly string[]): void {
  const seen = new Set<string>();
  for (const n of names) {
    if (!IMAGE_NAME_RE.test(n)) fail(E.BAD_NAME, `invalid image name '${n}': use 1 to 64 letters, digits, '_', '.' or '-', starting with a letter or digit; no image was created`);
    if (seen.has(n)) fail(E.BAD_REQUEST, `image ${n} is named twice; no image was created`);
    if (registry.get(n) !== undefined) fail(E.IMAGE_EXISTS, `image ${n} already exists; no image was created`);
    seen.add(n);
  }
  const made = registry.size - 1;
  if (made + names.length > registry.limits.images) {
    fail(E.LIMIT, `cannot create ${names.length} images: ${made} exist and the daemon's limit is ${registry.limits.images} (limits.images in vimaged's configuration); no image was created`);
  }
}

/** GET /v1/images: all, or with `limit` one page from `offset` (in creation order). */
function listImages(deps: ServerDeps, q: URLSearchParams, verbose: boolean): ImageList {
  const limitText = q.get('limit');
  if (limitText === null) return { images: deps.registry.list().map((im) => summarize(deps, im, verbose)) };
  const limit = Number(limitText);
  const offset = Number(q.get('offset') ?? 0);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_BULK) fail(E.BAD_REQUEST, `limit must be a whole number from 1 to ${MAX_BULK}`);
  if (!Number.isInteger(offset) || offset < 0) fail(E.BAD_REQUEST, 'offset must be a whole number, 0 or more');
  const images: ImageSummary[] = [];
  let i = 0;
  for (const im of deps.registry.values()) {
    if (i >= offset + limit) break;
    if (i++ >= offset) images.push(summarize(deps, im, verbose));
  }
  const total = deps.registry.size;
  const page: ImageList = { images, total };
  if (offset + limit < total) page.next = offset + limit;
  return page;
}

function moveInterfaceRequest(body: unknown): MoveInterface {
  const r: MoveInterface = { ifname: field(body, 'ifname') };
  const newName = field(body, 'newName', true);
  if (newName !== undefined) r.newName = newName;
  return r;
}

function startDetachedRequest(body: unknown): StartDetached {
  const argv = (body as { argv?: unknown }).argv;
  checkArgv(argv);
  const b = body as { json?: unknown; restart?: unknown; linux?: unknown; cwd?: unknown; path?: unknown };
  const r: StartDetached = { argv, json: b.json === true, restart: b.restart === true };
  if (b.linux === true) {
    r.linux = true;
    r.cwd = typeof b.cwd === 'string' && b.cwd.startsWith('/') ? b.cwd : '/';
    if (typeof b.path === 'string' && b.path.length < 4096) r.path = b.path;
  }
  return r;
}

export function createControlServer(deps: ServerDeps): http.Server {
  const { registry, log } = deps;
  const server = http.createServer({ maxHeaderSize: MAX_HEADERS, requestTimeout: 30_000 });

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
    // One rule for every endpoint, reads included (daemon/auth.ts).
    if (deps.guard !== undefined) {
      const peer = deps.guard.peer(req.socket);
      if (!peer.admin) denied(peer);
    }
    if (!path.startsWith(`/${API_VERSION}/`)) fail(E.NOT_FOUND, `no such endpoint ${path}; the API lives under /${API_VERSION}/`);
    const parts = path.split('/').slice(2);
    const methods = methodsOf(parts);
    if (methods === undefined) fail(E.NOT_FOUND, `no such endpoint ${path}; docs/api.md lists them`);
    if (!methods.includes(method)) {
      res.setHeader('allow', methods.join(', '));
      fail(E.METHOD_NOT_ALLOWED, `${path} takes ${methods.join(' or ')}, not ${method}`);
    }
    if (parts[2] === 'exec') fail(E.BAD_REQUEST, `exec needs 'Connection: Upgrade' and 'Upgrade: ${EXEC_UPGRADE}'`);
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
        const merge = url.searchParams.get('merge') === '1';
        let report;
        try {
          report = loadConfig(registry, checkLoadable(body), merge);
        } catch (e) {
          if (e instanceof ConfigError) fail(E.BAD_REQUEST, `configuration refused, nothing changed: ${e.message}`);
          throw e;
        }
        await reply(200, report satisfies ConfigApplied);
        return;
      }
    }
    if (parts[0] !== 'images') fail(E.NOT_FOUND, `no such endpoint ${path}`);
    if (parts.length === 1) {
      if (method === 'GET') {
        await reply(200, listImages(deps, url.searchParams, verbose));
        return;
      }
      if (method === 'POST') {
        const r = createImageRequest(await readJson(req));
        const tunables = Object.entries(r.sysctl ?? {}).map(([k, v]) => [k, String(v)] as const);
        // Check the tunables on a scratch set of values first: a bad one creates nothing.
        const check = new SysctlValues();
        for (const [k, v] of tunables) check.set(k, v, true);
        const names = 'names' in r ? r.names : [r.name];
        if ('names' in r) checkNewNames(registry, names);
        const made = names.map((name) => {
          const im = registry.create(name);
          const ctl = new ImageControl(im, registry);
          for (const [k, v] of tunables) ctl.sysctl.set(k, v, true);
          if (r.cpu !== undefined) ctl.setCpu(r.cpu);
          return summarize(deps, im, verbose);
        });
        await reply(201, 'names' in r ? ({ images: made } satisfies ImagesCreated) : made[0]!);
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
        await reply(200, { destroyed: name } satisfies ImageDestroyed);
        return;
      }
    }
    if (parts.length === 3 && parts[2] === 'processes' && method === 'POST') {
      const im = registry.image(imageName(parts[1]!));
      const r = startDetachedRequest(await readJson(req));
      const argv = r.argv;
      if (deps.procs.size >= (deps.maxProcesses ?? Infinity)) fail(E.LIMIT, `${deps.procs.size} processes are running; the daemon's limit is ${deps.maxProcesses} (limits.processes in vimaged's configuration)`);
      if (r.linux !== true && !deps.procs.commandNames().includes(argv[0]!)) fail(E.NO_SUCH_COMMAND, `${argv[0]}: command not found; commands in an image: ${deps.procs.commandNames().join(', ')}`);
      const restart = r.restart === true;
      if (restart && deps.keeper === undefined) fail(E.BAD_REQUEST, 'this daemon cannot keep commands (--restart)');
      const peer = deps.guard?.peer(req.socket) ?? { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
      const linux = r.linux === true ? { uid: peer.uid, gid: peer.gid, cwd: r.cwd ?? '/', ...(r.path !== undefined ? { path: r.path } : {}) } : undefined;
      const p = restart ? await deps.keeper!.add(im, argv, linux) : linux !== undefined ? await deps.procs.spawnLinux(im, argv, linux) : deps.procs.spawnDetached(im, argv, r.json === true, peer.uid);
      void p.done.then(() => deps.onChange?.());
      // A command that fails at once (a server whose root is missing, a port in use) is reported as a failure, not as a pid.
      const early = await Promise.race([p.done, new Promise<null>((r) => setTimeout(() => r(null), EARLY_EXIT_MS))]);
      if (early !== null && early !== 0) {
        if (restart) deps.keeper!.forget(p);
        const said = (p.log ?? '').trim().split('\n').slice(-5).join('\n');
        fail(E.COMMAND_FAILED, `${argv[0]} exited at once with status ${early}${said === '' ? '' : `: ${said}`}`);
      }
      await reply(201, { pid: p.pid, image: im.name, ...(early === null ? {} : { exitStatus: early }), ...(restart ? { restart: true } : {}) } satisfies ProcessStarted);
      return;
    }
    if (parts.length === 3 && parts[2] === 'interfaces' && method === 'POST') {
      const to = registry.image(imageName(parts[1]!));
      const r = moveInterfaceRequest(await readJson(req));
      const from = registry.default;
      const ifp = from.ifnets.get(r.ifname);
      if (ifp === undefined) fail(E.NO_SUCH_INTERFACE, `interface ${r.ifname} is not in the default image; 'vimage default ifconfig -l' lists what is there`);
      registry.move(from, ifp, to, r.newName);
      await reply(200, { name: ifp.name, image: to.name } satisfies InterfaceMoved);
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
      if (!peer.admin) denied(peer);
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
    // With --json, stderr is held and sent as one JSON object at the end.
    let errText = '';
    const proc = deps.procs.spawn(im, argv as string[], {
      stdout: { write: (t) => send(FRAME.STDOUT, t), writeBytes: sendBytes, backlog: () => socket.writableLength },
      stderr: { write: json ? (t) => void (errText.length < MAX_BODY && (errText += t)) : (t) => send(FRAME.STDERR, t) },
      stdin,
      json,
      ...(deps.guard !== undefined ? { uid: deps.guard.peer(req.socket as import('node:net').Socket).uid } : {}),
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
      if (errText !== '') send(FRAME.STDERR, stderrAsJson(errText, status));
      const b = new Uint8Array(4);
      new DataView(b.buffer).setUint32(0, status);
      socket.end(encodeFrame(FRAME.EXIT, b));
    });
  }

  return server;
}
