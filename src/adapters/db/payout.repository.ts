import { CompiledQuery, sql, type RawBuilder } from 'kysely';
import type pg from 'pg';
import type { AttemptRecord, NewAttempt, PayoutExceptionKind, PayoutRecord, PayoutRepo, TokenPurpose } from '../../application/ports.js';
import type { CurrencyCode } from '../../domain/currency.js';
import { settledPayoutStates, statusPolledPayoutStates, unsettledPayoutStates, type BatchState, type PayoutState } from '../../domain/payout-state.js';
import type { ProviderId } from '../../domain/providers.js';
import type { DbOrTx } from './database.js';
import { assert } from '../../domain/result.js';
import { blindIndexBytes } from '../crypto/aead.mjs';

/** Exceptions read in one query at most. */
export const exceptionsReadMax = 1_000;
/** Rows per INSERT statement at most (8 array parameters each): bounds one protocol message. */
export const insertChunkRowsMax = 10_000;

const payoutColumns = [
  'p.id', 'p.row_no', 'p.batch_id', 'b.programme_id', 'b.organisation_id', 'p.ref', 'p.provider', 'p.currency', 'p.amount_minor',
  'p.state', 'b.state as batch_state', 'p.attempt_count', 'p.provider_reference', 'p.failure_code', 'p.updated_at',
  'p.dispatch_at', 'p.status_flagged_at',
] as const;

/** payoutColumns as a select list of raw SQL (the statements written out by hand). */
const payoutColumnsSql = payoutColumns.map((c) => c.replace(' as ', ' AS ')).join(', ');

export function selectPayouts(db: DbOrTx) {
  return db.selectFrom('payouts as p').innerJoin('batches as b', 'b.id', 'p.batch_id').select(payoutColumns);
}

type PayoutSelection = Awaited<ReturnType<ReturnType<typeof selectPayouts>['executeTakeFirstOrThrow']>>;

type PayoutViewRow = PayoutSelection & { erased: boolean; exception_kinds: string[] | null; exception_details: string[] | null; exception_result_ids: string[] | null; exception_created_ats: Date[] | null };

/**
 * GET /v1/payouts/{id}'s one statement (one snapshot, one round trip; a prepared statement outside
 * a transaction): the payout as selectPayouts reads it, whether its programme was erased, and its
 * first $2 exceptions, oldest first. $1: the payout id.
 */
const payoutViewSql = `
  SELECT ${payoutColumnsSql},
         EXISTS (SELECT 1 FROM programmes g WHERE g.id = b.programme_id AND g.erased_at IS NOT NULL) AS erased,
         x.kinds AS exception_kinds, x.details AS exception_details, x.result_ids AS exception_result_ids, x.created_ats AS exception_created_ats
  FROM payouts p
  JOIN batches b ON b.id = p.batch_id
  LEFT JOIN LATERAL (
    SELECT array_agg(e1.kind ORDER BY e1.id) AS kinds, array_agg(e1.detail ORDER BY e1.id) AS details,
           array_agg(e1.result_id::text ORDER BY e1.id) AS result_ids, array_agg(e1.created_at ORDER BY e1.id) AS created_ats
    FROM (SELECT e.id, e.kind, e.detail, e.result_id, e.created_at FROM payout_exceptions e WHERE e.payout_id = p.id ORDER BY e.id LIMIT $2) e1
  ) x ON true
  WHERE p.id = $1`;

export const toPayoutRecord = (r: PayoutSelection): PayoutRecord => ({
  id: r.id,
  rowNo: r.row_no,
  batchId: r.batch_id,
  programmeId: r.programme_id,
  organisationId: r.organisation_id,
  ref: r.ref,
  provider: r.provider as ProviderId,
  currency: r.currency as CurrencyCode,
  amountMinor: r.amount_minor,
  state: r.state as PayoutState,
  batchState: r.batch_state as BatchState,
  attemptCount: r.attempt_count,
  providerReference: r.provider_reference,
  failureCode: r.failure_code,
  updatedAt: r.updated_at,
  dispatchAt: r.dispatch_at,
  flaggedAt: r.status_flagged_at,
});

