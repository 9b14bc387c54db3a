// Property: any sequence of fundings, top-ups, commitments, payments (with and without fees),
// releases, reversals and replays, run against the real PostgreSQL, gives exactly what the pure
// model (src/domain/ledger.ts) gives — outcome by outcome, balance by balance — and leaves every
// invariant of architecture §3 intact (verify recomputes them from the rows).
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { kyselyPersistence } from '../../src/adapters/db/persistence.js';
import { verifyLedger } from '../../src/application/ledger-chain.js';
import type { Persistence } from '../../src/application/ports.js';
import { registerOrganisation, registerProgramme } from '../../src/application/setup.js';
import { applyJournal, type AccountState } from '../../src/domain/ledger.js';
import { postings, type Journal, type TransferSpec } from '../../src/domain/ledger-rules.js';
import { deriveId } from '../../src/domain/ids.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

let database: TestDatabase;
let persistence: Persistence;

beforeAll(async () => {
  database = await createTestDatabase();
  persistence = kyselyPersistence(database.db, database.pool);
});
afterAll(async () => database?.drop());

type Op =
  | { kind: 'fund'; amount: bigint }
  | { kind: 'topUp'; amount: bigint }
  | { kind: 'commit'; batch: number; amount: bigint }
  | { kind: 'pay'; batch: number; payout: number; amount: bigint; fee: bigint }
  | { kind: 'release'; batch: number; payout: number; amount: bigint }
  | { kind: 'reverse'; batch: number; payout: number; amount: bigint }
  | { kind: 'replay'; back: number };

const amount = fc.bigInt({ min: 1n, max: 5_000n });
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('fund' as const), amount: fc.bigInt({ min: 1n, max: 40_000n }) }),
  fc.record({ kind: fc.constant('topUp' as const), amount: fc.bigInt({ min: 1n, max: 40_000n }) }),
  fc.record({ kind: fc.constant('commit' as const), batch: fc.nat(1), amount: fc.bigInt({ min: 1n, max: 20_000n }) }),
  { arbitrary: fc.record({ kind: fc.constant('pay' as const), batch: fc.nat(1), payout: fc.nat(4), amount, fee: fc.oneof(fc.constant(0n), fc.bigInt({ min: 1n, max: 50n })) }), weight: 3 },
  { arbitrary: fc.record({ kind: fc.constant('release' as const), batch: fc.nat(1), payout: fc.nat(4), amount }), weight: 2 },
  fc.record({ kind: fc.constant('reverse' as const), batch: fc.nat(1), payout: fc.nat(4), amount }),
  fc.record({ kind: fc.constant('replay' as const), back: fc.nat(20) }),
);

/** The model: accounts as the pure domain sees them, plus every transfer ever accepted. */
class Model {
  private readonly accounts = new Map<string, AccountState>();
  private readonly stored = new Map<string, { journalId: string; t: TransferSpec }>();
  private nextId = 1n;

  post(journal: Journal): string {
    const existing = journal.transfers.filter((t) => this.stored.has(t.id));
    if (existing.length > 0) {
      const same = existing.length === journal.transfers.length && journal.transfers.every((t) => {
        const s = this.stored.get(t.id)!;
        return s.journalId === journal.id && s.t.amountMinor === t.amountMinor && s.t.code === t.code && s.t.debit.key === t.debit.key &&
          s.t.credit.key === t.credit.key && s.t.batchId === t.batchId && s.t.payoutId === t.payoutId && s.t.reference === t.reference;
      });
      return same ? 'replayed' : 'LEDGER_TRANSFER_CONFLICT';
    }
    for (const t of journal.transfers) {
      for (const a of [t.debit, t.credit]) {
        if (!this.accounts.has(a.key)) {
          this.accounts.set(a.key, { id: this.nextId++, key: a.key, debits: 0n, credits: 0n, debitsMustNotExceedCredits: a.debitsMustNotExceedCredits, creditsMustNotExceedDebits: a.creditsMustNotExceedDebits, closed: false });
        }
      }
    }
    const applied = applyJournal(this.accounts, journal);
    if (!applied.ok) return applied.error.code;
    for (const [id, totals] of applied.value.finalTotals) {
      const a = [...this.accounts.values()].find((x) => x.id === id)!;
      this.accounts.set(a.key, { ...a, ...totals });
    }
    for (const t of journal.transfers) this.stored.set(t.id, { journalId: journal.id, t });
    return 'posted';
  }

  balances(): Map<string, { debits: bigint; credits: bigint }> {
    return new Map([...this.accounts].map(([k, a]) => [k, { debits: a.debits, credits: a.credits }]));
  }
}

