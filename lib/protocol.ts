/**
 * The control API between `vimage` and `vimaged`, typed once and shared by
 * both sides. HTTP/1.1 with JSON bodies over a Unix socket, versioned paths:
 *
 *   method path                        request body   response
 *   GET    /v1/version                                -> VersionInfo
 *   GET    /v1/images[?verbose=1]                     -> ImageList
 *   GET    /v1/images/NAME[?verbose=1]                -> ImageSummary
 *   GET    /v1/images?limit=N[&offset=K]                -> ImageList, one page (next, total)
 *   POST   /v1/images                  CreateImage    -> 201 ImageSummary
 *   POST   /v1/images                  CreateImages   -> 201 ImagesCreated (many names, all or none)
 *   DELETE /v1/images/NAME                            -> ImageDestroyed
 *   POST   /v1/images/NAME/interfaces  MoveInterface  -> InterfaceMoved
 *   POST   /v1/images/NAME/processes   StartDetached  -> 201 ProcessStarted
 *   GET    /v1/config                                 -> the configuration document
 *   POST   /v1/config[?merge=1]        (document)     -> ConfigApplied
 *
 * docs/api.md describes each endpoint, the limits and the error codes.
 *   GET    /v1/images/NAME/exec?argv=JSON[&json=1]
 *          with `Connection: Upgrade`, `Upgrade: vimage-exec`
 *                                                    -> 101, then exec frames
 *
 * The daemon validates every request body into its type at the edge
 * (daemon/server.ts); the CLI (cli/) builds them from these types. The
 * configuration document's shape is lib/config.ts's, which the CLI passes
 * through without reading. Errors are `ApiError` bodies with a stable
 * `VIMAGE_ERR_...` code.
 *
 * Exec frames, both directions: [type u8][length u32 big-endian][payload].
 * Client to daemon: STDIN (bytes), STDIN_EOF, SIGNAL (signal name, ASCII).
 * Daemon to client: STDOUT, STDERR (bytes), EXIT (exit status, u32 BE).
 *
 * This file imports nothing of the stack: the CLI depends on it alone.
 */

export const API_VERSION = 'v1';
export const DEFAULT_SOCKET = '/run/vimage/vimaged.sock';
export const DEFAULT_STATE_DIR = '/var/lib/vimage';
export const EXEC_UPGRADE = 'vimage-exec';

/** Largest request head (request line and headers) the daemon reads; exec's argv travels in it. */
export const MAX_HEADERS = 16 * 1024;
/** Arguments of a command run in an image: how many, and how long each. */
export const MAX_ARGS = 256;
export const MAX_ARG_LEN = 4096;
/** Largest JSON request body the daemon reads. */
export const MAX_BODY = 64 * 1024;
/** Largest exec frame either side accepts. */
export const MAX_FRAME = 1024 * 1024;

export const FRAME = {
  STDIN: 1,
  STDIN_EOF: 2,
  SIGNAL: 3,
  STDOUT: 4,
  STDERR: 5,
  EXIT: 6,
} as const;
export type FrameType = (typeof FRAME)[keyof typeof FRAME];

/** GET /v1/version */
export interface VersionInfo {
  name: 'vimaged';
  version: string;
  api: typeof API_VERSION;
  pid: number;
}

/** One interface in a verbose ImageSummary. */
export interface InterfaceSummary {
  name: string;
  kind: string;
  hostif?: string;
}

/** GET /v1/images/NAME; one entry of ImageList; the answer to CreateImage. */
export interface ImageSummary {
  name: string;
  id: number;
  interfaces: number;
  sockets: number;
  processes: number;
  createdAt: string;
  /** With `verbose`. */
  ifnets?: InterfaceSummary[];
  ipackets?: number;
  opackets?: number;
  /** Frames dropped at the image's input queues (scheduler, interface down). */
  iqdrops?: number;
  /** Times the scheduler held the image's input off because it had spent its share. */
  heldOff?: number;
  /** CPU milliseconds spent on the image: packets, timers and processes. */
  cpuMs?: number;
  /** Of which the in-image processes' own work. */
  procCpuMs?: number;
  /** Percent of the daemon's CPU over the last 5 s interval. */
  cpuShare?: number;
  /** Load averages over 1, 5 and 15 minutes. */
  load?: [number, number, number];
  cpuWeight?: number;
  cpuMax?: number;
}

