// The Persistence port on Kysely: one SQL transaction per unit of work; an Err result rolls back.
import type pg from 'pg';
import type { Persistence, Repos } from '../../application/ports.js';
import type { Rejection } from '../../domain/errors.js';
import type { Err } from '../../domain/result.js';
import { adminRepository } from './admin.repository.js';
import { auditLogRepository } from './audit-log.repository.js';
import { batchRepository } from './batch.repository.js';
import type { Db, DbOrTx } from './database.js';
import { ledgerAuditRepository, ledgerChainRepository } from './ledger-chain.repository.js';
import { ledgerRepository } from './ledger.repository.js';
import { callbackRepository, resultRepository } from './outbox.repository.js';
import { payoutRepository } from './payout.repository.js';
import { reconciliationDecisionRepository } from './reconciliation-decisions.repository.js';
import { repayRequestRepository } from './repay-requests.repository.js';

const repos = (db: DbOrTx, pool?: pg.Pool): Repos => ({
  reconciliationDecisions: reconciliationDecisionRepository(db),
  repayRequests: repayRequestRepository(db),
  admin: adminRepository(db),
  ledger: ledgerRepository(db, pool),
  batches: batchRepository(db, pool),
  payouts: payoutRepository(db, pool),
  results: resultRepository(db),
  callbacks: callbackRepository(db),
  chain: ledgerChainRepository(db),
  audit: ledgerAuditRepository(db),
  auditLog: auditLogRepository(db),
});

class Rollback extends Error {
  constructor(readonly result: Err<Rejection>) {
    super(`rolled back: ${result.error.code}`);
  }
}

/** `pool`: the pg pool behind `db`, for the one prepared statement of the ledger's hot path (optional). */
export function kyselyPersistence(db: Db, pool?: pg.Pool): Persistence {
  return {
    read: repos(db, pool),
    ledger: ledgerRepository(db, pool),
    snapshot(work) {
      return db.transaction().setIsolationLevel('repeatable read').setAccessMode('read only').execute((trx) => work(repos(trx)));
    },
    async transaction(work) {
      try {
        return await db.transaction().execute(async (trx) => {
          const result = await work(repos(trx));
          if (!result.ok) throw new Rollback(result);
          return result;
        });
      } catch (error) {
        if (error instanceof Rollback) return error.result;
        throw error;
      }
    },
  };
}
