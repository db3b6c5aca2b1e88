/**
 * httpd: a small static HTTP/1.1 server inside an image, serving files from
 * a directory of the host.
 *
 *     vimage S httpd [-p PORT] -r DIR [-v]
 *
 * GET and HEAD; persistent connections (HTTP/1.1 keep-alive, and HTTP/1.0
 * with "Connection: keep-alive"); pipelined requests answered in order;
 * index.html for directories; 400, 403, 404, 405, 413 and 505 answers.
 * Paths never leave DIR. -v logs one line per request on stderr (common
 * log format). Range requests are not supported (the whole file is sent).
 */

import { open, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import type { TcpSocket } from '../../lib/socket/tcp.js';
import { endpointText } from '../../lib/socket/sockaddr6.js';
import { EX_FAIL, EX_USAGE, type Command, type CommandContext } from '../command.js';
import { getopt, signalStatus } from './ping.js';

const MAX_HEADER = 16 * 1024;
const CHUNK = 256 * 1024;
/** Idle keep-alive connections are closed after this many ms (image clock). */
const KEEPALIVE_MS = 15_000;

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.htm': 'text/html; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.css': 'text/css',
  '.js': 'text/javascript',
  '.json': 'application/json',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
  '.pdf': 'application/pdf',
  '.gz': 'application/gzip',
  '.tar': 'application/x-tar',
  '.zip': 'application/zip',
};

const REASON: Record<number, string> = {
  200: 'OK',
  400: 'Bad Request',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  413: 'Payload Too Large',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  505: 'HTTP Version Not Supported',
};

interface Request {
  method: string;
  target: string;
  version: string;
  headers: Map<string, string>;
}

/** Parse a request head (without the final CRLFCRLF); null when malformed. */
export function parseRequest(head: string): Request | null {
  const lines = head.split('\r\n');
  const m = /^([A-Z]+) (\S+) (HTTP\/\d\.\d)$/.exec(lines[0] ?? '');
  if (m === null) return null;
  const headers = new Map<string, string>();
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    if (i <= 0) return null;
    headers.set(l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim());
  }
  return { method: m[1]!, target: m[2]!, version: m[3]!, headers };
}

function httpDate(d: Date): string {
  return d.toUTCString();
}

class Conn {
  private buf = Buffer.alloc(0);
  constructor(
    private readonly ctx: CommandContext,
    private readonly s: TcpSocket,
    private readonly root: string,
    private readonly verbose: boolean,
  ) {}

  /** The next request head, or null at end of stream / idle timeout. */
  private async nextHead(): Promise<string | null | 'toolarge'> {
    for (;;) {
      const end = this.buf.indexOf('\r\n\r\n');
      if (end >= 0) {
        const head = this.buf.subarray(0, end).toString('latin1');
        this.buf = this.buf.subarray(end + 4);
        return head;
      }
      if (this.buf.length > MAX_HEADER) return 'toolarge';
      const im = this.ctx.image;
      let timer: { cancel(): void } | undefined;
      const idle = new Promise<'idle'>((resolve) => {
        timer = im.clock.after(KEEPALIVE_MS, () => resolve('idle'));
      });
      const c = await Promise.race([this.s.read(), idle]);
      timer?.cancel();
      if (c === 'idle' || c === null) return null;
      this.buf = this.buf.length === 0 ? Buffer.from(c) : Buffer.concat([this.buf, c]);
    }
  }

  async serve(): Promise<void> {
    try {
      for (;;) {
        const head = await this.nextHead();
        if (head === null) break;
        if (head === 'toolarge') {
          await this.simple(431, false, 'GET');
          break;
        }
        const req = parseRequest(head);
        if (req === null) {
          await this.simple(400, false, 'GET');
          break;
        }
        const keep = this.keepAlive(req);
        if (req.version !== 'HTTP/1.1' && req.version !== 'HTTP/1.0') {
          await this.simple(505, false, req.method);
          break;
        }
        const len = Number(req.headers.get('content-length') ?? '0');
        if (!Number.isInteger(len) || len < 0) {
          await this.simple(400, false, req.method);
          break;
        }
        if (len > 0 || req.headers.has('transfer-encoding')) {
          // Static files take no bodies.
          await this.simple(413, false, req.method);
          break;
        }
        const ok = await this.respond(req, keep);
        if (!ok || !keep) break;
      }
      await this.s.end();
    } catch {
      /* the client reset */
    } finally {
      this.s.close();
    }
  }

  private keepAlive(req: Request): boolean {
    const c = (req.headers.get('connection') ?? '').toLowerCase();
    if (req.version === 'HTTP/1.1') return !c.split(',').some((t) => t.trim() === 'close');
    return c.split(',').some((t) => t.trim() === 'keep-alive');
  }

  private log(req: Request | null, status: number, bytes: number): void {
    if (!this.verbose) return;
    const p = this.s.remoteAddress();
    const line = req === null ? '-' : `${req.method} ${req.target} ${req.version}`;
    this.ctx.stderr.write(`${endpointText(p)} - - [${new Date().toUTCString()}] "${line}" ${status} ${bytes}\n`);
  }

  private headers(status: number, keep: boolean, extra: Record<string, string | number>): string {
    let h = `HTTP/1.1 ${status} ${REASON[status] ?? ''}\r\nDate: ${httpDate(new Date())}\r\nServer: vimage-httpd\r\n`;
    for (const [k, v] of Object.entries(extra)) h += `${k}: ${v}\r\n`;
    h += `Connection: ${keep ? 'keep-alive' : 'close'}\r\n\r\n`;
    return h;
  }