/** `pool` (optional): the same database's pg pool, for the prepared statement of GET /v1/payouts/{id} outside a transaction. */
export function payoutRepository(db: DbOrTx, pool?: pg.Pool): PayoutRepo {
  const insertAttempts = async (attempts: readonly NewAttempt[]) => {
    if (attempts.length === 0) return;
    await db
      .insertInto('payout_attempts')
      .values(attempts.map((a) => ({ payout_id: a.payoutId, attempt_no: a.attemptNo, idempotency_key: a.idempotencyKey, callback_token_sha256: a.callbackTokenSha256, account_id: a.accountId })))
      .execute();
  };
  /**
   * Per token (its SHA-256), in order: what a callback bearing it is about, read in one statement
   * (one snapshot, one round trip for the callbacks of the moment): the attempt it was issued for,
   * when and for what, its payout, and the payout's blind-indexed number; null for a token nobody
   * was given. A payment token wins over a status token of the same hash (never seen: 256 random bits).
   */
  const findCallbackSubjectsByTokens = async (hashes: readonly Buffer[]) => {
    if (hashes.length === 0) return [];
    const rows = await sql<PayoutSelection & { msisdn_hash: Buffer; token: Buffer; purpose: TokenPurpose; token_issued_at: Date; a_payout_id: string; attempt_no: number; idempotency_key: string; account_id: string }>`
      SELECT ${sql.raw(payoutColumnsSql)}, p.msisdn_hash, v.token, v.purpose, v.token_issued_at,
             a.payout_id AS a_payout_id, a.attempt_no, a.idempotency_key, a.account_id
      FROM (
        SELECT a.callback_token_sha256 AS token, 'payment'::text AS purpose, a.created_at AS token_issued_at, a.payout_id, a.attempt_no
        FROM payout_attempts a WHERE a.callback_token_sha256 = ANY(${hashes}::bytea[])
        UNION ALL
        SELECT t.token_sha256, t.purpose, t.created_at, t.payout_id, t.attempt_no
        FROM payout_status_tokens t WHERE t.token_sha256 = ANY(${hashes}::bytea[])
      ) v
      JOIN payout_attempts a ON a.payout_id = v.payout_id AND a.attempt_no = v.attempt_no
      JOIN payouts p ON p.id = a.payout_id
      JOIN batches b ON b.id = p.batch_id
    `.execute(db);
    const found = new Map<string, { attempt: AttemptRecord & { readonly tokenIssuedAt: Date; readonly purpose: TokenPurpose }; payout: PayoutRecord; msisdnHash: Buffer }>();
    for (const row of rows.rows) {
      const key = row.token.toString('hex');
      if (found.get(key)?.attempt.purpose === 'payment') continue;
      const attempt = { ...toAttemptRecord({ payout_id: row.a_payout_id, attempt_no: row.attempt_no, idempotency_key: row.idempotency_key, account_id: row.account_id }), tokenIssuedAt: row.token_issued_at, purpose: row.purpose };
      found.set(key, { attempt, payout: toPayoutRecord(row), msisdnHash: row.msisdn_hash });
    }
    return hashes.map((h) => found.get(h.toString('hex')) ?? null);
  };
  const claimDue = async (predicate: RawBuilder<boolean>, now: Date, limit: number) => {
      const rows = await db
        .selectFrom('payouts as p')
        .innerJoin('payout_attempts as a', (join) => join.onRef('a.payout_id', '=', 'p.id').onRef('a.attempt_no', '=', 'p.attempt_count'))
        .select([
          'p.id', 'p.batch_id', 'p.provider', 'p.currency', 'p.state', 'p.provider_reference', 'p.status_checks',
          'a.attempt_no', 'a.idempotency_key', 'a.account_id', 'a.provider_conversation_id', 'a.reported_failure',
        ])
        .where(predicate)
        .where('p.status_check_at', '<=', now)
        .orderBy('p.status_check_at')
        .limit(limit)
        .modifyEnd(sql`FOR UPDATE OF p SKIP LOCKED`)
        .execute();
      return rows.map((r) => ({
        payoutId: r.id,
        batchId: r.batch_id,
        provider: r.provider as ProviderId,
        currency: r.currency as CurrencyCode,
        state: r.state as PayoutState,
        providerReference: r.provider_reference,
        checks: r.status_checks,
        attempt: { payoutId: r.id, attemptNo: r.attempt_no, idempotencyKey: r.idempotency_key, accountId: r.account_id, conversationId: r.provider_conversation_id, reportedFailure: r.reported_failure },
      }));
  };
  return {
    async insertMany(batchId, currency, state, chunks) {
      // One statement per chunk: each plain column one array parameter, and every sealed value of
      // the chunk in one binary bytea parameter that the statement slices (no hex text either way).
      // The statement for chunk k is sent before chunk k+1 is pulled, so the server writes one chunk
      // while this process produces the next (validation, sealing: see the caller).
      let inserted = 0;
      let writing: Promise<unknown> | null = null;
      for await (const chunk of chunks) {
        if (writing) await writing;
        const n = chunk.ids.length;
        if (n === 0) continue;
        assert(n <= insertChunkRowsMax && chunk.rows.length === n && chunk.sealed.spans.length === n * 3, `a payout chunk has at most ${insertChunkRowsMax} rows, each sealed`);
        const at: number[] = new Array(n);
        const msisdnLen: number[] = new Array(n);
        const nameLen: (number | null)[] = new Array(n);
        for (let i = 0; i < n; i++) {
          at[i] = chunk.sealed.spans[i * 3]! + 1; // SQL substring counts from 1
          msisdnLen[i] = chunk.sealed.spans[i * 3 + 1]!;
          const name = chunk.sealed.spans[i * 3 + 2]!;
          nameLen[i] = name < 0 ? null : name;
        }
        writing = sql`
          INSERT INTO payouts (id, batch_id, row_no, ref, provider, currency, amount_minor, msisdn_enc, msisdn_hash, name_enc, state)
          SELECT u.id, ${batchId}::uuid, u.row_no, u.ref, u.provider, ${currency}, u.amount_minor,
                 substring(s.bytes FROM u.at FOR u.msisdn_len),
                 substring(s.bytes FROM u.at + u.msisdn_len FOR ${blindIndexBytes}),
                 substring(s.bytes FROM u.at + u.msisdn_len + ${blindIndexBytes} FOR u.name_len),
                 ${state}
          FROM (SELECT ${chunk.sealed.bytes}::bytea AS bytes) AS s,
               unnest(${chunk.ids}::uuid[], ${chunk.rows.map((p) => p.rowNo)}::int4[], ${chunk.rows.map((p) => p.ref)}::text[],
                      ${chunk.rows.map((p) => p.provider)}::text[], ${chunk.rows.map((p) => p.amountMinor.toString())}::int8[],
                      ${at}::int4[], ${msisdnLen}::int4[], ${nameLen}::int4[])
            AS u(id, row_no, ref, provider, amount_minor, at, msisdn_len, name_len)
        `.execute(db);
        writing.catch(() => undefined); // awaited before the next statement or at the end
        inserted += n;
        // Let the statement reach the socket before the next chunk's CPU-bound work starts.
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      if (writing) await writing;
      // No transition row per payout: its first state and when are the row's own (state, created_at).
      return inserted;
    },

    async find(payoutId) {
      const row = await selectPayouts(db).where('p.id', '=', payoutId).executeTakeFirst();
      return row ? toPayoutRecord(row) : null;
    },

    async findMany(payoutIds) {
      if (payoutIds.length === 0) return [];
      const rows = await selectPayouts(db).where('p.id', '=', sql<string>`ANY(${[...new Set(payoutIds)]}::uuid[])`).execute();
      return rows.map(toPayoutRecord);
    },

    async lock(payoutId) {
      // NO KEY UPDATE: we never change a payout's key, and this lock then does not block the
      // key-share locks that inserting its callbacks, attempts and results takes (their foreign keys).
      const row = await selectPayouts(db).where('p.id', '=', payoutId).modifyEnd(sql`FOR NO KEY UPDATE OF p`).executeTakeFirst();
      return row ? toPayoutRecord(row) : null;
    },

    async lockManyWithMsisdn(payoutIds) {
      if (payoutIds.length === 0) return [];
      const ids = [...new Set(payoutIds)].sort();
      const rows = await selectPayouts(db).select('p.msisdn_enc').where('p.id', '=', sql<string>`ANY(${ids}::uuid[])`).orderBy('p.id').modifyEnd(sql`FOR NO KEY UPDATE OF p`).execute();
      return rows.map((row) => ({ payout: toPayoutRecord(row), sealedMsisdn: row.msisdn_enc }));
    },

    async lockMany(payoutIds) {
      if (payoutIds.length === 0) return [];
      const ids = [...new Set(payoutIds)].sort();
      const rows = await selectPayouts(db).where('p.id', '=', sql<string>`ANY(${ids}::uuid[])`).orderBy('p.id').modifyEnd(sql`FOR NO KEY UPDATE OF p`).execute();
      return rows.map(toPayoutRecord);
    },

    async settleMany(moves) {
      if (moves.length === 0) return;
      // Per payout: the first move's starting state, the last move's end state and fields.
      const rows = new Map<string, { from: PayoutState; to: PayoutState; providerReference: string | null; failureCode: string | null }>();
      for (const m of moves) {
        assert(settledPayoutStates.includes(m.to), `settleMany moves into settled states only, not ${m.to}`);
        const seen = rows.get(m.payoutId);
        assert(!seen || seen.to === m.from, `payout ${m.payoutId}: a move from ${m.from} follows one into ${seen?.to}`);
        rows.set(m.payoutId, { from: seen?.from ?? m.from, to: m.to, providerReference: m.providerReference, failureCode: m.failureCode });
      }
      const ids = [...rows.keys()];
      const r = [...rows.values()];
      const result = await sql`
        UPDATE payouts p SET state = v.to_state, provider_reference = v.provider_reference, failure_code = v.failure_code,
               -- Paid while a callback reported its reversal (unconfirmed): the poller asks about it now.
               status_check_at = CASE WHEN v.to_state = 'paid' AND EXISTS (
                 SELECT 1 FROM payout_attempts a WHERE a.payout_id = p.id AND a.reported_failure LIKE 'reversed:%'
               ) THEN now() END,
               updated_at = now()
        FROM unnest(${ids}::uuid[], ${r.map((x) => x.from)}::text[], ${r.map((x) => x.to)}::text[], ${r.map((x) => x.providerReference)}::text[], ${r.map((x) => x.failureCode)}::text[])
             AS v(id, from_state, to_state, provider_reference, failure_code)
        WHERE p.id = v.id AND p.state = v.from_state
      `.execute(db);
      if (result.numAffectedRows !== BigInt(ids.length)) {
        throw new Error(`invariant violated: settling ${ids.length} payouts updated ${result.numAffectedRows}`);
      }
      await sql`
        INSERT INTO payout_transitions (payout_id, from_state, to_state, cause)
        SELECT id, from_state, to_state, cause
        FROM unnest(${moves.map((m) => m.payoutId)}::uuid[], ${moves.map((m) => m.from)}::text[], ${moves.map((m) => m.to)}::text[], ${moves.map((m) => m.cause)}::text[])
             WITH ORDINALITY AS m(id, from_state, to_state, cause, ord)
        ORDER BY ord
      `.execute(db);
    },

    async releaseStaleSubmitting(staleBefore, checkAt, limit, cause) {
      const rows = await sql<{ id: string }>`
        WITH stale AS (
          SELECT id FROM payouts WHERE state = 'submitting' AND updated_at < ${staleBefore}::timestamptz
          ORDER BY updated_at LIMIT ${limit} FOR NO KEY UPDATE SKIP LOCKED
        ), moved AS (
          UPDATE payouts p SET state = 'unknown', status_check_at = ${checkAt}::timestamptz, status_checks = 0, status_flagged_at = NULL, updated_at = now()
          FROM stale WHERE p.id = stale.id AND p.state = 'submitting'
          RETURNING p.id
        ), recorded AS (
          INSERT INTO payout_transitions (payout_id, from_state, to_state, cause) SELECT id, 'submitting', 'unknown', ${cause} FROM moved
        )
        SELECT id FROM moved
      `.execute(db);
      return rows.rows.map((r) => r.id);
    },

    async scheduleRetry(payoutId, from, retry) {
      const result = await db
        .updateTable('payouts')
        .set({
          state: 'queued',
          dispatch_at: retry.dispatchAt,
          status_flagged_at: retry.flaggedAt,
          failure_code: retry.failureCode,
          status_check_at: null,
          updated_at: sql`now()`,
        })
        .where('id', '=', payoutId)
        .where('state', '=', from)
        .executeTakeFirst();
      if (result.numUpdatedRows !== 1n) throw new Error(`invariant violated: scheduling a retry of ${payoutId} from ${from} updated ${result.numUpdatedRows}`);
      await db.insertInto('payout_transitions').values({ payout_id: payoutId, from_state: from, to_state: 'queued', cause: retry.cause }).execute();
    },

    async claimDueRetries(now, limit) {
      const rows = await selectPayouts(db)
        .where('p.state', '=', 'queued')
        .where('p.dispatch_at', 'is not', null)
        .where('p.dispatch_at', '<=', now)
        .orderBy('p.dispatch_at')
        .limit(limit)
        .modifyEnd(sql`FOR UPDATE OF p SKIP LOCKED`)
        .execute();
      return rows.map(toPayoutRecord);
    },

    async redispatchQueued(now) {
      const r = await db
        .updateTable('payouts')
        .set({ dispatch_at: now })
        .where('state', '=', 'queued')
        .where('status_flagged_at', 'is', null)
        // A payout waiting for its next attempt keeps its backoff: the relay publishes it when due.
        .where('dispatch_at', 'is', null)
        .executeTakeFirst();
      return Number(r.numUpdatedRows);
    },

    async clearDispatchAt(payoutIds) {
      if (payoutIds.length === 0) return;
      await db.updateTable('payouts').set({ dispatch_at: null, status_flagged_at: null }).where('id', '=', sql<string>`ANY(${payoutIds}::uuid[])`).where('state', '=', 'queued').execute();
    },

    async claimAccepted(batchId, limit) {
      const rows = await selectPayouts(db)
        .where('p.batch_id', '=', batchId)
        .where('p.state', '=', 'accepted')
        .orderBy('p.row_no')
        .limit(limit)
        .modifyEnd(sql`FOR UPDATE OF p SKIP LOCKED`)
        .execute();
      return rows.map(toPayoutRecord);
    },

    async move(payoutIds, from, to, cause, fields = {}) {
      if (payoutIds.length === 0) return;
      // One statement: the UPDATE and the record of each move it made (a round trip less per move).
      const result = await db
        .with('moved', (qb) =>
          qb
            .updateTable('payouts')
            .set({
          state: to,
          updated_at: sql`now()`,
          ...(fields.providerReference !== undefined ? { provider_reference: fields.providerReference } : {}),
          ...(fields.failureCode !== undefined ? { failure_code: fields.failureCode } : {}),
          ...(fields.attemptCount !== undefined ? { attempt_count: fields.attemptCount } : {}),
          ...statusCheckOnMove(from, to, fields.statusCheckAt, fields.keepStatusChecks ?? false),
          // An attempt starts (or the payout is cancelled): no retry is due, no flag stands any more,
          // and the new attempt's status checks count from zero.
          ...(from === 'queued' ? { dispatch_at: null, status_flagged_at: null, status_checks: 0 } : {}),
            })
            // One array parameter, not a parameter per id (a relay chunk is up to RELAY_CHUNK_MAX ids).
            .where('id', '=', sql<string>`ANY(${payoutIds}::uuid[])`)
            .where('state', '=', from)
            .returning('id'),
        )
        .insertInto('payout_transitions')
        .columns(['payout_id', 'from_state', 'to_state', 'cause'])
        .expression((eb) => eb.selectFrom('moved').select(['moved.id', sql<string>`${from}::text`.as('from_state'), sql<string>`${to}::text`.as('to_state'), sql<string>`${cause}::text`.as('cause')]))
        .executeTakeFirst();
      // A move that finds a payout elsewhere than `from` rolls back with the transaction it is in.
      if (result.numInsertedOrUpdatedRows !== BigInt(payoutIds.length)) {
        throw new Error(`invariant violated: moving ${payoutIds.length} payouts ${from} → ${to} updated ${result.numInsertedOrUpdatedRows}`);
      }
    },

    async hasUnsettled(batchId) {
      // "state IN (the unsettled states)", not "NOT IN (settled)": the (batch_id, state, row_no)
      // index then finds the first such payout at once, instead of reading the whole batch (asked
      // once per settled payout, a count made settling a batch quadratic in its size).
      const row = await db
        .selectFrom('payouts')
        .select('id')
        .where('batch_id', '=', batchId)
        .where('state', 'in', unsettledPayoutStates)
        .limit(1)
        .executeTakeFirst();
      return row !== undefined;
    },

    async sealedMsisdn(payoutId) {
      const row = await db.selectFrom('payouts').select('msisdn_enc').where('id', '=', payoutId).executeTakeFirst();
      return row?.msisdn_enc ?? null;
    },

    insertAttempts,

    async setAttemptOutcomes(outcomes) {
      if (outcomes.length === 0) return;
      await sql`
        UPDATE payout_attempts a SET outcome = v.outcome, provider_conversation_id = v.conversation_id, detail = v.detail, updated_at = now()
        FROM unnest(${outcomes.map((o) => o.payoutId)}::uuid[], ${outcomes.map((o) => o.attemptNo)}::int[], ${outcomes.map((o) => o.outcome)}::text[],
                    ${outcomes.map((o) => o.conversationId)}::text[], ${outcomes.map((o) => o.detail)}::text[])
             AS v(payout_id, attempt_no, outcome, conversation_id, detail)
        WHERE a.payout_id = v.payout_id AND a.attempt_no = v.attempt_no
      `.execute(db);
    },

    async moveAccepted(accepted, fields) {
      if (accepted.length === 0) return;
      // As move() into submitted: the earlier of the given and any set check time (or now), and
      // the checks start over unless asked to keep counting (submitting is not a polled state).
      // test/integration/payout-moves.test.ts holds the two to the same result.
      const resetChecks = !(fields.keepStatusChecks ?? false);
      const result = await sql`
        WITH moved AS (
          UPDATE payouts p SET state = 'submitted', provider_reference = v.provider_reference, updated_at = now(),
                 status_check_at = COALESCE(LEAST(${fields.statusCheckAt ?? null}::timestamptz, p.status_check_at), now()),
                 status_checks = CASE WHEN ${resetChecks}::boolean THEN 0 ELSE p.status_checks END,
                 status_flagged_at = CASE WHEN ${resetChecks}::boolean THEN NULL ELSE p.status_flagged_at END
          FROM unnest(${accepted.map((a) => a.payoutId)}::uuid[], ${accepted.map((a) => a.providerReference)}::text[]) AS v(id, provider_reference)
          WHERE p.id = v.id AND p.state = 'submitting'
          RETURNING p.id
        )
        INSERT INTO payout_transitions (payout_id, from_state, to_state, cause) SELECT id, 'submitting', 'submitted', 'provider accepted' FROM moved
      `.execute(db);
      // A move that finds a payout elsewhere than submitting rolls back with the transaction it is in.
      if (result.numAffectedRows !== BigInt(accepted.length)) {
        throw new Error(`invariant violated: moving ${accepted.length} payouts submitting → submitted moved ${result.numAffectedRows}`);
      }
    },

    findCallbackSubjectsByTokens,

    async countByState() {
      const rows = await db.selectFrom('payouts').select(['state', (eb) => eb.fn.countAll<string>().as('n')]).groupBy('state').execute();
      return rows.map((r) => ({ state: r.state as PayoutState, count: Number(r.n) }));
    },

    async findAttemptByKey(idempotencyKey) {
      const row = await db.selectFrom('payout_attempts').select(attemptColumns).where('idempotency_key', '=', idempotencyKey).executeTakeFirst();
      return row ? toAttemptRecord(row) : null;
    },

    async insertStatusToken(payoutId, attemptNo, tokenSha256, purpose = 'status') {
      await db.insertInto('payout_status_tokens').values({ token_sha256: tokenSha256, payout_id: payoutId, attempt_no: attemptNo, purpose }).execute();
    },

    async insertStatusTokens(tokens) {
      if (tokens.length === 0) return;
      await db
        .insertInto('payout_status_tokens')
        .values(tokens.map((t) => ({ token_sha256: t.tokenSha256, payout_id: t.payoutId, attempt_no: t.attemptNo, purpose: t.purpose ?? 'status' })))
        .execute();
    },

    async msisdnHashes(payoutIds) {
      if (payoutIds.length === 0) return new Map();
      const rows = await db.selectFrom('payouts').select(['id', 'msisdn_hash']).where('id', '=', sql<string>`ANY(${[...new Set(payoutIds)]}::uuid[])`).execute();
      return new Map(rows.map((r) => [r.id, r.msisdn_hash]));
    },

    async attemptAccounts(attempts) {
      if (attempts.length === 0) return new Map();
      const rows = await sql<{ payout_id: string; attempt_no: number; account_id: string }>`
        SELECT a.payout_id, a.attempt_no, a.account_id FROM payout_attempts a
        JOIN unnest(${attempts.map((x) => x.payoutId)}::uuid[], ${attempts.map((x) => x.attemptNo)}::int[]) AS v(payout_id, attempt_no)
          ON a.payout_id = v.payout_id AND a.attempt_no = v.attempt_no
      `.execute(db);
      return new Map(rows.rows.map((r) => [`${r.payout_id}:${r.attempt_no}`, r.account_id]));
    },

    async receiptOwners(receipts) {
      if (receipts.length === 0) return new Map();
      const rows = await sql<{ account_id: string; receipt: string; payout_id: string }>`
        SELECT r.account_id, r.receipt, r.payout_id FROM provider_receipts r
        JOIN unnest(${receipts.map((x) => x.accountId)}::text[], ${receipts.map((x) => x.receipt)}::text[]) AS v(account_id, receipt)
          ON r.account_id = v.account_id AND r.receipt = v.receipt
      `.execute(db);
      return new Map(rows.rows.map((r) => [`${r.account_id}\u0000${r.receipt}`, r.payout_id]));
    },

    async claimReceipts(receipts) {
      if (receipts.length === 0) return;
      const rows = await sql<{ payout_id: string; claimed: string }>`
        WITH v AS (
          SELECT * FROM unnest(${receipts.map((x) => x.accountId)}::text[], ${receipts.map((x) => x.receipt)}::text[], ${receipts.map((x) => x.payoutId)}::uuid[]) AS v(account_id, receipt, payout_id)
        ), inserted AS (
          INSERT INTO provider_receipts (account_id, receipt, payout_id) SELECT account_id, receipt, payout_id FROM v
          ON CONFLICT (account_id, receipt) DO NOTHING
          RETURNING account_id, receipt
        )
        SELECT v.payout_id, r.payout_id AS claimed FROM v
        LEFT JOIN inserted i ON i.account_id = v.account_id AND i.receipt = v.receipt
        LEFT JOIN provider_receipts r ON r.account_id = v.account_id AND r.receipt = v.receipt
        WHERE i.receipt IS NULL
      `.execute(db);
      // Not inserted: there before this statement. The same payout's receipt again is no conflict.
      const taken = rows.rows.filter((r) => r.claimed !== r.payout_id);
      if (taken.length > 0) throw new Error(`a provider receipt settled another payout meanwhile (${taken.length}): the chunk is retried`);
    },

    async insertExceptions(exceptions) {
      if (exceptions.length === 0) return;
      await db
        .insertInto('payout_exceptions')
        .values(exceptions.map((e) => ({ payout_id: e.payoutId, kind: e.kind, detail: e.detail.slice(0, 1000), result_id: e.resultId })))
        .onConflict((oc) => oc.columns(['result_id', 'kind']).doNothing())
        .execute();
    },

    async exceptionsOf(payoutIds) {
      if (payoutIds.length === 0) return [];
      const rows = await db
        .selectFrom('payout_exceptions')
        .select(['payout_id', 'kind', 'detail', 'result_id', 'created_at'])
        .where('payout_id', '=', sql<string>`ANY(${[...new Set(payoutIds)]}::uuid[])`)
        .orderBy('id')
        .limit(exceptionsReadMax)
        .execute();
      return rows.map((r) => ({ payoutId: r.payout_id, kind: r.kind as PayoutExceptionKind, detail: r.detail, resultId: r.result_id, createdAt: r.created_at }));
    },

    async findView(payoutId, exceptionsMax) {
      const max = Math.min(Math.max(0, Math.trunc(exceptionsMax)), exceptionsReadMax);
      const r = pool && !db.isTransaction
        ? await pool.query<PayoutViewRow>({ name: 'tuma_payout_view_v1', text: payoutViewSql, values: [payoutId, max] })
        : await db.executeQuery<PayoutViewRow>(CompiledQuery.raw(payoutViewSql, [payoutId, max]));
      const row = r.rows[0];
      if (!row) return null;
      const kinds = row.exception_kinds ?? [];
      return {
        payout: toPayoutRecord(row),
        exceptions: kinds.map((kind, i) => ({ payoutId: row.id, kind: kind as PayoutExceptionKind, detail: row.exception_details![i]!, resultId: row.exception_result_ids![i]!, createdAt: row.exception_created_ats![i]! })),
        erased: row.erased,
      };
    },

    async listHeld(after, limit) {
      // The predicate and order of the partial index payouts_held; the cursor in whole microseconds
      // (a JS Date has milliseconds only: a cursor in them would return the last row again).
      const micros = sql<string>`(extract(epoch FROM p.updated_at) * 1000000)::bigint`;
      let q = selectPayouts(db).select(micros.as('updated_us')).where(sql<boolean>`p.state = 'held'`);
      if (after) q = q.where(sql<boolean>`(${micros}, p.id) > (${after.micros.toString()}::bigint, ${after.id}::uuid)`);
      const rows = await q.orderBy('p.updated_at').orderBy('p.id').limit(limit).execute();
      return rows.map((r) => ({ payout: toPayoutRecord(r), cursor: `${r.updated_us}:${r.id}` }));
    },

    async recordReportedFailures(reports) {
      if (reports.length === 0) return;
      await sql`
        UPDATE payout_attempts a SET reported_failure = v.reason
        FROM unnest(${reports.map((r) => r.payoutId)}::uuid[], ${reports.map((r) => r.attemptNo)}::int[], ${reports.map((r) => r.reasonCode.slice(0, 100))}::text[]) AS v(payout_id, attempt_no, reason)
        WHERE a.payout_id = v.payout_id AND a.attempt_no = v.attempt_no
      `.execute(db);
    },

    async reportedFailure(payoutId, attemptNo) {
      const row = await db.selectFrom('payout_attempts').select('reported_failure').where('payout_id', '=', payoutId).where('attempt_no', '=', attemptNo).executeTakeFirst();
      return row?.reported_failure ?? null;
    },

    async makeStatusChecksDue(payoutIds, at, paidToo = false) {
      if (payoutIds.length === 0) return;
      // LEAST ignores a null: an unscheduled (flagged) payout becomes due at `at` too. A payout
      // still submitting keeps the time until the worker's move into submitted or unknown.
      await sql`
        UPDATE payouts p SET status_check_at = LEAST(p.status_check_at, ${at}::timestamptz)
        FROM (SELECT id FROM payouts WHERE id = ANY(${[...new Set(payoutIds)]}::uuid[]) ORDER BY id FOR NO KEY UPDATE) l
        WHERE p.id = l.id AND (p.state IN ('submitting', 'submitted', 'unknown') OR (${paidToo}::boolean AND p.state = 'paid'))
      `.execute(db);
    },

    async payoutsOfProviderBatch(batchKey) {
      const { rows } = await sql<{ known: boolean; payout_ids: string[] | null }>`
        SELECT EXISTS (SELECT 1 FROM gsma_batches WHERE batch_key = ${batchKey}::uuid) AS known,
          (SELECT array_agg(DISTINCT a.payout_id) FROM gsma_batch_items i JOIN payout_attempts a ON a.idempotency_key = i.item_key::text
           WHERE i.batch_key = ${batchKey}::uuid) AS payout_ids`.execute(db);
      const r = rows[0];
      return r?.known ? (r.payout_ids ?? []) : null;
    },

    async claimDueStatusChecks(now, limit) {
      // Literally the partial index's predicate (payouts_status_due), so the planner can use it.
      return claimDue(sql<boolean>`p.state IN ('submitted', 'unknown')`, now, limit);
    },

    async claimDueReversalChecks(now, limit) {
      // The predicate of payouts_reversal_due.
      return claimDue(sql<boolean>`p.state = 'paid' AND p.status_check_at IS NOT NULL`, now, limit);
    },

    async setStatusCheck(payoutId, update) {
      await db
        .updateTable('payouts')
        .set({
          status_check_at: update.at,
          ...(update.checks !== undefined ? { status_checks: update.checks } : {}),
          ...(update.flaggedAt !== undefined ? { status_flagged_at: update.flaggedAt } : {}),
        })
        .where('id', '=', payoutId)
        .execute();
    },

    async setStatusChecks(updates) {
      if (updates.length === 0) return;
      await sql`
        UPDATE payouts p SET status_check_at = v.at, status_checks = v.checks
        FROM unnest(${updates.map((u) => u.payoutId)}::uuid[], ${updates.map((u) => u.at?.toISOString() ?? null)}::timestamptz[], ${updates.map((u) => u.checks)}::int[]) AS v(id, at, checks)
        WHERE p.id = v.id
      `.execute(db);
    },

    async unscheduleStatusChecks(payoutIds) {
      if (payoutIds.length === 0) return;
      // Rows locked in id order first, as every transaction that locks several payouts does: no deadlock.
      await sql`
        UPDATE payouts p SET status_check_at = NULL
        FROM (SELECT id FROM payouts WHERE id = ANY(${[...new Set(payoutIds)]}::uuid[]) ORDER BY id FOR NO KEY UPDATE) l
        WHERE p.id = l.id
      `.execute(db);
    },

    async restartStatusChecks(payoutId, at) {
      const updated = await db
        .updateTable('payouts')
        .set({ status_check_at: at, status_checks: 0, status_flagged_at: null })
        .where('id', '=', payoutId)
        .where('state', 'in', [...statusPolledPayoutStates])
        .returning('id')
        .executeTakeFirst();
      return updated !== undefined;
    },
  };
}


const attemptColumns = ['payout_id', 'attempt_no', 'idempotency_key', 'account_id'] as const;

const toAttemptRecord = (row: { payout_id: string; attempt_no: number; idempotency_key: string; account_id: string }) => ({
  payoutId: row.payout_id,
  attemptNo: row.attempt_no,
  idempotencyKey: row.idempotency_key,
  accountId: row.account_id,
});

/**
 * What a move does to the status poller's schedule. Into submitted or unknown: the requested first
 * check, or an earlier one already set (an unconfirmed callback asked for one), or at once when
 * neither is set, so that no payout waiting for its outcome is ever left unscheduled; coming from
 * outside those states, the count of checks and the operators' flag start afresh. Settling
 * unschedules. Other moves (queued, submitting) leave it as it is.
 */
function statusCheckOnMove(from: PayoutState, to: PayoutState, statusCheckAt: Date | undefined, keepStatusChecks: boolean) {
  if (statusPolledPayoutStates.includes(to)) {
    return {
      status_check_at: sql<Date>`COALESCE(LEAST(${statusCheckAt ?? null}::timestamptz, status_check_at), now())`,
      ...(statusPolledPayoutStates.includes(from) || keepStatusChecks ? {} : { status_checks: 0, status_flagged_at: null }),
    };
  }
  // Held for finance: nothing is asked any more; finance decides.
  return settledPayoutStates.includes(to) || to === 'held' ? { status_check_at: null } : {};
}
