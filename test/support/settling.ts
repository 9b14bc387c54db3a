// Waiting for payouts run through the engine to settle, and for statement periods to close: the
// shared versions of what some end-to-end tests do each on their own.
import { sql } from 'kysely';
import type { Db } from '../../src/adapters/db/database.js';

export interface PayoutEnd {
  readonly id: string;
  readonly state: string;
  /** payouts.status_flagged_at is set: left for operators. */
  readonly flagged: boolean;
}

/** Terminal, held, or flagged for operators: nothing more happens to it by itself. */
export const settled = (p: PayoutEnd): boolean => ['paid', 'failed', 'cancelled', 'reversed', 'held'].includes(p.state) || p.flagged;

export async function payoutEnds(db: Db, ids: readonly string[]): Promise<PayoutEnd[]> {
  const { rows } = await sql<PayoutEnd>`
    SELECT id::text AS id, state, status_flagged_at IS NOT NULL AS flagged FROM payouts WHERE id = ANY(${ids}::uuid[])`.execute(db);
  return rows;
}

/** Polls until every payout of `ids` is settled (and `also` holds), at most `timeoutMs`; the payouts as they ended. */
export async function untilSettled(db: Db, ids: readonly string[], timeoutMs: number, also: (ends: readonly PayoutEnd[]) => boolean = () => true): Promise<PayoutEnd[]> {
  const deadline = Date.now() + timeoutMs;
  let ends = await payoutEnds(db, ids);
  while (Date.now() < deadline) {
    if (ends.length === ids.length && ends.every(settled) && also(ends)) return ends;
    await new Promise((r) => setTimeout(r, 200));
    ends = await payoutEnds(db, ids);
  }
  const open = ends.filter((p) => !settled(p)).map((p) => `${p.id} ${p.state}`);
  throw new Error(`timed out after ${timeoutMs} ms waiting for payouts to settle; open: ${open.join(', ') || '(none: the extra condition)'}`);
}

/** Waits (bounded by `boundMs`) until no payout transition has been written for `quietMs`: late callbacks and checks are done. */
export async function untilQuiet(db: Db, quietMs: number, boundMs: number): Promise<void> {
  const last = async () => (await sql<{ id: string | null }>`SELECT max(id)::text AS id FROM payout_transitions`.execute(db)).rows[0]?.id ?? '0';
  const deadline = Date.now() + boundMs;
  let seen = await last();
  let since = Date.now();
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    const now = await last();
    if (now !== seen) {
      seen = now;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) {
      return;
    }
  }
}

/** A whole-second boundary after every event so far, once that second has begun: a statement period's edge. */
export async function nextWholeSecond(): Promise<Date> {
  const at = new Date(Math.floor(Date.now() / 1000) * 1000 + 1000);
  await new Promise((r) => setTimeout(r, at.getTime() - Date.now() + 5));
  return at;
}
