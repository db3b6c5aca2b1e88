/**
 * FQ_PIE (FreeBSD's dn_sched_fq_pie.c): flow queueing with PIE on each
 * sub-queue. `sched N config type fq_pie [target T] [tupdate T] [alpha A]
 * [beta B] [max_burst T] [max_ecnth P] [quantum Q] [limit L] [flows F] ...`.
 */

import type { DnSchedType } from './dn_private.js';
import { Pie } from './dn_aqm_pie.js';
import { fqDefaults, pieDefaults } from './dn_params.js';
import { FqSched } from './dn_sched_fq.js';

export const FQ_PIE: DnSchedType = {
  name: 'FQ_PIE',
  single: true, ownQueues: true,
  create: (si, params) => {
    const c = params.pie ?? pieDefaults();
    return new FqSched(si, params.fq ?? fqDefaults(), () => new Pie(c));
  },
};
