/**
 * In-image processes: every command run inside an image gets a pid, an
 * AbortController (Ctrl-C, kill, image destroyed) and an entry in the
 * daemon's process table while it runs.
 */

import type { Image, Registry } from '../lib/image.js';
import type { Logger } from '../lib/log.js';
import { VimageError } from '../lib/errors.js';
import { EX_FAIL, type Command, type Output } from './command.js';

/** Exit status of a command that is not found (as sh(1) reports it). */
export const EX_NOTFOUND = 127;
/** Exit status of an internal error (sysexits EX_SOFTWARE). */
export const EX_SOFTWARE = 70;

export type ProcState = 'running' | 'exited';

export interface Proc {
  readonly pid: number;
  readonly image: Image;
  readonly argv: readonly string[];
  readonly startedAt: number;
  state: ProcState;
  exitStatus: number | null;
  readonly abort: AbortController;
  done: Promise<number>;
}

export interface ProcIo {
  stdout: Output;
  stderr: Output;
  stdin: AsyncIterable<Uint8Array>;
  json: boolean;
}

export class ProcTable {
  private nextPid = 100;
  private readonly procs = new Map<number, Proc>();

  constructor(
    private readonly registry: Registry,
    private readonly commands: ReadonlyMap<string, Command>,
    private readonly log: Logger,
  ) {}

  get size(): number {
    return this.procs.size;
  }

  list(image?: Image): Proc[] {
    return [...this.procs.values()].filter((p) => image === undefined || p.image === image);
  }

  /** The commands that exist, sorted, for "command not found" messages. */
  commandNames(): string[] {
    return [...this.commands.keys()].sort();
  }

  /** Start `argv` inside `image`; `done` resolves to its exit status. */
  spawn(image: Image, argv: readonly string[], io: ProcIo): Proc {
    const pid = this.nextPid++;
    const abort = new AbortController();
    const proc: Proc = { pid, image, argv, startedAt: Date.now(), state: 'running', exitStatus: null, abort, done: Promise.resolve(0) };
    this.procs.set(pid, proc);
    proc.done = this.run(proc, io).then((status) => {
      proc.state = 'exited';
      proc.exitStatus = status;
      this.procs.delete(pid);
      return status;
    });
    return proc;
  }

  private async run(proc: Proc, io: ProcIo): Promise<number> {
    const name = proc.argv[0] ?? '';
    const cmd = this.commands.get(name);
    if (cmd === undefined) {
      io.stderr.write(`vimage: ${name}: command not found; commands in an image: ${this.commandNames().join(', ')}\n`);
      return EX_NOTFOUND;
    }
    const log = this.log.child({ image: proc.image.name, pid: proc.pid });
    log.debug({ argv: proc.argv }, 'process started');
    try {
      const status = await cmd({
        argv: proc.argv,
        image: proc.image,
        registry: this.registry,
        stdout: io.stdout,
        stderr: io.stderr,
        stdin: io.stdin,
        signal: proc.abort.signal,
        json: io.json,
        pid: proc.pid,
      });
      log.debug({ status }, 'process exited');
      return status;
    } catch (e) {
      if (e instanceof VimageError) {
        io.stderr.write(`${name}: ${e.message}\n`);
        return EX_FAIL;
      }
      log.error({ err: e }, 'command failed with an internal error');
      io.stderr.write(`${name}: internal error: ${(e as Error).message}\n`);
      return EX_SOFTWARE;
    }
  }

  /** Deliver a signal: every signal we support stops the command. */
  kill(pid: number, signal: string): boolean {
    const p = this.procs.get(pid);
    if (p === undefined) return false;
    p.abort.abort(signal);
    return true;
  }

  /** Stop every process of `image` (image destroyed) and wait for them. */
  async stopImage(image: Image): Promise<void> {
    const ps = this.list(image);
    for (const p of ps) p.abort.abort('image destroyed');
    await Promise.all(ps.map((p) => p.done));
  }

  async stopAll(): Promise<void> {
    const ps = this.list();
    for (const p of ps) p.abort.abort('daemon shutting down');
    await Promise.all(ps.map((p) => p.done));
  }
}

/** Standard input of a process: an async iterable fed by the exec stream. */
export class InputQueue implements AsyncIterable<Uint8Array> {
  private readonly chunks: Uint8Array[] = [];
  private ended = false;
  private wake: (() => void) | null = null;
  /** Bytes queued and not yet read, for flow control. */
  queued = 0;

  push(chunk: Uint8Array): void {
    if (this.ended) return;
    this.chunks.push(chunk);
    this.queued += chunk.length;
    this.wake?.();
  }

  end(): void {
    this.ended = true;
    this.wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    for (;;) {
      const c = this.chunks.shift();
      if (c !== undefined) {
        this.queued -= c.length;
        yield c;
        continue;
      }
      if (this.ended) return;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
      this.wake = null;
    }
  }
}
