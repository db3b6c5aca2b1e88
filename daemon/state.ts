/**
 * The state file: the registry's configuration (lib/config.ts) saved after
 * every change and restored at start.
 *
 * Writes are atomic: a temporary file is written and fsynced, the previous
 * good state is kept as `state.json.prev`, the temporary file is renamed
 * over `state.json` and the directory is fsynced, so a crash at any point
 * leaves a whole file behind. A state file that cannot be read or parsed is
 * moved aside (`state.json.corrupt-TIMESTAMP`) with an error log line, and
 * the daemon restores the previous good state instead; it never starts
 * silently with nothing.
 */

import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync, existsSync, copyFileSync } from 'node:fs';
import path from 'node:path';
import { applyConfig, exportConfig, validateConfig, type ApplyReport, type ConfigDocument } from '../lib/config.js';
import type { Registry } from '../lib/image.js';
import type { Logger } from '../lib/log.js';

export const STATE_FILE = 'state.json';

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

export class StateStore {
  readonly file: string;
  private last = '';
  private failing = false;

  constructor(
    readonly dir: string,
    private readonly registry: Registry,
    private readonly log: Logger,
  ) {
    this.file = path.join(dir, STATE_FILE);
  }

  private pending: Promise<void> | null = null;

  /**
   * Save soon: changes that arrive together (many clients at once) share
   * one write. Resolves once the state is on disk (or the write failed and
   * was logged).
   */
  commit(): Promise<void> {
    if (this.pending === null) {
      this.pending = new Promise((resolve) => {
        setImmediate(() => {
          this.pending = null;
          this.save();
          resolve();
        });
      });
    }
    return this.pending;
  }

  /** Save now if the configuration changed since the last save. Never throws. */
  save(): boolean {
    let text: string;
    try {
      text = JSON.stringify(exportConfig(this.registry), null, 2) + '\n';
    } catch (e) {
      this.log.error({ err: e }, 'cannot export the configuration');
      return false;
    }
    if (text === this.last) return false;
    try {
      if (this.last !== '' && existsSync(this.file)) copyFileSync(this.file, `${this.file}.prev`);
      writeAtomic(this.file, text);
      this.last = text;
      if (this.failing) this.log.info({ file: this.file }, 'state saved again');
      this.failing = false;
      return true;
    } catch (e) {
      // Logged once per failing streak: the next change tries again.
      if (!this.failing) this.log.error({ err: (e as Error).message, file: this.file }, 'cannot save state; changes will be lost at restart until this is fixed');
      this.failing = true;
      return false;
    }
  }

  private read(file: string): ConfigDocument {
    return validateConfig(JSON.parse(readFileSync(file, 'utf8')));
  }

  /** Restore at start. Returns what was applied, or null when there was no state. */
  restore(): ApplyReport | null {
    if (!existsSync(this.file)) {
      if (!existsSync(`${this.file}.prev`)) return null;
    }
    let doc: ConfigDocument | null = null;
    if (existsSync(this.file)) {
      try {
        doc = this.read(this.file);
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
        doc = this.read(`${this.file}.prev`);
        this.log.warn({ file: `${this.file}.prev` }, 'restoring the previous good state');
      } catch (e) {
        this.log.error({ err: (e as Error).message }, 'no usable previous state either; starting with the default image only');
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
    if (report.errors.length > 0 && existsSync(this.file)) {
      // The next save writes only what is live; keep the full document too.
      const keep = `${this.file}.partial-restore-${new Date().toISOString().replace(/[:.]/g, '-')}`;
      copyFileSync(this.file, keep);
      this.log.warn({ keptAs: keep }, 'some items could not be restored; the full saved configuration is kept');
    }
    this.log.info({ applied: report.applied, failed: report.errors.length, images: doc.images.length }, 'state restored');
    // What is live now is the baseline; save it so the file matches.
    this.save();
    return report;
  }
}