/** GET /v1/images */
export interface ImageList {
  images: ImageSummary[];
  /** With `limit`: the offset of the next page, absent on the last one. */
  next?: number;
  /** With `limit`: how many images there are in all. */
  total?: number;
}

/** POST /v1/images with `names` (vimage create A B C ..., vimage load): all are made, or none. */
export interface CreateImages {
  names: string[];
  cpu?: { weight?: number; max?: number };
  sysctl?: Record<string, number | string>;
}

/** The answer to CreateImages: one summary per name, in order. */
export interface ImagesCreated {
  images: ImageSummary[];
}

/** Most names one POST /v1/images may carry, and most images one GET /v1/images page holds. */
export const MAX_BULK = 10000;

/** POST /v1/images (vimage -c NAME [cpu.weight=N] [cpu.max=P] [sysctl=V ...]). */
export interface CreateImage {
  name: string;
  cpu?: { weight?: number; max?: number };
  /** Sysctls set before anything else, tunables included (net.inet.ip.fw.default_to_accept). */
  sysctl?: Record<string, number | string>;
}

/** DELETE /v1/images/NAME */
export interface ImageDestroyed {
  destroyed: string;
}

/** POST /v1/images/NAME/interfaces (vimage -i NAME IF [NEWNAME]). */
export interface MoveInterface {
  /** Interface in the default image. */
  ifname: string;
  newName?: string;
}

/** The answer to MoveInterface: the interface's name in its new image. */
export interface InterfaceMoved {
  name: string;
  image: string;
}

/** POST /v1/images/NAME/processes (vimage -b NAME CMD ...). */
export interface StartDetached {
  argv: string[];
  /** The command formats its output as JSON (--json). */
  json?: boolean;
  /** `vimage -b --restart`: keep it (saved, restarted when it exits and at daemon start). */
  restart?: boolean;
  /** argv is a Linux program, run by vimage-supervisor as the caller, in `cwd`, with `path` as its PATH. */
  linux?: boolean;
  cwd?: string;
  path?: string;
}

/** The answer to StartDetached. */
export interface ProcessStarted {
  pid: number;
  image: string;
  /** The command already ended (within its first 250 ms) with this status. */
  exitStatus?: number;
  restart?: boolean;
}

/** POST /v1/config (vimage load): items applied, and a message per item that failed. */
export interface ConfigApplied {
  applied: number;
  /** Items taken away to make the named images as the file says (not with ?merge=1). */
  removed: number;
  errors: string[];
}

/** The body of every error answer. */
export interface ApiError {
  error: { code: string; message: string };
}

/** Encode one frame header + payload. */
export function encodeFrame(type: FrameType, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + payload.length);
  out[0] = type;
  new DataView(out.buffer).setUint32(1, payload.length);
  out.set(payload, 5);
  return out;
}

/**
 * Incremental frame decoder for a byte stream. `push` returns false when the
 * peer sent a frame longer than MAX_FRAME or of an unknown type; the caller
 * closes the stream.
 */
export class FrameDecoder {
  private buf: Uint8Array = new Uint8Array(0);

  constructor(private readonly onFrame: (type: FrameType, payload: Uint8Array) => void) {}

  push(chunk: Uint8Array): boolean {
    if (this.buf.length === 0) this.buf = chunk;
    else {
      const b = new Uint8Array(this.buf.length + chunk.length);
      b.set(this.buf);
      b.set(chunk, this.buf.length);
      this.buf = b;
    }
    let off = 0;
    while (this.buf.length - off >= 5) {
      const type = this.buf[off]!;
      const len = new DataView(this.buf.buffer, this.buf.byteOffset + off + 1, 4).getUint32(0);
      if (type < FRAME.STDIN || type > FRAME.EXIT || len > MAX_FRAME) return false;
      if (this.buf.length - off - 5 < len) break;
      this.onFrame(type as FrameType, this.buf.subarray(off + 5, off + 5 + len));
      off += 5 + len;
    }
    this.buf = off === this.buf.length ? new Uint8Array(0) : this.buf.slice(off);
    return true;
  }
}
