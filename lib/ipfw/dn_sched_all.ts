/** The scheduler types `sched N config type T` knows (FreeBSD's loaded dn_sched modules). */

import type { DnSchedType } from './dn_private.js';
import { FIFO } from './dn_sched_fifo.js';
import { FQ_CODEL } from './dn_sched_fq_codel.js';
import { FQ_PIE } from './dn_sched_fq_pie.js';
import { PRIO } from './dn_sched_prio.js';
import { QFQ } from './dn_sched_qfq.js';
import { RR } from './dn_sched_rr.js';
import { WF2Q } from './dn_sched_wf2q.js';

export { FIFO, WF2Q };

const TYPES: ReadonlyMap<string, DnSchedType> = new Map([
  ['fifo', FIFO],
  ['wf2q+', WF2Q],
  ['wf2q', WF2Q],
  ['rr', RR],
  ['qfq', QFQ],
  ['prio', PRIO],
  ['fq_codel', FQ_CODEL],
  ['fq_pie', FQ_PIE],
]);

/** The type named `name` (case-insensitive, as FreeBSD's find_sched_type), or undefined. */
export function schedType(name: string): DnSchedType | undefined {
  return TYPES.get(name.toLowerCase());
}

export const SCHED_TYPE_NAMES = ['fifo', 'wf2q+', 'rr', 'qfq', 'prio', 'fq_codel', 'fq_pie'];