describe('ledger properties', () => {
  it('when random operations run against PostgreSQL and the model, then outcomes and balances agree and every invariant holds', async () => {
    const seen = new Map<string, number>();
    await fc.assert(
      // Each run opens with money in place (still random amounts), so that payments can succeed as well as fail.
      fc.asyncProperty(
        fc.tuple(fc.bigInt({ min: 10_000n, max: 60_000n }), fc.bigInt({ min: 1_000n, max: 30_000n }), fc.bigInt({ min: 1_000n, max: 20_000n }), fc.bigInt({ min: 1_000n, max: 20_000n })),
        fc.array(op, { minLength: 1, maxLength: 30 }),
        async ([funded, float, commit0, commit1], random) => {
        const ops: Op[] = [
          { kind: 'fund', amount: funded },
          { kind: 'topUp', amount: float },
          { kind: 'commit', batch: 0, amount: commit0 },
          { kind: 'commit', batch: 1, amount: commit1 },
          ...random,
        ];
        const suffix = randomBytes(5).toString('hex');
        const organisationId = `org-${suffix}`;
        const programmeId = `prog-${suffix}`;
        await registerOrganisation(persistence, organisationId, 'Property');
        await registerProgramme(persistence, { id: programmeId, organisationId, name: 'Property', currency: 'KES', approvalsRequired: 0 });
        const batchId = (n: number) => deriveId('property-batch', suffix, String(n));
        const payoutId = (b: number, p: number) => deriveId('property-payout', suffix, String(b), String(p));
        const owner = { organisationId, currency: 'KES' as const };
        const model = new Model();
        const history: Journal[] = [];

        for (const [i, o] of ops.entries()) {
          let journal: Journal;
          switch (o.kind) {
            case 'fund':
              journal = postings.funding({ ...owner, idempotencyKey: `f${i}`, programmeId, source: 'donor', amountMinor: o.amount });
              break;
            case 'topUp':
              journal = postings.floatTopUp({ ...owner, idempotencyKey: `t${i}`, provider: 'mpesa', source: 'donor', amountMinor: o.amount });
              break;
            case 'commit':
              journal = postings.batchCommit({ ...owner, batchId: batchId(o.batch), programmeId, totalMinor: o.amount });
              break;
            case 'pay':
              journal = postings.payoutPaid({ ...owner, batchId: batchId(o.batch), payoutId: payoutId(o.batch, o.payout), provider: 'mpesa', amountMinor: o.amount, feeMinor: o.fee });
              break;
            case 'release':
              journal = postings.payoutReleased({ ...owner, batchId: batchId(o.batch), payoutId: payoutId(o.batch, o.payout), programmeId, amountMinor: o.amount });
              break;
            case 'reverse':
              journal = postings.payoutReversed({ ...owner, batchId: batchId(o.batch), payoutId: payoutId(o.batch, o.payout), programmeId, provider: 'mpesa', amountMinor: o.amount });
              break;
            case 'replay':
              if (history.length === 0) continue;
              journal = history[Math.max(0, history.length - 1 - o.back)]!;
              break;
          }
          const expected = model.post(journal);
          const got = await persistence.ledger.postJournal(journal);
          expect({ step: i, op: o.kind, outcome: got.ok ? got.value : got.error.code }).toEqual({ step: i, op: o.kind, outcome: expected });
          for (const k of [`${o.kind}:${expected}`, `any:${expected}`]) seen.set(k, (seen.get(k) ?? 0) + 1);
          history.push(journal);
        }

        for (const [key, b] of model.balances()) {
          const stored = await persistence.read.ledger.findAccount('KES', key);
          expect({ key, debits: stored?.debitsPosted ?? 0n, credits: stored?.creditsPosted ?? 0n }).toEqual({ key, ...b });
        }
      }),
      { numRuns: 60, seed: Number(process.env.PROPERTY_SEED ?? Date.now() % 2 ** 31) },
    );
    // The runs must have covered every kind of outcome, or the agreement above proves little.
    for (const outcome of ['fund:posted', 'commit:posted', 'commit:LEDGER_INSUFFICIENT_FUNDS', 'pay:posted', 'pay:LEDGER_INSUFFICIENT_FUNDS',
      'release:posted', 'reverse:posted', 'replay:replayed', 'any:LEDGER_TRANSFER_CONFLICT']) {
      expect({ outcome, seen: (seen.get(outcome) ?? 0) > 0 }).toEqual({ outcome, seen: true });
    }
    const report = await verifyLedger(persistence);
    expect(report.problems).toEqual([]);
    expect(report.ledgers.every((l) => l.balanced)).toBe(true);
  });
});
