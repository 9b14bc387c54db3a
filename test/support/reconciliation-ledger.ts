// A ledger side for reconciliation tests: payouts written straight into the tables, in the
// states, with the provider references and the attempts (through a provider account, at a time)
// that a month of dispatch would leave, so each test owns exactly the ledger it reconciles.
import { randomBytes, randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { Scenario } from './fixtures.js';

export interface LedgerPayout {
  /** The provider's reference of the payout (M-Pesa's receipt), or null when none came back. */
  readonly receipt: string;
  readonly amountMinor: bigint;
  readonly state: 'paid' | 'failed' | 'submitted' | 'reversed';
  readonly accountId: string;
  /** When the ledger moved it to its state (a payout_transitions row); default 3 May 2026. */
  readonly paidAt?: Date;
  /** When its attempt went to the provider; default now. */
  readonly attemptAt?: Date;
  readonly currency?: string;
  readonly provider?: string;
  /** No provider reference stored (a lost callback). */
  readonly noReference?: boolean;
  /** The attempt's key (what MoMo echoes as externalId); default a fresh UUID. */
  readonly idempotencyKey?: string;
}

/** One completed batch of payouts; their ids by receipt. */
export async function insertPayouts(pool: pg.Pool, s: Scenario, payouts: readonly LedgerPayout[]): Promise<Map<string, string>> {
  const batchId = randomUUID();
  const total = payouts.reduce((t, p) => t + p.amountMinor, 0n);
  const currency = payouts[0]?.currency ?? 'KES';
  await pool.query(
    `INSERT INTO batches (id, organisation_id, programme_id, currency, state, payout_count, total_minor, payload_enc, payload_sha256, signatures, maker_kid, document_created_at, expires_at)
     VALUES ($1, $2, $3, $7, 'completed', $4, $5, '\\x00', '\\x00', '[]', $6, now(), now() + interval '1 day')`,
    [batchId, s.organisationId, s.programmeId, payouts.length, total.toString(), s.maker.kid, currency],
  );
  const ids = new Map<string, string>();
  for (const [i, p] of payouts.entries()) {
    const id = randomUUID();
    ids.set(p.receipt, id);
    await pool.query(
      `INSERT INTO payouts (id, batch_id, row_no, ref, provider, currency, amount_minor, msisdn_enc, msisdn_hash, state, provider_reference, attempt_count)
       VALUES ($1, $2, $3, $4, $8, $7, $5, '\\x00', '\\x00', $6, $9, 1)`,
      [id, batchId, i, `ref-${p.receipt}`, p.amountMinor.toString(), p.state, p.currency ?? currency, p.provider ?? 'mpesa', p.noReference ? null : p.receipt],
    );
    await pool.query(
      `INSERT INTO payout_attempts (payout_id, attempt_no, idempotency_key, callback_token_sha256, outcome, account_id, created_at) VALUES ($1, 1, $2, $3, 'accepted', $4, $5)`,
      [id, p.idempotencyKey ?? randomUUID(), randomBytes(32), p.accountId, p.attemptAt ?? new Date()],
    );
    if (p.state !== 'submitted') {
      await pool.query(`INSERT INTO payout_transitions (payout_id, from_state, to_state, cause, at) VALUES ($1, 'submitted', $2, 'test', $3)`,
        [id, p.state, p.paidAt ?? new Date('2026-05-03T12:00:00Z')]);
    }
  }
  return ids;
}