  private async simple(status: number, keep: boolean, method: string, extra: Record<string, string> = {}): Promise<void> {
    const body = `<html><head><title>${status} ${REASON[status]}</title></head><body><h1>${status} ${REASON[status]}</h1></body></html>\n`;
    const h = this.headers(status, keep, { 'Content-Type': 'text/html; charset=utf-8', 'Content-Length': Buffer.byteLength(body), ...extra });
    await this.s.write(Buffer.from(method === 'HEAD' ? h : h + body));
    this.log(null, status, method === 'HEAD' ? 0 : Buffer.byteLength(body));
  }

  /** Answer one request; false when the connection must close. */
  private async respond(req: Request, keep: boolean): Promise<boolean> {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      await this.simple(405, keep, req.method, { Allow: 'GET, HEAD' });
      return true;
    }
    let rel: string;
    try {
      const u = new URL(req.target, 'http://x');
      rel = decodeURIComponent(u.pathname);
    } catch {
      await this.simple(400, false, req.method);
      return false;
    }
    if (rel.includes('\0')) {
      await this.simple(400, false, req.method);
      return false;
    }
    let file = path.join(this.root, path.normalize(rel));
    let real: string;
    try {
      real = await realpath(file);
      let st = await stat(real);
      if (st.isDirectory()) {
        file = path.join(real, 'index.html');
        real = await realpath(file);
        st = await stat(real);
      }
      if (!st.isFile()) throw Object.assign(new Error('not a file'), { code: 'ENOENT' });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      await this.simple(code === 'EACCES' ? 403 : 404, keep, req.method);
      return true;
    }
    // Symlinks may not lead out of the document root.
    if (real !== this.root && !real.startsWith(this.root + path.sep)) {
      await this.simple(403, keep, req.method);
      return true;
    }
    let fh;
    try {
      fh = await open(real, 'r');
    } catch {
      await this.simple(403, keep, req.method);
      return true;
    }
    try {
      const st = await fh.stat();
      const type = TYPES[path.extname(real).toLowerCase()] ?? 'application/octet-stream';
      await this.s.write(Buffer.from(this.headers(200, keep, { 'Content-Type': type, 'Content-Length': st.size, 'Last-Modified': httpDate(st.mtime) })));
      if (req.method === 'GET') {
        let pos = 0;
        while (pos < st.size) {
          const b = Buffer.allocUnsafe(Math.min(CHUNK, st.size - pos));
          const { bytesRead } = await fh.read(b, 0, b.length, pos);
          if (bytesRead === 0) break;
          pos += bytesRead;
          await this.s.write(bytesRead === b.length ? b : b.subarray(0, bytesRead));
        }
        if (pos < st.size) return false; // the file shrank: the length we promised is wrong
      }
      this.log(req, 200, req.method === 'GET' ? st.size : 0);
      return true;
    } finally {
      await fh.close();
    }
  }
}

const httpd: Command = async (ctx) => {
  const usage = 'usage: httpd [-p port] -r docroot [-v]';
  const g = getopt(ctx.argv, 'p:r:v');
  if ('error' in g) {
    ctx.stderr.write(`httpd: ${g.error}\n${usage}\n`);
    return EX_USAGE;
  }
  let port = 80;
  let root: string | undefined;
  let verbose = false;
  for (const [ch, arg] of g.opts) {
    if (ch === 'p') {
      const v = Number(arg);
      if (!Number.isInteger(v) || v < 1 || v > 65535) {
        ctx.stderr.write(`httpd: port number invalid: ${arg}\n`);
        return EX_USAGE;
      }
      port = v;
    } else if (ch === 'r') root = arg;
    else if (ch === 'v') verbose = true;
  }
  if (root === undefined || g.operands.length > 0) {
    ctx.stderr.write(`httpd: give the directory to serve with -r DIR\n${usage}\n`);
    return EX_USAGE;
  }
  let docroot: string;
  try {
    docroot = await realpath(path.resolve(root));
    if (!(await stat(docroot)).isDirectory()) throw new Error('not a directory');
  } catch {
    ctx.stderr.write(`httpd: ${root}: not a directory on the host\n`);
    return EX_FAIL;
  }
  const l = ctx.image.sockets.tcpListener();
  l.reuseAddr = true;
  try {
    l.listen(port, 1024);
  } catch (e) {
    l.close();
    ctx.stderr.write(`httpd: bind to port ${port}: ${(e as Error).message}\n`);
    return EX_FAIL;
  }
  // IPv6 too, on a second (v6-only) socket, as a FreeBSD server with both listen lines; skipped if the port is taken there.
  const l6 = ctx.image.sockets.tcpListener({ family: 6, v6only: true });
  l6.reuseAddr = true;
  try {
    l6.listen(port, 1024);
  } catch {
    l6.close();
  }
  const conns = new Set<TcpSocket>();
  const serve = async (from: typeof l): Promise<void> => {
    for await (const c of from) {
      conns.add(c);
      void new Conn(ctx, c, docroot, verbose).serve().finally(() => conns.delete(c));
    }
  };
  const loop = Promise.all([serve(l), serve(l6)]);
  await new Promise<void>((resolve) => {
    if (ctx.signal.aborted) resolve();
    ctx.signal.addEventListener('abort', () => resolve(), { once: true });
  });
  l.close();
  l6.close();
  for (const c of conns) c.destroy();
  await loop;
  return signalStatus(ctx.signal.reason);
};

export const commands: Record<string, Command> = { httpd };
