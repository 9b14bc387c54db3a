// Every migration, in order. Listed statically (not read from the folder at run time) so the same
// set runs from source in tests and from dist/ in production. Landed migrations are never edited.
import type { Migration } from 'kysely';
import * as m0001 from './0001-foundation.js';
import * as m0002 from './0002-ledger.js';
import * as m0003 from './0003-batches.js';
import * as m0004 from './0004-batch-release.js';
import * as m0005 from './0005-provider-accounts.js';
import * as m0006 from './0006-status-poll.js';
import * as m0007 from './0007-reversals.js';
import * as m0008 from './0008-stale-submitting.js';
import * as m0009 from './0009-payout-retries.js';
import * as m0010 from './0010-orphan-callbacks.js';
import * as m0011 from './0011-callback-trust.js';
import * as m0012 from './0012-audit-log.js';
import * as m0013 from './0013-reconciliation.js';
import * as m0014 from './0014-reconciliation-classes.js';
import * as m0015 from './0015-reconciliation-decisions.js';
import * as m0017 from './0017-reconciliation-float.js';
import * as m0019 from './0019-app-role.js';
import * as m0018 from './0018-erasure.js';
import * as m0020 from './0020-audit-system-events.js';
import * as m0021 from './0021-gsma-batches.js';
import * as m0022 from './0022-statement-lines-by-reference.js';
import * as m0023 from './0023-reconciliation-repay.js';
import * as m0024 from './0024-batch-rejections-operations-indexes.js';
import * as m0025 from './0025-repay-release-on-failure.js';
import * as m0028 from './0028-statement-file-encoding.js';
import * as m0029 from './0029-typed-statement-staging.js';
import * as m0030 from './0030-provider-calls-in-flight.js';
import * as m0031 from './0031-provider-access-tokens.js';

export const migrations: Record<string, Migration> = {
  '0001-foundation': m0001,
  '0002-ledger': m0002,
  '0003-batches': m0003,
  '0004-batch-release': m0004,
  '0005-provider-accounts': m0005,
  '0006-status-poll': m0006,
  '0007-reversals': m0007,
  '0008-stale-submitting': m0008,
  '0009-payout-retries': m0009,
  '0010-orphan-callbacks': m0010,
  '0011-callback-trust': m0011,
  '0012-audit-log': m0012,
  '0013-reconciliation': m0013,
  '0014-reconciliation-classes': m0014,
  '0015-reconciliation-decisions': m0015,
  '0017-reconciliation-float': m0017,
  '0019-app-role': m0019,
  '0018-erasure': m0018,
  '0020-audit-system-events': m0020,
  '0021-gsma-batches': m0021,
  '0022-statement-lines-by-reference': m0022,
  '0023-reconciliation-repay': m0023,
  '0024-batch-rejections-operations-indexes': m0024,
  '0025-repay-release-on-failure': m0025,
  '0028-statement-file-encoding': m0028,
  '0029-typed-statement-staging': m0029,
  '0030-provider-calls-in-flight': m0030,
  '0031-provider-access-tokens': m0031,
};
