/**
 * The contract between the daemon's process runner and the commands that run
 * inside an image (ifconfig, route, netstat, ping, ...).
 *
 * A command is an async function of its context that resolves to an exit
 * status. It writes text to stdout/stderr as it goes (streamed to the CLI as
 * produced), stops promptly when `signal` aborts (Ctrl-C, kill, image
 * destroyed) and never throws for a user mistake: it prints a one-line error
 * to stderr, naming what was wrong and how to fix it, and returns a non-zero
 * status (64, EX_USAGE, for bad arguments; 1 for failures). A VimageError that
 * escapes is printed as `CMD: message` with status 1.
 */

import type { ImageControl, VnetHandle } from '../lib/control/index.js';

export interface Output {
  write(text: string): void;
  /**
   * Raw bytes (nc and other data movers). Optional: a runner that only
   * carries text leaves it out and callers decode UTF-8 instead.
   */
  writeBytes?(bytes: Uint8Array): void;
  /** Bytes written but not yet taken by the client (absent: unknown); a capture stops reading while it is large. */
  backlog?(): number;
}

export interface CommandContext {
  /** argv[0] is the command name as typed. */
  readonly argv: readonly string[];
  /** The control surface of the image the command runs in. */
  readonly image: ImageControl;
  /** Moving interfaces to and from other images; the only reach beyond this image. */
  readonly vnet: VnetHandle;
  readonly stdout: Output;
  readonly stderr: Output;
  /** Standard input from the CLI; ends when the user closes it. */
  readonly stdin: AsyncIterable<Uint8Array>;
  /** Aborted on Ctrl-C (SIGINT), kill, or when the image is destroyed. */
  readonly signal: AbortSignal;
  /** `vimage --json NAME CMD`: print one JSON document instead of text. */
  readonly json: boolean;
  /** The in-image process id, for commands that print it (ping uses it as ICMP id). */
  readonly pid: number;
  /** This image's part of the daemon's process table, for ps, kill and logs (absent in unit tests that do not need it). */
  readonly procs?: ProcView;
  /**
   * Catch SIGHUP (`kill -HUP PID`): `fn` runs instead of the process being
   * stopped, as a daemon that rereads its configuration wants (inetd).
   */
  readonly onHangup?: (fn: () => void) => void;
}

/** One in-image process as ps shows it. */
export interface ProcInfo {
  pid: number;
  image: string;
  argv: readonly string[];
  /** 'S' sleeping (waiting for I/O or time), 'R' running (this ps), 'Z' exited (detached, log kept). */
  stat: 'S' | 'R' | 'Z';
  detached: boolean;
  startedAt: number;
  cpuMs: number;
  exitStatus: number | null;
  /** A kept command (`vimage -b --restart`), restarted when it exits. */
  kept?: boolean;
  /** A Linux program's process (pid is its host pid), and the uid it runs as. */
  linux?: boolean;
  uid?: number;
}

/** What in-image commands may do with the process table: their own image's processes only. */
export interface ProcView {
  list(): ProcInfo[];
  /** false when there is no such process in this image; 'EPERM' when the caller may not signal it. */
  kill(pid: number, signal: string): boolean | 'EPERM';
  /** The kept output of a detached process, or undefined. */
  log(pid: number): string | undefined;
  /**
   * Run Linux program `argv` in this image as `uid`/`gid` with its stdin,
   * stdout and stderr piped to the caller (inetd's per-connection servers).
   * A string says why not: no vimage-supervisor, or a caller that is not
   * root asking for another user.
   */
  runLinux?(argv: readonly string[], as: { uid: number; gid: number }): LinuxChild | string;
}

/** A Linux program started by runLinux. */
export interface LinuxChild {
  readonly stdin: NodeJS.WritableStream;
  readonly stdout: NodeJS.ReadableStream;
  readonly stderr: NodeJS.ReadableStream;
  /** The supervisor's host pid (the program's own is a child of it). */
  readonly pid: number;
  /** Resolves to the exit status (128 + signal number when killed). */
  readonly done: Promise<number>;
  kill(signal: NodeJS.Signals): void;
}

export type Command = (ctx: CommandContext) => Promise<number>;

export const EX_OK = 0;
export const EX_FAIL = 1;
export const EX_USAGE = 64;
export const EX_NOHOST = 68;
export const EX_UNAVAILABLE = 69;
