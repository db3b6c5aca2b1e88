/**
 * The figures a bench run measured, for `npm run -s bench -- --json`: every
 * section records each row it prints (the figure, the reference measured in
 * the same run, their ratio, and the goal where the issue set one); with
 * --json the tables go to stderr and one JSON document to stdout at the end.
 * BENCH_JSON=FILE writes the same document to FILE as well.
 */

import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { format } from 'node:util';

/** One measured figure. Higher-is-better unless `lowerIsBetter`. */
export interface Figure {
  /** The section (forwarding, ipfw, bridge, transport, latency, scale, linux). */
  section: string;
  /** The row, as the table prints it. */
  case: string;
  value: number;
  unit: string;
  /** What the figure is compared with, measured in the same run. */
  reference?: { name: string; value: number };
  /** value / reference.value (or the section's own ratio). */
  ratio?: number;
  /** The goal for `ratio` (or for `value` when there is no reference). */
  goal?: number;
  lowerIsBetter?: boolean;
}

const figures: Figure[] = [];

export const jsonMode = process.argv.includes('--json');

export function figure(f: Figure): void {
  figures.push(f);
}

/** With --json, the human tables go to stderr so stdout carries only the document. */
export function startReport(): void {
  if (!jsonMode) return;
  console.log = (...args: unknown[]): void => {
    process.stderr.write(`${format(...args)}\n`);
  };
}

/** The document: when and where it ran, the settings, every figure. */
export function writeReport(settings: Record<string, string | number>): void {
  const file = process.env['BENCH_JSON'];
  if (!jsonMode && file === undefined) return;
  const doc = {
    version: 1,
    date: new Date().toISOString(),
    node: process.version,
    host: { cpus: os.cpus().length, model: os.cpus()[0]?.model ?? '', kernel: os.release(), memoryGiB: Math.round(os.totalmem() / 2 ** 30) },
    settings,
    figures,
  };
  const text = `${JSON.stringify(doc, null, 2)}\n`;
  if (file !== undefined) writeFileSync(file, text);
  if (jsonMode) process.stdout.write(text);
}
