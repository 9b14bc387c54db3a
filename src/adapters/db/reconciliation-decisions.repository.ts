// Reconciliation decisions' storage (migration 0015), inside the caller's transaction: the live
// decision of an exception, the insert (the unique index answers a race with a conflict), the one
// move of an awaiting decision, and the reads.
import { sql } from 'kysely';
import type { ReconciliationDecision, ReconciliationDecisionRepo } from '../../application/ports.js';
import type { DbOrTx } from './database.js';

interface DecisionRow {
  id: string; statement_id: string; item_id: string; organisation_id: string; action: ReconciliationDecision['action']; comment: string;
  amount_minor: string; state: ReconciliationDecision['state']; decided_by: string; decided_at: Date; checked_by: string | null; checked_at: Date | null;
  check_comment: string | null;
}

const columns = sql.raw('id, statement_id, item_id, organisation_id, action, comment, amount_minor::text, state, decided_by, decided_at, checked_by, checked_at, check_comment');

const toDecision = (r: DecisionRow): ReconciliationDecision => ({
  decisionId: r.id, statementId: r.statement_id, itemId: r.item_id, organisationId: r.organisation_id, action: r.action, comment: r.comment,
  amountMinor: BigInt(r.amount_minor), state: r.state, decidedBy: r.decided_by, decidedAt: r.decided_at, checkedBy: r.checked_by, checkedAt: r.checked_at,
  checkComment: r.check_comment,
});

export function reconciliationDecisionRepository(db: DbOrTx): ReconciliationDecisionRepo {
  return {
    async insert(d) {
      const { rows } = await sql<{ id: string }>`
        INSERT INTO reconciliation_decisions (id, statement_id, item_id, organisation_id, action, comment, amount_minor, state, decided_by, request_id)
        VALUES (${d.decisionId}, ${d.statementId}, ${d.itemId}, ${d.organisationId}, ${d.action}, ${d.comment}, ${d.amountMinor.toString()}, ${d.state}, ${d.decidedBy}, ${d.requestId})
        ON CONFLICT (statement_id, item_id) WHERE state <> 'rejected' DO NOTHING
        RETURNING id`.execute(db);
      return rows.length === 1;
    },
    async live(statementId, itemId) {
      const { rows } = await sql<DecisionRow>`SELECT ${columns} FROM reconciliation_decisions
        WHERE statement_id = ${statementId} AND item_id = ${itemId} AND state <> 'rejected'`.execute(db);
      return rows[0] ? toDecision(rows[0]) : null;
    },
    async lock(decisionId) {
      const { rows } = await sql<DecisionRow>`SELECT ${columns} FROM reconciliation_decisions WHERE id = ${decisionId} FOR UPDATE`.execute(db);
      return rows[0] ? toDecision(rows[0]) : null;
    },
    async check(decisionId, state, checkedBy, comment) {
      await sql`UPDATE reconciliation_decisions SET state = ${state}, checked_by = ${checkedBy}, checked_at = now(), check_comment = ${comment}
        WHERE id = ${decisionId} AND state = 'awaiting_approval'`.execute(db);
    },
    async ofStatement(statementId) {
      const { rows } = await sql<DecisionRow>`SELECT ${columns} FROM reconciliation_decisions WHERE statement_id = ${statementId} ORDER BY decided_at, id`.execute(db);
      return rows.map(toDecision);
    },
  };
}
