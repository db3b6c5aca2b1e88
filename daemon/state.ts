/**
 * The state: the registry's configuration (lib/config.ts) saved after every
 * change and restored at start, at a cost per change that does not grow
 * with the number of images.
 *
 * Two files in the state directory:
 *
 * - `state.json`, the snapshot: `{"version", "journal": G, "images": [...]}`,
 *   one image a line. Written atomically (temporary file, fsync, rename,
 *   fsync of the directory); the one it replaces is kept as
 *   `state.json.prev`.
 * - `state.journal`, the changes since snapshot G: a header line
 *   `{"journal": G}` then one line per changed image, `{"put": IMAGE}` (its
 *   whole configuration) or `{"del": NAME}`. Changes that arrive together
 *   (many clients at once) are appended as one write and one fdatasync,
 *   before the API answers, so a kill -9 at any moment loses nothing that
 *   was acknowledged. Which images changed comes from the registry's
 *   `changed` set (lib/image.ts), so a change costs one image's export.
 *
 * Restoring reads the snapshot and replays the journal of the same
 * generation onto it. A record cut short by a crash (the last line, without
 * its newline) is ignored with a warning; it was never acknowledged. A
 * journal of another generation is left over from a compaction that a crash
 * interrupted after the new snapshot was in place: the snapshot already holds
 * it, and it is ignored.
 *
 * Compaction folds the journal into a new snapshot (generation G+1), then
 * moves the journal to `state.journal.prev` and starts an empty one. It runs
 * when the journal outgrows the snapshot (so its cost per change stays
 * constant), when the daemon has been idle for a while, at every commit
 * while the snapshot is small (a few dozen images: the file a person reads
 * is then always current), at start and at shutdown.
 *
 * A snapshot that cannot be read or parsed is moved aside
 * (`state.json.corrupt-TIMESTAMP`) with an error log line, and the daemon
 * restores `state.json.prev` with the journals of its generation and the
 * next; it never starts silently with nothing.
 */

import { closeSync, copyFileSync, existsSync, fdatasync, fdatasyncSync, fsyncSync, openSync, readFileSync, renameSync, write, writeSync } from 'node:fs';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { applyConfig, CONFIG_VERSION, exportImageConfig, validateConfig, type ApplyReport, type ConfigDocument } from '../lib/config.js';
import type { Registry } from '../lib/image.js';
import type { Logger } from '../lib/log.js';

export const STATE_FILE = 'state.json';
export const JOURNAL_FILE = 'state.journal';

/** Snapshots smaller than this (a few dozen images) are rewritten at every commit (bytes). */
const SMALL_SNAPSHOT = 4 * 1024;
/** The journal is folded in once it is larger than the snapshot and than this (bytes). */
const JOURNAL_MIN = 1024 * 1024;
/** Idle compaction: this long after the last commit, and at least IDLE_FACTOR times the last compaction's duration. */
const IDLE_MS = 250;
const IDLE_FACTOR = 20;

