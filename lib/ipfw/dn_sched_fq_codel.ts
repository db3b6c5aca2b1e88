/**
 * FQ_CODEL (RFC 8290; FreeBSD's dn_sched_fq_codel.c): flow queueing with
 * CoDel on each sub-queue. `sched N config type fq_codel [target T]
 * [interval I] [quantum Q] [limit L] [flows F] [ecn|noecn]`.
 */

import type { DnSchedType } from './dn_private.js';
import { Codel } from './dn_aqm_codel.js';
import { codelDefaults, fqDefaults } from './dn_params.js';
import { FqSched } from './dn_sched_fq.js';

export const FQ_CODEL: DnSchedType = {
  name: 'FQ_CODEL',
  single: true, ownQueues: true,
  create: (si, params) => {
    const c = params.codel ?? codelDefaults();
    return new FqSched(si, params.fq ?? fqDefaults(), () => new Codel(c));
  },
};