function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Write `text` to `file` atomically (temporary file, fsync, rename, fsync of the directory). */
export function writeAtomic(file: string, text: string): void {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.tmp`);
  const fd = openSync(tmp, 'w', 0o640);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  fsyncDir(dir);
}

/** What replaying a journal did. */
export interface Replay {
  /** Records applied. */
  records: number;
  /** The journal belongs to another snapshot generation and was not applied. */
  stale: boolean;
  /** Why replay stopped early (a torn last record, or a corrupt line), if it did. */
  problem?: string;
}

/**
 * Apply journal `text` of generation `gen` to `images` (name to saved
 * configuration, in order). A line without its newline at the end is a
 * record a crash cut short: ignored. A line that is not a record stops the
 * replay there (what follows cannot be trusted to apply in order).
 */
export function replayJournal(images: Map<string, unknown>, text: string, gen: number): Replay {
  const lines = text.split('\n');
  const tail = lines.pop()!;
  const out: Replay = { records: 0, stale: false };
  if (tail !== '') out.problem = `the last record (${tail.length} bytes) is cut short, from a crash while it was written; ignored`;
  if (lines.length === 0) return out;
  let head: unknown;
  try {
    head = JSON.parse(lines[0]!);
  } catch {
    head = null;
  }
  const hgen = (head as { journal?: unknown } | null)?.journal;
  if (typeof hgen !== 'number') return { records: 0, stale: false, problem: 'the journal has no header line; ignored' };
  if (hgen !== gen) return { records: 0, stale: true };
  for (let i = 1; i < lines.length; i++) {
    let rec: { put?: { name?: unknown }; del?: unknown };
    try {
      rec = JSON.parse(lines[i]!) as typeof rec;
    } catch {
      return { ...out, problem: `line ${i + 1} of the journal is not a record; it and the ${lines.length - 1 - i} after it are ignored` };
    }
    if (typeof rec.del === 'string') images.delete(rec.del);
    else if (rec.put !== undefined && typeof rec.put === 'object' && rec.put !== null && typeof rec.put.name === 'string') images.set(rec.put.name, rec.put);
    else return { ...out, problem: `line ${i + 1} of the journal is not a record; it and the ${lines.length - 1 - i} after it are ignored` };
    out.records++;
  }
  return out;
}

function digest(text: string): string {
  return createHash('sha1').update(text).digest('base64');
}

export class StateStore {
  readonly file: string;
  readonly journalFile: string;
  /** Generation of the snapshot on disk; the journal continues it. */
  private gen = 0;
  /** The journal, open for appending; null until a snapshot of the live state is on disk. */
  private fd: number | null = null;
  private journalBytes = 0;
  private snapshotBytes = 0;
  /** Digest of each image's configuration as saved (snapshot or journal). */
  private readonly saved = new Map<string, string>();
  private failing = false;
  private idleTimer: NodeJS.Timeout | null = null;
  private lastCompactMs = 0;
  /** The batch being gathered: changes made from now on are in it; resolves once it is on disk. */
  private next: { promise: Promise<void>; resolve: () => void } | null = null;
  /** A batch is being written (the event loop carries on meanwhile). */
  private writing = false;

  constructor(
    readonly dir: string,
    private readonly registry: Registry,
    private readonly log: Logger,
  ) {
    this.file = path.join(dir, STATE_FILE);
    this.journalFile = path.join(dir, JOURNAL_FILE);
  }

  /**
   * Save soon: changes that arrive together (many clients at once) share
   * one write. Resolves once they are on disk (or the write failed and was
   * logged).
   */
  commit(): Promise<void> {
    if (this.next === null) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      this.next = { promise, resolve };
      // Group commit: while one batch is being written, the next one gathers.
      if (!this.writing) setImmediate(() => void this.writeBatch());
    }
    return this.next.promise;
  }

  private async writeBatch(): Promise<void> {
    const batch = this.next;
    this.next = null;
    if (batch === null) return;
    this.writing = true;
    try {
      const text = this.fd === null ? null : this.prepare();
      if (this.fd === null) this.save();
      else if (text !== null) await this.append(this.fd, text);
    } finally {
      this.writing = false;
      batch.resolve();
      if (this.next !== null) setImmediate(() => void this.writeBatch());
    }
  }

  /** Write and fdatasync `text` at the end of the journal without blocking the event loop. */
  private append(fd: number, text: string): Promise<void> {
    return new Promise((resolve) => {
      const done = (e: NodeJS.ErrnoException | null): void => {
        if (e !== null) {
          // A compaction may have replaced the journal meanwhile (it holds this batch too).
          if (this.fd === fd) {
            this.broken(e);
            this.closeJournal();
          }
        } else if (this.fd === fd) this.written(Buffer.byteLength(text));
        resolve();
      };
      write(fd, text, null, 'utf8', (e) => (e !== null ? done(e) : fdatasync(fd, done)));
    });
  }

  /**
   * Save what changed since the last save: one journal record per changed
   * image, one write and one fdatasync for all of them. Never throws.
   * Returns whether anything was written.
   */
  flush(): boolean {
    if (this.fd === null) return this.save();
    const batch = this.prepare();
    if (batch === null) return false;
    try {
      writeSync(this.fd, batch);
      fdatasyncSync(this.fd);
    } catch (e) {
      this.broken(e);
      // What is on disk no longer matches `saved`: the next commit writes a whole snapshot.
      this.closeJournal();
      return false;
    }
    this.written(Buffer.byteLength(batch));
    return true;
  }

  private written(bytes: number): void {
    this.journalBytes += bytes;
    this.recovered();
    if (this.snapshotBytes < SMALL_SNAPSHOT || this.journalBytes > Math.max(JOURNAL_MIN, this.snapshotBytes)) this.save();
    else this.armIdle();
  }

  /** The journal records of the images changed since the last save, or null when none changed. */
  private prepare(): string | null {
    const lines: string[] = [];
    const names = [...this.registry.changed];
    try {
      for (const name of names) {
        const im = this.registry.get(name);
        if (im === undefined) {
          if (this.saved.delete(name)) lines.push(JSON.stringify({ del: name }));
          continue;
        }
        const text = JSON.stringify(exportImageConfig(this.registry, im));
        const d = digest(text);
        if (this.saved.get(name) === d) continue;
        this.saved.set(name, d);
        lines.push(`{"put":${text}}`);
      }
    } catch (e) {
      this.log.error({ err: e }, 'cannot export the configuration');
      return null;
    } finally {
      this.registry.changed.clear(); // exporting touched them again
    }
    return lines.length === 0 ? null : lines.join('\n') + '\n';
  }

  /**
   * Write a snapshot of the whole live state and start a new journal
   * (compaction). Never throws. Returns whether the snapshot was written.
   */
  save(): boolean {
    if (this.idleTimer !== null) {
      clearTimeout(this.idleTimer);
      this.idleTimer = null;
    }
    const t0 = performance.now();
    const digests = new Map<string, string>();
    const parts: string[] = [];
    try {
      for (const im of this.registry.list()) {
        const text = JSON.stringify(exportImageConfig(this.registry, im));
        digests.set(im.name, digest(text));
        parts.push(text);
      }
    } catch (e) {
      this.log.error({ err: e }, 'cannot export the configuration');
      return false;
    } finally {
      this.registry.changed.clear();
    }
    const gen = this.gen + 1;
    const snapshot = `{"version":${CONFIG_VERSION},"journal":${gen},"images":[\n${parts.join(',\n')}\n]}\n`;
    try {
      if (existsSync(this.file)) copyFileSync(this.file, `${this.file}.prev`);
      writeAtomic(this.file, snapshot);
      this.gen = gen;
      this.closeJournal();
      // The old journal is the one that continues state.json.prev.
      if (existsSync(this.journalFile)) renameSync(this.journalFile, `${this.journalFile}.prev`);
      const header = `{"journal":${gen}}\n`;
      writeAtomic(this.journalFile, header);
      this.fd = openSync(this.journalFile, 'a', 0o640);
      this.journalBytes = header.length;
      this.snapshotBytes = snapshot.length;
      this.saved.clear();
      for (const [k, v] of digests) this.saved.set(k, v);
      this.recovered();
    } catch (e) {
      this.broken(e);
      this.closeJournal();
      return false;
    }
    this.lastCompactMs = performance.now() - t0;
    return true;
  }

  /** Daemon shutdown: a last snapshot, and the journal closed. */
  close(): void {
    this.save();
    this.closeJournal();
  }

  private armIdle(): void {
    if (this.idleTimer !== null) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      this.idleTimer = null;
      if (this.writing || this.next !== null) this.armIdle(); // not idle after all
      else this.save();
    }, Math.max(IDLE_MS, IDLE_FACTOR * this.lastCompactMs));
    this.idleTimer.unref();
  }

  private closeJournal(): void {
    if (this.fd === null) return;
    try {
      closeSync(this.fd);
    } catch {
      // nothing more to lose
    }
    this.fd = null;
  }

  private broken(e: unknown): void {
    // Logged once per failing streak: the next change tries again.
    if (!this.failing) this.log.error({ err: (e as Error).message, dir: this.dir }, 'cannot save state; changes will be lost at restart until this is fixed');
    this.failing = true;
  }

  private recovered(): void {
    if (this.failing) this.log.info({ dir: this.dir }, 'state saved again');
    this.failing = false;
  }

  /** A snapshot and the journals that continue it, as one document. Throws when the snapshot is unreadable. */
  private read(file: string, journals: string[]): ConfigDocument {
    const raw = JSON.parse(readFileSync(file, 'utf8')) as { journal?: unknown; images?: unknown };
    if (typeof raw !== 'object' || raw === null || !Array.isArray(raw.images)) return validateConfig(raw); // throws with the reason
    const gen = typeof raw.journal === 'number' ? raw.journal : 0;
    const images = new Map<string, unknown>();
    for (const ic of raw.images as Array<{ name?: unknown }>) images.set(String(ic?.name), ic);
    // journals[i] continues generation gen + i (state.journal.prev continues state.json.prev).
    journals.forEach((j, i) => {
      if (!existsSync(j)) return;
      const r = replayJournal(images, readFileSync(j, 'utf8'), gen + i);
      if (r.stale) return;
      if (r.problem !== undefined) this.log.warn({ file: j, records: r.records }, r.problem);
      else if (r.records > 0) this.log.info({ file: j, records: r.records }, 'journal replayed');
    });
    this.gen = Math.max(this.gen, gen + journals.length);
    return validateConfig({ ...raw, images: [...images.values()] });
  }

  /** Restore at start. Returns what was applied, or null when there was no state. */
  restore(): ApplyReport | null {
    if (!existsSync(this.file) && !existsSync(`${this.file}.prev`)) {
      this.save();
      return null;
    }
    let doc: ConfigDocument | null = null;
    if (existsSync(this.file)) {
      try {
        doc = this.read(this.file, [this.journalFile]);
      } catch (e) {
        const aside = `${this.file}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`;
        try {
          renameSync(this.file, aside);
        } catch {
          // keep it where it is
        }
        this.log.error({ err: (e as Error).message, keptAs: aside }, 'state file is unreadable or corrupt; kept aside, restoring the previous good state');
      }
    }
    if (doc === null) {
      try {
        doc = this.read(`${this.file}.prev`, [`${this.journalFile}.prev`, this.journalFile]);
        this.log.warn({ file: `${this.file}.prev` }, 'restoring the previous good state');
      } catch (e) {
        this.log.error({ err: (e as Error).message }, 'no usable previous state either; starting with the default image only');
        this.save();
        return { applied: 0, errors: ['no readable state'] };
      }
    }
    let report: ApplyReport;
    try {
      report = applyConfig(this.registry, doc);
    } catch (e) {
      // A shape validateConfig let through: keep what was applied, keep the file, carry on.
      this.log.error({ err: (e as Error).message }, 'restoring the saved configuration stopped early');
      report = { applied: 0, errors: [(e as Error).message] };
    }
    for (const err of report.errors) this.log.error({ err }, 'could not restore an item of the saved configuration');
    if (report.errors.length > 0) {
      // The next save writes only what is live; keep the full document too.
      const keep = `${this.file}.partial-restore-${new Date().toISOString().replace(/[:.]/g, '-')}`;
      writeAtomic(keep, JSON.stringify(doc, null, 2) + '\n');
      this.log.warn({ keptAs: keep }, 'some items could not be restored; the full saved configuration is kept');
    }
    this.log.info({ applied: report.applied, failed: report.errors.length, images: doc.images.length }, 'state restored');
    // What is live now is the baseline: a snapshot of it, and an empty journal.
    this.save();
    return report;
  }
}
