// Reconciliation of every statement format end to end against the real PostgreSQL (issue #14
// item 8): for MTN MoMo CSV, Airtel CSV, the M-Pesa portal's XLSX export, MT940, camt.053 and
// GSMA statement entries, a statement holding a line of every class the format can express is
// imported through importStatement with the production readers (GSMA entries through a
// pass-through reader, as the runtime's readers have none for them; one GSMA statement is pulled
// with pullStatementEntries from a running GSMA simulator), against a ledger written to match
// (payouts, attempts and transitions straight into the tables, fees as `payout_fee` transfers), and
// every class is found with exact counts and minor-unit amounts, line by line, with the file's own
// balance checks; no line table keeps a name or a number of the file. Each format's refusals store
// nothing; the same bytes again answer the stored reconciliation. Then the MoMo and Airtel
// simulators' own statements are reconciled after payouts ran through the engine over Kafka with
// injected faults, and exactly the injected differences are found.
//
// What a format cannot express, and why, is said where its test is.
import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readFile } from 'node:fs/promises';
import { PassThrough, Readable } from 'node:stream';
import express from 'express';
import { sql } from 'kysely';
import { pino } from 'pino';
import { AesGcmVault } from '../../src/adapters/crypto/vault.js';
import { kyselyPersistence } from '../../src/adapters/db/persistence.js';
import { statementStore } from '../../src/adapters/db/reconciliation.repository.js';
import { GsmaClient, type GsmaSettings } from '../../src/adapters/providers/gsma/gsma-client.js';
import { pullStatementEntries } from '../../src/adapters/providers/gsma/gsma-statement.js';
import { momoReferenceId } from '../../src/adapters/providers/mtn-momo/mapping.js';
import { statementReaders } from '../../src/adapters/statement-readers/index.js';
import { importStatement, openStatementFileChunk, type ImportedStatement, type ImportStatementDeps, type ImportStatementInput } from '../../src/application/reconcile.js';
import type { Persistence } from '../../src/application/ports.js';
import type { Runtime } from '../../src/cli/runtime.js';
import type { CurrencyCode } from '../../src/domain/currency.js';
import { attemptKey, payoutIdOf } from '../../src/domain/ids.js';
import { splitCsvLine, type StatementRejection } from '../../src/domain/reconciliation.js';
import type { Result } from '../../src/domain/result.js';
import { entriesPreamble, gsmaStatementEntriesV1 } from '../../src/domain/statement-formats.js';
import { createGsmaSimulator, type GsmaSimulator } from '../../src/simulator/gsma-simulator.js';
import { tokenFor } from '../support/auth.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { batchDocument, net, setUpProviderProgramme, sign, type PayoutLine, type Scenario } from '../support/fixtures.js';
import { postPayoutFee } from '../support/payout-fees.js';
import { insertPayouts as insertLedgerPayouts, type LedgerPayout } from '../support/reconciliation-ledger.js';
import { startTestRuntime, testConfig } from '../support/runtime.js';
import { xlsxWorkbook, type XlsxCell } from '../support/xlsx-writer.js';

// ---- the database, the vault, and reading back what an import stored ------------------------------

let database: TestDatabase;
let persistence: Persistence;
let vault: AesGcmVault;

beforeAll(async () => {
  database = await createTestDatabase();
  persistence = kyselyPersistence(database.db, database.pool);
  vault = new AesGcmVault(database.db, randomBytes(32));
});
afterAll(async () => {
  await vault?.close();
  await database?.drop();
});

/** The readers the runtime passes (adapters/statement-readers), or others. */
const deps = (readers: ImportStatementDeps['readers'] = statementReaders): ImportStatementDeps => ({ store: statementStore(database.pool), vault, readers });

/** A fresh provider account id, so that each test reconciles a ledger and a period of its own. */
const newAccount = (prefix: string) => `${prefix}-${randomBytes(3).toString('hex')}`;

interface Run {
  readonly s: Scenario;
  readonly accountId: string;
  readonly currency: CurrencyCode;
  readonly format: string;
  readonly period: { readonly from: Date; readonly to: Date };
}

function input(run: Run, bytes: string | Buffer | Readable): ImportStatementInput {
  return {
    source: bytes instanceof Readable ? bytes : Readable.from([Buffer.from(bytes)]),
    accountId: run.accountId, currency: run.currency, format: run.format, period: run.period,
    caller: { organisationId: run.s.organisationId, subject: 'finance-1' },
  };
}

const importOf = (run: Run, bytes: string | Buffer | Readable, readers?: ImportStatementDeps['readers']): Promise<Result<ImportedStatement, StatementRejection>> =>
  importStatement(deps(readers), input(run, bytes));

async function imported(run: Run, bytes: string | Buffer | Readable, readers?: ImportStatementDeps['readers']): Promise<ImportedStatement> {
  const result = await importOf(run, bytes, readers);
  if (!result.ok) throw new Error(JSON.stringify(result.error));
  return result.value;
}

/** Every item of a reconciliation: [line, class, payout] (payouts no line names last, by class). */
async function itemsOf(statementId: string): Promise<[number | null, string, string | null][]> {
  const { rows } = await database.pool.query<{ line_no: number | null; class: string; payout_id: string | null }>(
    'SELECT line_no, class, payout_id FROM reconciliation_items WHERE statement_id = $1 ORDER BY line_no NULLS LAST, class', [statementId]);
  return rows.map((r) => [r.line_no, r.class, r.payout_id]);
}

async function storedOf(accountId: string): Promise<{ statements: number; lines: number; items: number; files: number; checks: number; staging: number }> {
  const { rows } = await database.pool.query<Record<string, string>>(
    `SELECT (SELECT count(*) FROM statements WHERE account_id = $1)::text AS statements,
            (SELECT count(*) FROM statement_lines WHERE account_id = $1)::text AS lines,
            (SELECT count(*) FROM reconciliation_items i JOIN statements s ON s.id = i.statement_id WHERE s.account_id = $1)::text AS items,
            (SELECT count(*) FROM statement_files f JOIN statements s ON s.id = f.statement_id WHERE s.account_id = $1)::text AS files,
            (SELECT count(*) FROM statement_checks c JOIN statements s ON s.id = c.statement_id WHERE s.account_id = $1)::text AS checks,
            (SELECT count(*) FROM statement_staging_lines)::text AS staging`,
    [accountId],
  );
  const r = rows[0]!;
  return { statements: Number(r.statements), lines: Number(r.lines), items: Number(r.items), files: Number(r.files), checks: Number(r.checks), staging: Number(r.staging) };
}

/** Everything stored about a statement but its sealed file, as text: its row, its lines, its items, its checks. */
async function storedText(statementId: string): Promise<string> {
  const { rows } = await database.pool.query<{ t: string }>(
    `SELECT l::text AS t FROM statement_lines l WHERE statement_id = $1
     UNION ALL SELECT i::text FROM reconciliation_items i WHERE statement_id = $1
     UNION ALL SELECT c::text FROM statement_checks c WHERE statement_id = $1
     UNION ALL SELECT s::text FROM statements s WHERE id = $1`, [statementId]);
  return rows.map((r) => r.t).join('\n');
}

/** No name and no number of the file in any table of the statement, nor in the clear in its sealed chunks. */
async function expectNothingOf(statementId: string, clear: readonly string[]): Promise<void> {
  const text = await storedText(statementId);
  for (const word of clear) expect({ word, stored: text.includes(word) }).toEqual({ word, stored: false });
  const chunks = await database.pool.query<{ sealed: Buffer }>('SELECT sealed FROM statement_files WHERE statement_id = $1 ORDER BY chunk_no', [statementId]);
  expect(chunks.rows.length).toBeGreaterThan(0);
  const sealed = Buffer.concat(chunks.rows.map((c) => c.sealed));
  for (const word of clear) expect({ word, sealed: sealed.includes(Buffer.from(word)) }).toEqual({ word, sealed: false });
}

/** An import that must be refused with nothing stored; the refusal quotes none of `clear`. */
async function refused(run: Run, bytes: string | Buffer, clear: readonly string[] = [], readers?: ImportStatementDeps['readers']): Promise<StatementRejection> {
  const result = await importOf(run, bytes, readers);
  expect(await storedOf(run.accountId)).toEqual({ statements: 0, lines: 0, items: 0, files: 0, checks: 0, staging: 0 });
  if (result.ok) throw new Error('the import was not refused');
  const said = JSON.stringify(result.error);
  for (const word of clear) expect({ word, quoted: said.includes(word) }).toEqual({ word, quoted: false });
  return result.error;
}

/** The same bytes twice: the second answer is the first reconciliation again, and nothing new is stored. */
async function expectReplayed(run: Run, bytes: () => string | Buffer | Readable, readers?: ImportStatementDeps['readers']): Promise<void> {
  const first = await imported(run, bytes(), readers);
  const before = await storedOf(run.accountId);
  const again = await imported(run, bytes(), readers);
  expect([first.replayed, again.replayed]).toEqual([false, true]);
  const { replayed: _a, ...firstRecord } = first;
  const { replayed: _b, ...againRecord } = again;
  expect(againRecord).toEqual(firstRecord);
  expect(await storedOf(run.accountId)).toEqual(before);
}

const insertPayouts = (s: Scenario, payouts: readonly LedgerPayout[]) => insertLedgerPayouts(database.pool, s, payouts);

/** Replaces data line `n` (1-based, in the file) of CRLF text. */
const withLine = (text: string, n: number, change: (line: string) => string): string =>
  text.split('\r\n').map((l, i) => (i === n - 1 ? change(l) : l)).join('\r\n');

// ---- MTN MoMo partner portal CSV ------------------------------------------------------------------

/** May 2026 in Uganda (EAT, UTC+3) as [from, to). */
const mayEat = { from: new Date('2026-04-30T21:00:00Z'), to: new Date('2026-05-31T21:00:00Z') };

/**
 * No header block: the column-header line is line 1, the data lines 2 to 13. Names and numbers in
 * clear (as the portal writes them). Balances run oldest first from 10,000,000 UGX; the fee is taken
 * on top of the amount. Type `transfer` is a payout, `reversal` a reversal, `fee` a charge, anything
 * else (`deposit`) other.
 */
const momoCsv = [
  'Id,Date,Status,Type,From,From Name,To,To Name,Amount,Fee,Balance',
  '100000001,2026-05-02 09:00:00,SUCCESSFUL,transfer,FRI:256700000001/MSISDN,UNHCR UGANDA,FRI:256772123456/MSISDN,NAKATO SARAH,-50000,500,9949500',
  '100000002,2026-05-02 09:05:00,SUCCESSFUL,transfer,FRI:256700000001/MSISDN,UNHCR UGANDA,FRI:256772234567/MSISDN,OKELLO JAMES,-60000,0,9889500',
  '100000003,2026-05-03 10:00:00,SUCCESSFUL,transfer,FRI:256700000001/MSISDN,UNHCR UGANDA,FRI:256772345678/MSISDN,AKELLO GRACE,-40000,0,9849500',
  '100000004,2026-05-03 10:30:00,SUCCESSFUL,transfer,FRI:256700000001/MSISDN,UNHCR UGANDA,FRI:256772456789/MSISDN,MUGISHA PAUL,-30000,700,9818800',
  '100000005,2026-05-04 11:00:00,FAILED,transfer,FRI:256700000001/MSISDN,UNHCR UGANDA,FRI:256772567890/MSISDN,NAMUBIRU ROSE,-20000,0,9818800',
  '100000006,2026-05-04 11:30:00,SUCCESSFUL,transfer,FRI:256700000001/MSISDN,UNHCR UGANDA,FRI:256772678901/MSISDN,KATO JOHN,-25000,0,9793800',
  '100000007,2026-05-05 08:00:00,SUCCESSFUL,transfer,FRI:256700000001/MSISDN,UNHCR UGANDA,FRI:256772789012/MSISDN,NANTEZA JOY,-15000,0,9778800',
  '100000001,2026-05-06 12:00:00,SUCCESSFUL,transfer,FRI:256700000001/MSISDN,UNHCR UGANDA,FRI:256772123456/MSISDN,NAKATO SARAH,-50000,500,9728300',
  '100000009,2026-05-07 14:00:00,SUCCESSFUL,reversal,FRI:256772890123/MSISDN,SSEBUNYA ALEX,FRI:256700000001/MSISDN,UNHCR UGANDA,35000,0,9763300',
  '100000010,2026-05-08 07:00:00,SUCCESSFUL,deposit,FRI:256700000009/MSISDN,UNHCR UGANDA FUNDING,FRI:256700000001/MSISDN,UNHCR UGANDA,1000000,0,10763300',
  '100000011,2026-05-09 16:00:00,FAILED,transfer,FRI:256700000001/MSISDN,UNHCR UGANDA,FRI:256772901234/MSISDN,ATIM BETTY,-12000,0,10763300',
  '100000012,2026-05-31 23:00:00,SUCCESSFUL,fee,FRI:256700000001/MSISDN,UNHCR UGANDA,,MTN UGANDA,-2000,0,10761300',
].map((l) => `${l}\r\n`).join('');
const momoClear = ['NAKATO', 'OKELLO', 'AKELLO', 'MUGISHA', 'NAMUBIRU', 'KATO JOHN', 'NANTEZA', 'SSEBUNYA', 'ATIM', 'UNHCR', 'FRI:', '256700000001', '256700000009',
  '256772123456', '256772234567', '256772345678', '256772456789', '256772567890', '256772678901', '256772789012', '256772890123', '256772901234'];

/** The MoMo statement's ledger: one payout per class, in UGX, through `accountId`; fees as payout_fee transfers. */
async function momoLedger(accountId: string): Promise<{ run: Run; ids: Map<string, string> }> {
  const s = await setUpProviderProgramme(persistence, { provider: 'mtn-momo', currency: 'UGX', fundedMinor: 1n, floatMinor: 100_000_000n });
  const p = (receipt: string, amountMinor: bigint, state: LedgerPayout['state'], more: Partial<LedgerPayout> = {}): LedgerPayout =>
    ({ receipt, amountMinor, state, accountId, currency: 'UGX', provider: 'mtn-momo', ...more });
  const ids = await insertPayouts(s, [
    p('100000001', 50000n, 'paid'),
    p('100000002', 55000n, 'paid'),
    p('100000003', 45000n, 'paid'),
    p('100000004', 30000n, 'paid'),
    p('100000005', 20000n, 'paid'),
    p('100000006', 25000n, 'failed'),
    // Reversed by the ledger in April: the reversal line 100000009 is its, but MoMo's lines name no transaction they reverse.
    p('100000008', 35000n, 'reversed', { paidAt: new Date('2026-04-20T09:00:00Z') }),
    p('100000011', 12000n, 'failed'),
    // Paid within May by the ledger, on no line: missing at the provider.
    p('100000020', 18000n, 'paid', { paidAt: new Date('2026-05-10T09:00:00Z') }),
    // Sent half an hour before the cut-off, still in flight: timing.
    p('100000021', 22000n, 'submitted', { attemptAt: new Date('2026-05-31T20:30:00Z') }),
  ]);
  // The ledger's fees: 500 for 100000001 (the line says 500: matched), 500 for 100000004 (the line says 700: fee_mismatch).
  for (const receipt of ['100000001', '100000004']) await postPayoutFee(persistence, s, { provider: 'mtn-momo', currency: 'UGX', payoutId: ids.get(receipt)!, feeMinor: 500n });
  return { run: { s, accountId, currency: 'UGX', format: 'mtn-momo-portal-csv@1', period: mayEat }, ids };
}

describe('an MTN MoMo partner portal statement (mtn-momo-portal-csv@1, UGX)', () => {
  // Not expressible: late_reversal (a MoMo line names no transaction it reverses, so a reversal line
  // is always `reversal` with no payout, whatever the ledger says of the payout it reverses), and a
  // wrong currency (the export states none: no header block, the amounts carry no code).
  test('when a statement holds a line of every class MoMo can express, then each line and each payout of the period gets exactly one class, with exact amounts', async () => {
    const { run, ids } = await momoLedger(newAccount('momo-ug'));

    const r = await imported(run, momoCsv);

    expect([r.replayed, r.linesTotal, r.linesImported, r.linesRefused]).toEqual([false, 12, 12, 0]);
    expect([r.openingBalanceMinor, r.closingBalanceMinor]).toEqual([null, null]);
    expect(r.counts).toEqual({
      // 100000001 (its fee as the ledger's) and 100000011 (failed on both sides).
      matched: { count: 2, statementMinor: 62000n, ledgerMinor: 62000n },
      amount_over: { count: 1, statementMinor: 60000n, ledgerMinor: 55000n },
      amount_under: { count: 1, statementMinor: 40000n, ledgerMinor: 45000n },
      // The Fee column says 700, the ledger's payout_fee transfers 500.
      fee_mismatch: { count: 1, statementMinor: 30000n, ledgerMinor: 30000n },
      status_mismatch: { count: 1, statementMinor: 20000n, ledgerMinor: 20000n },
      paid_not_in_ledger: { count: 1, statementMinor: 25000n, ledgerMinor: 25000n },
      unknown_reference: { count: 1, statementMinor: 15000n, ledgerMinor: 0n },
      duplicate_at_provider: { count: 1, statementMinor: 50000n, ledgerMinor: 0n },
      reversal: { count: 1, statementMinor: -35000n, ledgerMinor: 0n },
      // The deposit (1,000,000 in) and the account's monthly fee (2,000 out, a charge of no payout).
      non_payout: { count: 2, statementMinor: -998000n, ledgerMinor: 0n },
      missing_at_provider: { count: 1, statementMinor: 0n, ledgerMinor: 18000n },
      timing: { count: 1, statementMinor: 0n, ledgerMinor: 22000n },
    });
    // No balances stated; the running balance (fees included) reads continuous oldest first.
    expect(r.balances).toEqual({ linesNetMinor: 761300n, total: null, order: 'oldest-first', runningBreaks: 0, breaks: [] });
    const id = (receipt: string) => ids.get(receipt)!;
    expect(await itemsOf(r.statementId)).toEqual([
      [2, 'matched', id('100000001')], [3, 'amount_over', id('100000002')], [4, 'amount_under', id('100000003')],
      [5, 'fee_mismatch', id('100000004')], [6, 'status_mismatch', id('100000005')], [7, 'paid_not_in_ledger', id('100000006')],
      [8, 'unknown_reference', null], [9, 'duplicate_at_provider', null], [10, 'reversal', null], [11, 'non_payout', null],
      [12, 'matched', id('100000011')], [13, 'non_payout', null],
      [null, 'missing_at_provider', id('100000020')], [null, 'timing', id('100000021')],
    ]);
    // The fees each line was compared with: the line's, and the ledger's for the payout it names.
    const fees = await database.pool.query<{ line_no: number; fee_minor: string; ledger_fee_minor: string | null }>(
      'SELECT line_no, fee_minor::text, ledger_fee_minor::text FROM statement_lines WHERE statement_id = $1 AND line_no IN (2, 5) ORDER BY line_no', [r.statementId]);
    expect(fees.rows).toEqual([{ line_no: 2, fee_minor: '500', ledger_fee_minor: '500' }, { line_no: 5, fee_minor: '700', ledger_fee_minor: '500' }]);
    expect(await storedOf(run.accountId)).toEqual({ statements: 1, lines: 12, items: 14, files: 1, checks: 0, staging: 0 });
    await expectNothingOf(r.statementId, momoClear);
  });

  test('when the running balance jumps at one line, then that one break is named and stored as a check', async () => {
    const { run } = await momoLedger(newAccount('momo-ug'));
    // From line 8 on, every balance is 1,000 higher than the lines before it account for.
    const jumped = momoCsv.split('\r\n').map((l, i) => {
      if (i < 7 || l === '') return l;
      const cells = splitCsvLine(l)!;
      return [...cells.slice(0, 10), String(BigInt(cells[10]!) + 1000n)].join(',');
    }).join('\r\n');

    const r = await imported(run, jumped);

    expect(r.balances).toEqual({ linesNetMinor: 761300n, total: null, order: null, runningBreaks: 1, breaks: [{ line: 8, expectedMinor: 9778800n, balanceMinor: 9779800n }] });
    const checks = await database.pool.query('SELECT check_no, kind, line_no, expected_minor::text, actual_minor::text FROM statement_checks WHERE statement_id = $1', [r.statementId]);
    expect(checks.rows).toEqual([{ check_no: 1, kind: 'running_balance', line_no: 8, expected_minor: '9778800', actual_minor: '9779800' }]);
    // The classes do not depend on the balances.
    expect(r.counts.matched).toEqual({ count: 2, statementMinor: 62000n, ledgerMinor: 62000n });
  });

  test('when lines are malformed, then each is named by line, column and problem, the cell is not echoed, and nothing is stored', async () => {
    const { run } = await momoLedger(newAccount('momo-ug'));
    let text = withLine(momoCsv, 6, (l) => l.replace(',FAILED,', ',BOUNCED,'));
    text = withLine(text, 8, (l) => l.replace('2026-05-05 08:00:00', '2026-02-30 08:00:00'));
    text = withLine(text, 9, (l) => l.replace(',500,9728300', ',5OO,9728300'));
    const error = await refused(run, text, ['BOUNCED', '2026-02-30', '5OO', 'NAMUBIRU', '256772']);
    expect(error).toEqual({
      code: 'STATEMENT_LINES_INVALID', detail: '3 of 12 lines are invalid', badLines: 3,
      lines: [
        { line: 6, column: 'Status', problem: 'not a status of the format' },
        { line: 8, column: 'Date', problem: 'not a time YYYY-MM-DD HH:MM:SS' },
        { line: 9, column: 'Fee', problem: 'not an amount with at most 0 decimals' },
      ],
    });
  });

  // A signed Amount outside the grammar is refused, never read as 0 (GREATEST skips a NULL: checkedSql guards it).
  it('when a signed amount is not an amount, then its line is refused, never read as zero', async () => {
    const { run } = await momoLedger(newAccount('momo-ug'));
    const error = await refused(run, withLine(momoCsv, 3, (l) => l.replace('-60000', '-6OOOO')), ['6OOOO', 'OKELLO']);
    expect(error).toEqual({
      code: 'STATEMENT_LINES_INVALID', detail: '1 of 12 lines are invalid', badLines: 1,
      lines: [{ line: 3, column: 'Amount', problem: 'not an amount with at most 0 decimals' }],
    });
  });

  test('when a line has another number of columns, then the file is refused naming that line', async () => {
    const { run } = await momoLedger(newAccount('momo-ug'));
    const error = await refused(run, withLine(momoCsv, 4, (l) => `${l},extra`), ['AKELLO']);
    expect(error).toEqual({ code: 'STATEMENT_LINES_INVALID', detail: 'a line is not CSV of the format\'s columns', badLines: 1, lines: [{ line: 4, column: '*', problem: 'not CSV with exactly 11 columns' }] });
  });

  // COPY would have ended the data at `\.` without a word: the lines after it (here one that pays
  // AKELLO) would have been dropped unread, and the statement imported short.
  test('when a line is \\. alone, then the file is refused naming that line, and nothing is stored', async () => {
    const { run } = await momoLedger(newAccount('momo-ug'));
    for (const eol of ['\n', '\r\n']) {
      const bytes = withLine(momoCsv, 4, (l) => `\\.${eol}${l}`).replace(/\r?\n/g, eol);
      const error = await refused(run, bytes, ['AKELLO']);
      expect(error).toEqual({
        code: 'STATEMENT_LINES_INVALID', detail: 'a line is not CSV of the format\'s columns', badLines: 1,
        lines: [{ line: 4, column: '*', problem: 'a line \\. alone (an end-of-data marker): the lines after it would not be read' }],
      });
    }
  });

  test('when the same bytes are imported twice, then the second answer is the first reconciliation and nothing new is stored', async () => {
    const { run } = await momoLedger(newAccount('momo-ug'));
    await expectReplayed(run, () => momoCsv);
  });
});

// ---- Airtel Money statement CSV, Format 1 ---------------------------------------------------------

/** May 2026 in Zambia (CAT, UTC+2) as [from, to). */
const mayCat = { from: new Date('2026-04-30T22:00:00Z'), to: new Date('2026-05-31T22:00:00Z') };

/**
 * A header block of 6 lines, the column-header line (line 7), the data lines 8 to 19. Unsigned
 * amounts with thousands separators and exactly 2 decimals, a Credit/Debit flag, the fee on the
 * line; times to the minute, 12-hour clock. `Disbursement…` is a payout, `Reversal…` a reversal,
 * `…charge…` a charge, anything else (a float top-up) other.
 */
const airtelCsv = [
  'Customer Name,UNHCR ZAMBIA CASH PROGRAMME',
  'Mobile Number,260970000111',
  'Opening Balance,"ZMW 100,000.00"',
  'Closing Balance,"ZMW 144,830.00"',
  'Total Credit,"ZMW 50,700.00"',
  'Total Debit,"ZMW 5,860.00"',
  'Transaction ID,Transaction Date,Description,Status,Transaction Amount,Credit/Debit,Fee,Balance',
  'MP260502.0915.A00001,02-05-26 09:15 AM,Disbursement to 260971234567 MWILA BANDA,Success,"1,500.00",Debit,2.50,"98,497.50"',
  'MP260502.0930.A00002,02-05-26 09:30 AM,Disbursement to 260972345678 CHANDA MULENGA,Success,"1,200.00",Debit,0.00,"97,297.50"',
  'MP260503.1000.A00003,03-05-26 10:00 AM,Disbursement to 260973456789 PHIRI ESTHER,Success,800.00,Debit,0.00,"96,497.50"',
  'MP260503.1030.A00004,03-05-26 10:30 AM,Disbursement to 260974567890 TEMBO GIFT,Success,500.00,Debit,5.00,"95,992.50"',
  'MP260504.1100.A00005,04-05-26 11:00 AM,Disbursement to 260975678901 ZULU MARY,Failed,300.00,Debit,0.00,"95,992.50"',
  'MP260504.1130.A00006,04-05-26 11:30 AM,Disbursement to 260976789012 BANDA JOSEPH,Success,250.00,Debit,0.00,"95,742.50"',
  'MP260505.0800.A00007,05-05-26 08:00 AM,Disbursement to 260977890123 LUNGU ANN,Success,100.00,Debit,0.00,"95,642.50"',
  'MP260502.0915.A00001,06-05-26 12:00 PM,Disbursement to 260971234567 MWILA BANDA,Success,"1,500.00",Debit,2.50,"94,140.00"',
  'MP260507.1400.A00009,07-05-26 02:00 PM,Reversal of MP260420.1000.A00099 from 260978901234 SAKALA PETER,Success,700.00,Credit,0.00,"94,840.00"',
  'MP260508.0700.A00010,08-05-26 07:00 AM,Float top up from 260970000999 UNHCR ZAMBIA,Success,"50,000.00",Credit,0.00,"144,840.00"',
  'MP260509.1645.A00011,09-05-26 04:45 PM,Disbursement to 260979012345 MBEWE GRACE,Failed,120.00,Debit,0.00,"144,840.00"',
  'MP260531.2300.A00012,31-05-26 11:00 PM,Monthly account charge,Success,10.00,Debit,0.00,"144,830.00"',
].map((l) => `${l}\r\n`).join('');
const airtelClear = ['MWILA', 'CHANDA', 'PHIRI', 'TEMBO', 'ZULU', 'BANDA', 'LUNGU', 'SAKALA', 'MBEWE', 'UNHCR', 'Disbursement to',
  '260970000111', '260971234567', '260972345678', '260973456789', '260974567890', '260975678901', '260976789012', '260977890123', '260978901234', '260979012345', '260970000999'];

async function airtelLedger(accountId: string): Promise<{ run: Run; ids: Map<string, string> }> {
  const s = await setUpProviderProgramme(persistence, { provider: 'airtel', currency: 'ZMW', fundedMinor: 1n, floatMinor: 100_000_00n });
  const p = (receipt: string, amountMinor: bigint, state: LedgerPayout['state'], more: Partial<LedgerPayout> = {}): LedgerPayout =>
    ({ receipt, amountMinor, state, accountId, currency: 'ZMW', provider: 'airtel', ...more });
  const ids = await insertPayouts(s, [
    p('MP260502.0915.A00001', 1500_00n, 'paid'),
    p('MP260502.0930.A00002', 1000_00n, 'paid'),
    p('MP260503.1000.A00003', 1000_00n, 'paid'),
    p('MP260503.1030.A00004', 500_00n, 'paid'),
    p('MP260504.1100.A00005', 300_00n, 'paid'),
    p('MP260504.1130.A00006', 250_00n, 'failed'),
    p('MP260420.1000.A00099', 700_00n, 'reversed', { paidAt: new Date('2026-04-21T09:00:00Z') }),
    p('MP260509.1645.A00011', 120_00n, 'failed'),
    p('MP260510.0900.A00020', 180_00n, 'paid', { paidAt: new Date('2026-05-10T09:00:00Z') }),
    p('MP260531.2330.A00021', 220_00n, 'submitted', { attemptAt: new Date('2026-05-31T21:30:00Z') }),
  ]);
  for (const receipt of ['MP260502.0915.A00001', 'MP260503.1030.A00004']) await postPayoutFee(persistence, s, { provider: 'airtel', currency: 'ZMW', payoutId: ids.get(receipt)!, feeMinor: 2_50n });
  return { run: { s, accountId, currency: 'ZMW', format: 'airtel-statement-csv@1', period: mayCat }, ids };
}

describe('an MTN MoMo statement with External Transaction Id (mtn-momo-portal-csv@2): matching by our reference', () => {
  const head = 'Id,Date,Status,Type,From,From Name,To,To Name,Amount,Fee,Balance,External Transaction Id';
  const row = (id: string, day: string, amount: string, balance: string, external: string) =>
    `${id},2026-05-${day} 09:00:00,SUCCESSFUL,transfer,FRI:256700000001/MSISDN,UNHCR UGANDA,FRI:256772123456/MSISDN,NAKATO SARAH,${amount},0,${balance},${external}`;

  async function ledger(accountId: string) {
    const s = await setUpProviderProgramme(persistence, { provider: 'mtn-momo', currency: 'UGX', fundedMinor: 1n, floatMinor: 100_000_000n });
    const keys = { lost: randomUUID(), airtelForm: randomUUID(), both: randomUUID(), paidLost: randomUUID() };
    const p = (receipt: string, amountMinor: bigint, state: LedgerPayout['state'], more: Partial<LedgerPayout>): LedgerPayout =>
      ({ receipt, amountMinor, state, accountId, currency: 'UGX', provider: 'mtn-momo', ...more });
    const ids = await insertPayouts(s, [
      // Sent, its callback lost: no financialTransactionId known, still submitted in the ledger.
      p('lost', 40000n, 'submitted', { noReference: true, idempotencyKey: keys.lost, attemptAt: new Date('2026-05-01T08:00:00Z') }),
      // The same, its key written upper case without hyphens on the statement.
      p('airtel-form', 30000n, 'submitted', { noReference: true, idempotencyKey: keys.airtelForm, attemptAt: new Date('2026-05-01T08:00:00Z') }),
      // Known by its Id: our reference on the line changes nothing.
      p('300000003', 20000n, 'paid', { idempotencyKey: keys.both }),
      // Paid in the ledger (a status query said so) without the provider's id: matched by our reference, for 1,000 more.
      p('paid-lost', 10000n, 'paid', { noReference: true, idempotencyKey: keys.paidLost, paidAt: new Date('2026-05-04T09:00:00Z') }),
    ]);
    return { s, keys, ids };
  }

  test('when a line\'s Id names no payout but its External Transaction Id is an attempt\'s key, then it is matched to that payout by our reference', async () => {
    const accountId = newAccount('momo-ug');
    const { s, keys, ids } = await ledger(accountId);
    const csv = [head,
      row('300000001', '02', '-40000', '9960000', keys.lost),
      row('300000002', '02', '-30000', '9930000', keys.airtelForm.replaceAll('-', '').toUpperCase()),
      row('300000003', '03', '-20000', '9910000', keys.both),
      row('300000004', '04', '-11000', '9899000', keys.paidLost),
      // Neither its Id nor its External Transaction Id is ours (a UUID-shaped one, and a free text one).
      row('300000005', '05', '-5000', '9894000', randomUUID()),
      row('300000006', '05', '-5000', '9889000', 'not-ours-1'),
    ].map((l) => `${l}\r\n`).join('');

    const r = await imported({ s, accountId, currency: 'UGX', format: 'mtn-momo-portal-csv@2', period: mayEat }, csv);

    expect([r.linesTotal, r.linesImported, r.linesRefused]).toEqual([6, 6, 0]);
    const id = (receipt: string) => ids.get(receipt)!;
    // Paid at the provider, not (yet) in our ledger: urgent, and now named. No payout is left as missing or timing.
    expect(await itemsOf(r.statementId)).toEqual([
      [2, 'paid_not_in_ledger', id('lost')], [3, 'paid_not_in_ledger', id('airtel-form')], [4, 'matched', id('300000003')],
      [5, 'amount_over', id('paid-lost')], [6, 'unknown_reference', null], [7, 'unknown_reference', null],
    ]);
    const marked = await database.pool.query<{ line_no: number; matched_by_our_reference: boolean }>(
      'SELECT line_no, matched_by_our_reference FROM statement_lines WHERE statement_id = $1 ORDER BY line_no', [r.statementId]);
    expect(marked.rows.map((m) => [m.line_no, m.matched_by_our_reference])).toEqual([[2, true], [3, true], [4, false], [5, true], [6, false], [7, false]]);
    expect(r.counts.amount_over).toEqual({ count: 1, statementMinor: 11000n, ledgerMinor: 10000n });
    await expectNothingOf(r.statementId, ['NAKATO', '256772123456', 'UNHCR']);
  });

  test('when a payout matched by our reference in one period appears in no line of the next, then it is not missing there', async () => {
    const accountId = newAccount('momo-ug');
    const { s } = await ledger(accountId);
    // Paid at the provider on 31 May; the ledger learnt it from a status query on 2 June.
    const key = randomUUID();
    const june2 = { state: 'paid', accountId, currency: 'UGX', provider: 'mtn-momo', noReference: true, attemptAt: new Date('2026-05-31T08:00:00Z'),
      paidAt: new Date('2026-06-02T09:00:00Z') } as const;
    // Beside it, the same payout that no line of any period names: missing at the provider in June.
    const late = await insertPayouts(s, [{ ...june2, receipt: 'late-query', amountMinor: 10000n, idempotencyKey: key }, { ...june2, receipt: 'unnamed', amountMinor: 7000n }]);
    const may = [head, row('300000004', '31', '-10000', '9990000', key)].map((l) => `${l}\r\n`).join('');
    await imported({ s, accountId, currency: 'UGX', format: 'mtn-momo-portal-csv@2', period: mayEat }, may);
    // June holds no line of it: paid in June by the ledger, it is named by May's line (by our reference), so not missing in June.
    const june = { from: new Date('2026-05-31T21:00:00Z'), to: new Date('2026-06-30T21:00:00Z') };
    const juneCsv = [head, '300000009,2026-06-02 09:00:00,SUCCESSFUL,deposit,FRI:256700000009/MSISDN,UNHCR UGANDA FUNDING,FRI:256700000001/MSISDN,UNHCR UGANDA,1000,0,9991000,']
      .map((l) => `${l}\r\n`).join('');
    const r = await imported({ s, accountId, currency: 'UGX', format: 'mtn-momo-portal-csv@2', period: june }, juneCsv);
    const items = await itemsOf(r.statementId);
    expect(items.filter(([, c]) => c !== 'timing')).toEqual([[2, 'non_payout', null], [null, 'missing_at_provider', late.get('unnamed')]]);
    expect(items.some(([, , payout]) => payout === late.get('late-query'))).toBe(false);
  });
});

describe('an Airtel Money statement (airtel-statement-csv@1, ZMW)', () => {
  // Airtel's lines have no linked transaction column: the reversal's Description, `Reversal of MP… from
  // <number> <name>`, names it (the mapping's linkedInDetails keeps the id alone, never the cell).
  test('when a statement holds a line of every class Airtel can express, then each line and each payout of the period gets exactly one class, with exact amounts', async () => {
    const { run, ids } = await airtelLedger(newAccount('airtel-zm'));

    const r = await imported(run, airtelCsv);

    expect([r.replayed, r.linesTotal, r.linesImported, r.linesRefused]).toEqual([false, 12, 12, 0]);
    expect([r.openingBalanceMinor, r.closingBalanceMinor]).toEqual([100_000_00n, 144_830_00n]);
    expect(r.counts).toEqual({
      matched: { count: 2, statementMinor: 1620_00n, ledgerMinor: 1620_00n },
      amount_over: { count: 1, statementMinor: 1200_00n, ledgerMinor: 1000_00n },
      amount_under: { count: 1, statementMinor: 800_00n, ledgerMinor: 1000_00n },
      // Fee 5.00 on the line, 2.50 in the ledger.
      fee_mismatch: { count: 1, statementMinor: 500_00n, ledgerMinor: 500_00n },
      status_mismatch: { count: 1, statementMinor: 300_00n, ledgerMinor: 300_00n },
      paid_not_in_ledger: { count: 1, statementMinor: 250_00n, ledgerMinor: 250_00n },
      unknown_reference: { count: 1, statementMinor: 100_00n, ledgerMinor: 0n },
      duplicate_at_provider: { count: 1, statementMinor: 1500_00n, ledgerMinor: 0n },
      // The reversal of MP260420.1000.A00099, which the ledger reversed in April too.
      reversal: { count: 1, statementMinor: -700_00n, ledgerMinor: 700_00n },
      non_payout: { count: 2, statementMinor: -49_990_00n, ledgerMinor: 0n },
      missing_at_provider: { count: 1, statementMinor: 0n, ledgerMinor: 180_00n },
      timing: { count: 1, statementMinor: 0n, ledgerMinor: 220_00n },
    });
    // Opening + every completed line (fees included) = closing, and the running balance is continuous oldest first.
    expect(r.balances).toEqual({
      linesNetMinor: 44_830_00n, total: { expectedClosingMinor: 144_830_00n, closingMinor: 144_830_00n, ok: true }, order: 'oldest-first', runningBreaks: 0, breaks: [],
    });
    const id = (receipt: string) => ids.get(receipt)!;
    expect(await itemsOf(r.statementId)).toEqual([
      [8, 'matched', id('MP260502.0915.A00001')], [9, 'amount_over', id('MP260502.0930.A00002')], [10, 'amount_under', id('MP260503.1000.A00003')],
      [11, 'fee_mismatch', id('MP260503.1030.A00004')], [12, 'status_mismatch', id('MP260504.1100.A00005')], [13, 'paid_not_in_ledger', id('MP260504.1130.A00006')],
      [14, 'unknown_reference', null], [15, 'duplicate_at_provider', null], [16, 'reversal', id('MP260420.1000.A00099')], [17, 'non_payout', null],
      [18, 'matched', id('MP260509.1645.A00011')], [19, 'non_payout', null],
      [null, 'missing_at_provider', id('MP260510.0900.A00020')], [null, 'timing', id('MP260531.2330.A00021')],
    ]);
    expect(await storedOf(run.accountId)).toEqual({ statements: 1, lines: 12, items: 14, files: 1, checks: 0, staging: 0 });
    await expectNothingOf(r.statementId, airtelClear);
  });

  test('when the header states another currency than the account\'s, then the statement is refused', async () => {
    const { run } = await airtelLedger(newAccount('airtel-zm'));
    const ugx = airtelCsv.replace('"ZMW 100,000.00"', '"UGX 100,000.00"').replace('"ZMW 144,830.00"', '"UGX 144,830.00"');
    const error = await refused(run, ugx, ['MWILA', '260971234567']);
    expect(error).toEqual({ code: 'STATEMENT_CURRENCY_MISMATCH', detail: 'the statement is in UGX, the account in ZMW' });
  });

  test('when lines are malformed, then each is named by line, column and problem, the cell is not echoed, and nothing is stored', async () => {
    const { run } = await airtelLedger(newAccount('airtel-zm'));
    let text = withLine(airtelCsv, 9, (l) => l.replace('"1,200.00"', '"1,200.0"'));
    text = withLine(text, 10, (l) => l.replace(',Debit,', ',Debet,'));
    text = withLine(text, 11, (l) => l.replace('03-05-26 10:30 AM', '31-04-26 10:30 AM'));
    text = withLine(text, 13, (l) => l.replace(',0.00,"95,742.50"', ',0.00,"95,742.5O"'));
    const error = await refused(run, text, ['1,200.0', 'Debet', '31-04-26', '95,742.5O', 'CHANDA', '260972345678']);
    expect(error).toEqual({
      code: 'STATEMENT_LINES_INVALID', detail: '4 of 12 lines are invalid', badLines: 4,
      lines: [
        { line: 9, column: 'Transaction Amount', problem: 'not an unsigned amount with exactly 2 decimals' },
        { line: 10, column: 'Credit/Debit', problem: 'not one of Credit, Debit' },
        { line: 11, column: 'Transaction Date', problem: 'not a time DD-MM-YY hh:mm AM' },
        { line: 13, column: 'Balance', problem: 'not an amount with exactly 2 decimals' },
      ],
    });
  });

  test('when the same bytes are imported twice, then the second answer is the first reconciliation and nothing new is stored', async () => {
    const { run } = await airtelLedger(newAccount('airtel-zm'));
    await expectReplayed(run, () => airtelCsv);
  });
});
// ---- M-Pesa organisation portal statement, XLSX export ---------------------------------------------

const mpesaFixture = new URL('../fixtures/statements/mpesa-org-portal-every-class.csv', import.meta.url);

/**
 * The M-Pesa CSV fixture's rows with two more at the end: the charge of RCP0003 (15.00, as the
 * ledger's fee: matched) and the reversal of RCP0011 (a payout the ledger reversed: reversal); its
 * closing balance follows them. Each row is a list of cells as the portal's CSV export writes them.
 */
async function mpesaRows(): Promise<string[][]> {
  const text = (await readFile(mpesaFixture, 'utf8'))
    .replace('Closing Balance:,"5,009,225.00",Available Balance:,"5,009,225.00"', 'Closing Balance:,"5,009,290.00",Available Balance:,"5,009,290.00"')
    .concat(
      'RCP0003,10-05-2026 08:00:00,10-05-2026 08:00:00,B2C Payment Charge,Completed,,-15.00,"5,009,210.00","5,009,210.00",Business Payment to Customer Withdrawal Charge Paid,,,\r\n',
      'RCPR002,10-05-2026 09:00:00,10-05-2026 09:00:00,Reversal of RCP0011,Completed,80.00,,"5,009,290.00","5,009,290.00",Business Payment to Customer via API Reversal,2547****999 - HALIMA O,RCP0011,\r\n',
    );
  return text.split('\r\n').filter((l) => l !== '').map((l) => splitCsvLine(l)!);
}

/** An amount as Excel stores it in a number cell: no separators, no trailing fraction zeros (`-100.00` → -100). */
const excelNumber = (text: string): string => {
  const plain = text.replaceAll(',', '');
  return plain.includes('.') ? plain.replace(/0+$/, '').replace(/\.$/, '') : plain;
};
/** `DD-MM-YYYY HH:MM:SS` as the wall-clock time a date cell holds. */
const dateCell = (text: string): XlsxCell => {
  const m = /^(\d{2})-(\d{2})-(\d{4}) (\d{2}):(\d{2}):(\d{2})$/.exec(text)!;
  return { date: { day: Number(m[1]), month: Number(m[2]), year: Number(m[3]), hour: Number(m[4]), minute: Number(m[5]), second: Number(m[6]) } };
};

/**
 * The rows as the portal's XLSX export holds them: text as strings, every amount (the balances of
 * the header block too) a number cell, Completion Time and Initiation Time date-styled serials.
 */
function mpesaXlsx(rows: readonly string[][]): Buffer {
  const header = rows.findIndex((r) => r[0] === 'Receipt No.');
  return xlsxWorkbook(rows.map((cells, r) => cells.map((cell, c): XlsxCell => {
    if (cell === '') return null;
    if (r < header) return /^-?[\d,]+\.\d{2}$/.test(cell) ? { number: excelNumber(cell) } : cell;
    if (r === header) return cell;
    if (c === 1 || c === 2) return dateCell(cell);
    if (c >= 5 && c <= 8) return { number: excelNumber(cell) };
    return cell;
  })));
}

async function mpesaLedger(accountId: string): Promise<{ run: Run; ids: Map<string, string> }> {
  const s = await setUpProviderProgramme(persistence, { provider: 'mpesa', currency: 'KES', fundedMinor: 1n, floatMinor: 10_000_000_00n });
  const p = (receipt: string, amountMinor: bigint, state: LedgerPayout['state'], more: Partial<LedgerPayout> = {}): LedgerPayout => ({ receipt, amountMinor, state, accountId, ...more });
  const ids = await insertPayouts(s, [
    p('RCP0001', 10000n, 'paid'),
    p('RCP0002', 25000n, 'paid'),
    p('RCP0003', 10000n, 'paid'),
    p('RCP0004', 30000n, 'paid'),
    p('RCP0005', 5000n, 'failed'),
    p('RCP0006', 7500n, 'paid'),
    p('RCP0007', 8000n, 'paid', { paidAt: new Date('2026-05-10T09:00:00Z') }),
    p('RCP0008', 9000n, 'paid', { paidAt: new Date('2026-04-10T09:00:00Z') }),
    p('RCP0009', 6000n, 'paid', { accountId: `${accountId}-other` }),
    p('RCP0010', 3000n, 'failed'),
    p('RCP0011', 8000n, 'reversed', { paidAt: new Date('2026-05-09T12:00:00Z') }),
    p('RCP0012', 9500n, 'submitted', { attemptAt: new Date('2026-05-31T20:00:00Z') }),
  ]);
  await postPayoutFee(persistence, s, { provider: 'mpesa', currency: 'KES', payoutId: ids.get('RCP0003')!, feeMinor: 1500n });
  return { run: { s, accountId, currency: 'KES', format: 'mpesa-org-portal-xlsx@1', period: mayEat }, ids };
}

describe('an M-Pesa organisation portal statement, XLSX export (mpesa-org-portal-xlsx@1, KES)', () => {
  // Every class is expressible (charges are their own lines, on the payout's receipt; reversals name
  // their payout in Linked Transaction ID). Not expressible: a wrong currency (the export states none).
  test('when the workbook holds a row of every class, with number cells and date-styled serials, then each line and each payout of the period gets exactly one class, with exact amounts', async () => {
    const { run, ids } = await mpesaLedger(newAccount('mpesa-ke'));
    const book = mpesaXlsx(await mpesaRows());

    const r = await imported(run, book);

    expect([r.replayed, r.linesTotal, r.linesImported, r.linesRefused]).toEqual([false, 15, 15, 0]);
    expect([r.openingBalanceMinor, r.closingBalanceMinor]).toEqual([500_000_000n, 500_929_000n]);
    expect(r.counts).toEqual({
      // The payouts RCP0001, RCP0002 and RCP0010 (failed on both sides), and RCP0003's charge (15.00 against the ledger's fee of 15.00).
      matched: { count: 4, statementMinor: 39500n, ledgerMinor: 39500n },
      amount_over: { count: 1, statementMinor: 12000n, ledgerMinor: 10000n },
      amount_under: { count: 1, statementMinor: 29000n, ledgerMinor: 30000n },
      paid_not_in_ledger: { count: 1, statementMinor: 5000n, ledgerMinor: 5000n },
      status_mismatch: { count: 1, statementMinor: 7500n, ledgerMinor: 7500n },
      missing_at_provider: { count: 1, statementMinor: 0n, ledgerMinor: 8000n },
      timing: { count: 1, statementMinor: 0n, ledgerMinor: 9500n },
      duplicate_at_provider: { count: 1, statementMinor: 10000n, ledgerMinor: 0n },
      unknown_reference: { count: 2, statementMinor: 10000n, ledgerMinor: 0n },
      // The charge of RCP0001 (15.00) against a ledger that recorded no fee for it.
      fee_mismatch: { count: 1, statementMinor: 1500n, ledgerMinor: 0n },
      late_reversal: { count: 1, statementMinor: -25000n, ledgerMinor: 25000n },
      reversal: { count: 1, statementMinor: -8000n, ledgerMinor: 8000n },
      non_payout: { count: 1, statementMinor: -1_000_000n, ledgerMinor: 0n },
    });
    expect(r.balances).toEqual({
      linesNetMinor: 929_000n, total: { expectedClosingMinor: 500_929_000n, closingMinor: 500_929_000n, ok: true }, order: 'oldest-first', runningBreaks: 0, breaks: [],
    });
    const id = (receipt: string) => ids.get(receipt)!;
    // The worksheet's rows are the lines: the header block 1-6, the column-header row 7, the data rows 8-22.
    expect(await itemsOf(r.statementId)).toEqual([
      [8, 'matched', id('RCP0001')], [9, 'fee_mismatch', id('RCP0001')], [10, 'matched', id('RCP0002')], [11, 'amount_over', id('RCP0003')],
      [12, 'amount_under', id('RCP0004')], [13, 'paid_not_in_ledger', id('RCP0005')], [14, 'status_mismatch', id('RCP0006')],
      [15, 'unknown_reference', null], [16, 'unknown_reference', null], [17, 'duplicate_at_provider', null], [18, 'non_payout', null],
      [19, 'late_reversal', id('RCP0002')], [20, 'matched', id('RCP0010')], [21, 'matched', id('RCP0003')], [22, 'reversal', id('RCP0011')],
      [null, 'missing_at_provider', id('RCP0007')], [null, 'timing', id('RCP0012')],
    ]);
    expect(await storedOf(run.accountId)).toEqual({ statements: 1, lines: 15, items: 17, files: 1, checks: 0, staging: 0 });
    await expectNothingOf(r.statementId, ['AMINA', 'JOHN K', 'HALIMA', '2547****', 'UNHCR KENYA', 'Business Payment to']);
    // The sealed chunks open to the workbook's bytes as uploaded.
    const chunks = await database.pool.query<{ sealed: Buffer }>('SELECT sealed FROM statement_files WHERE statement_id = $1 ORDER BY chunk_no', [r.statementId]);
    const opened = await Promise.all(chunks.rows.map((c, i) => openStatementFileChunk(vault, r.statementId, i, 'deflate', c.sealed)));
    expect(Buffer.concat(opened).equals(book)).toBe(true);
  });

  test('when a cell is malformed, then its row is named by line and column, its content is not echoed, and nothing is stored', async () => {
    const { run } = await mpesaLedger(newAccount('mpesa-ke'));
    const rows = await mpesaRows();
    // Row 10 (RCP0002): a withdrawal of three decimals; row 12 (RCP0004): a status the format does not know.
    rows[9]![6] = '-250.005';
    rows[11]![4] = 'Pending';
    const error = await refused(run, mpesaXlsx(rows), ['250.005', 'Pending', 'JOHN K', 'PETER O']);
    expect(error).toEqual({
      code: 'STATEMENT_LINES_INVALID', detail: '2 of 15 lines are invalid', badLines: 2,
      lines: [
        { line: 10, column: 'Withdrawn', problem: 'not an amount with at most 2 decimals' },
        { line: 12, column: 'Transaction Status', problem: 'not a status of the format' },
      ],
    });
  });

  test('when the upload is no zip, or a zip cut short, then the file is refused as not an XLSX file and nothing is stored', async () => {
    const { run } = await mpesaLedger(newAccount('mpesa-ke'));
    const csvAsXlsx = await refused(run, await readFile(mpesaFixture), ['AMINA', 'RCP0001']);
    expect(csvAsXlsx.code).toBe('STATEMENT_FILE_INVALID');
    const book = mpesaXlsx(await mpesaRows());
    const cut = await refused(run, book.subarray(0, Math.floor(book.length / 2)), ['AMINA', 'RCP0001']);
    expect(cut.code).toBe('STATEMENT_FILE_INVALID');
  });

  test('when the same bytes are imported twice, then the second answer is the first reconciliation and nothing new is stored', async () => {
    const { run } = await mpesaLedger(newAccount('mpesa-ke'));
    const book = mpesaXlsx(await mpesaRows());
    await expectReplayed(run, () => book);
  });
});
// ---- bank statements: MT940 and camt.053 -----------------------------------------------------------

/**
 * The bank account's ledger: payouts whose provider reference is the bank's own reference of the
 * entry (AcctSvcrRef; the `//` reference of `:61:`), which is what the entries CSV's Entry
 * Reference holds and what a line is matched on. (Our end-to-end reference is stored as Our
 * Reference but not matched on.) Fees as payout_fee transfers: 100.00 for PAY01, 50.00 for PAY04.
 */
async function bankLedger(accountId: string, period: Run['period'], format: string): Promise<{ run: Run; ids: Map<string, string> }> {
  const s = await setUpProviderProgramme(persistence, { provider: 'mpesa', currency: 'KES', fundedMinor: 1n, floatMinor: 10_000_000_00n });
  const p = (receipt: string, amountMinor: bigint, state: LedgerPayout['state'], more: Partial<LedgerPayout> = {}): LedgerPayout => ({ receipt, amountMinor, state, accountId, ...more });
  const ids = await insertPayouts(s, [
    p('FT26152PAY01', 1000_00n, 'paid', { paidAt: new Date('2026-06-01T08:00:00Z') }),
    p('FT26152PAY02', 1000_00n, 'paid', { paidAt: new Date('2026-06-01T08:00:00Z') }),
    p('FT26152PAY03', 1000_00n, 'paid', { paidAt: new Date('2026-06-01T08:00:00Z') }),
    p('FT26152PAY04', 800_00n, 'paid', { paidAt: new Date('2026-06-01T08:00:00Z') }),
    p('FT26152PAY05', 500_00n, 'failed', { paidAt: new Date('2026-06-01T08:00:00Z') }),
    p('FT26152PAY07', 700_00n, 'reversed', { paidAt: new Date('2026-05-20T08:00:00Z') }),
    p('FT26152PAY08', 1800_00n, 'paid', { paidAt: new Date('2026-06-01T12:00:00Z') }),
    p('FT26152PAY09', 2200_00n, 'submitted', { attemptAt: new Date('2026-06-01T15:00:00Z') }),
  ]);
  await postPayoutFee(persistence, s, { provider: 'mpesa', currency: 'KES', payoutId: ids.get('FT26152PAY01')!, feeMinor: 100_00n });
  await postPayoutFee(persistence, s, { provider: 'mpesa', currency: 'KES', payoutId: ids.get('FT26152PAY04')!, feeMinor: 50_00n });
  return { run: { s, accountId, currency: 'KES', format, period }, ids };
}

/** The classes of both bank statements: the same entries, in the same order, against bankLedger. */
const bankCounts = {
  // PAY01 and PAY04, and PAY04's charge (50.00 against the ledger's fee of 50.00).
  matched: { count: 3, statementMinor: 1850_00n, ledgerMinor: 1850_00n },
  amount_over: { count: 1, statementMinor: 1200_00n, ledgerMinor: 1000_00n },
  amount_under: { count: 1, statementMinor: 900_00n, ledgerMinor: 1000_00n },
  // PAY01's charge: 150.00, the ledger's fee 100.00.
  fee_mismatch: { count: 1, statementMinor: 150_00n, ledgerMinor: 100_00n },
  paid_not_in_ledger: { count: 1, statementMinor: 500_00n, ledgerMinor: 500_00n },
  unknown_reference: { count: 1, statementMinor: 300_00n, ledgerMinor: 0n },
  duplicate_at_provider: { count: 1, statementMinor: 1000_00n, ledgerMinor: 0n },
  reversal: { count: 1, statementMinor: -700_00n, ledgerMinor: 0n },
  // The funding (100,000.00 in) and the bank's maintenance fee (25.00, a charge of no payout).
  non_payout: { count: 2, statementMinor: -99_975_00n, ledgerMinor: 0n },
  missing_at_provider: { count: 1, statementMinor: 0n, ledgerMinor: 1800_00n },
  timing: { count: 1, statementMinor: 0n, ledgerMinor: 2200_00n },
};
/** The entries CSV's preamble is 6 lines: the entries are lines 7 to 18. */
const bankItems = (id: (ref: string) => string) => [
  [7, 'matched', id('FT26152PAY01')], [8, 'amount_over', id('FT26152PAY02')], [9, 'amount_under', id('FT26152PAY03')],
  [10, 'fee_mismatch', id('FT26152PAY01')], [11, 'matched', id('FT26152PAY04')], [12, 'matched', id('FT26152PAY04')],
  [13, 'paid_not_in_ledger', id('FT26152PAY05')], [14, 'unknown_reference', null], [15, 'duplicate_at_provider', null],
  [16, 'reversal', null], [17, 'non_payout', null], [18, 'non_payout', null],
  [null, 'missing_at_provider', id('FT26152PAY08')], [null, 'timing', id('FT26152PAY09')],
];
/** Opening 5,000,000.00 + 100,700.00 in - 5,925.00 out = 5,094,775.00; no running balance on entries. */
const bankBalances = {
  linesNetMinor: 94_775_00n, total: { expectedClosingMinor: 5_094_775_00n, closingMinor: 5_094_775_00n, ok: true }, order: null, runningBreaks: 0, breaks: [],
};
const bankClear = ['AMINA', 'JOSEPH', 'MARY', 'PETER', 'GRACE', 'ALI HASSAN', 'SARA', 'UNHCR', '1234567890123', 'KCBLKENX', 'WALLET CLOSED',
  '254712345678', '254722000111', '254733000222', '254744000333', '254755000444', '254766000555', '254777000666'];

// MT940: 1 June to 2 June 2026 (its dates are UTC days: :60F: opens the first, :62F: closes the last).
const mt940Period = { from: new Date('2026-06-01T00:00:00Z'), to: new Date('2026-06-03T00:00:00Z') };
const mt940Lines = [
  '{1:F01KCBLKENXAXXX0000000000}{2:O9400615260602KCBLKENXAXXX00000000002606020615N}{4:',
  ':20:STMT260602-0154',
  ':25:KCBLKENX/1234567890123',
  ':28C:154/1',
  ':60F:C260601KES5000000,00',
  ':61:2606010601D1000,00NTRFTUMA-M1//FT26152PAY01',
  ':86:BULK MOBILE MONEY PAYMENT',
  'AMINA WANJIRU OTIENO 254712345678',
  ':61:2606010601D1200,00NTRFTUMA-M2//FT26152PAY02',
  ':86:PAYMENT TO JOSEPH KAMAU MWANGI 254722000111',
  ':61:2606010601D900,00NTRFTUMA-M3//FT26152PAY03',
  ':86:PAYMENT TO MARY WAIRIMU 254733000222',
  ':61:2606010601D150,00NCHGTUMA-M1//FT26152PAY01',
  ':86:TRANSFER CHARGES TUMA-M1',
  ':61:2606010601D800,00NTRFTUMA-M4//FT26152PAY04',
  ':86:PAYMENT TO PETER OCHIENG 254744000333',
  ':61:2606010601D50,00NCHGTUMA-M4//FT26152PAY04',
  ':86:TRANSFER CHARGES TUMA-M4',
  ':61:2606010601D500,00NTRFTUMA-M5//FT26152PAY05',
  ':86:PAYMENT TO GRACE NJERI 254755000444',
  ':61:2606010601D300,00NTRFTUMA-M6//FT26152PAY06',
  ':86:PAYMENT TO ALI HASSAN 254766000555',
  ':61:2606020602D1000,00NTRFTUMA-M1//FT26152PAY01',
  ':86:BULK MOBILE MONEY PAYMENT AMINA WANJIRU OTIENO 254712345678',
  ':61:2606020602RD700,00NTRFTUMA-M7//FT26153REV01',
  ':86:RETURN - WALLET CLOSED',
  'SARA BAKARI 254777000666',
  ':61:2606020602C100000,00NTRFNONREF//FT26153TOP01',
  ':86:FUNDING FROM UNHCR NAIROBI',
  ':61:2606020602D25,00NCHGNONREF//FT26153CHG02',
  ':86:ACCOUNT MAINTENANCE FEE',
  ':62F:C260602KES5094775,00',
  ':64:C260602KES5094775,00',
  '-}',
];
const mt940Of = (lines: readonly string[]) => `${lines.join('\r\n')}\r\n`;
const mt940 = mt940Of(mt940Lines);
/** mt940Lines with the line starting `prefix` changed. */
const mt940With = (prefix: string, change: (line: string) => string) => mt940Of(mt940Lines.map((l) => (l.startsWith(prefix) ? change(l) : l)));

describe('an MT940 customer statement (mt940@1, KES)', () => {
  // Not expressible: status_mismatch (every MT940 entry is booked: there is no failed entry), and
  // late_reversal (an `RD`/`RC` entry names no entry it reverses: the entries CSV's Linked
  // Reference stays empty, so a reversal is `reversal` with no payout). A bank charge names its
  // payment only when the bank books it under the payment's own reference (PAY01, PAY04 here):
  // that is the only way fee_mismatch (or a matched charge) arises; a charge of its own is non_payout.
  test('when a statement holds an entry of every class MT940 can express, then each line and each payout of the period gets exactly one class, with exact amounts', async () => {
    const { run, ids } = await bankLedger(newAccount('bank-kcb'), mt940Period, 'mt940@1');

    const r = await imported(run, mt940);

    expect([r.replayed, r.linesTotal, r.linesImported, r.linesRefused]).toEqual([false, 12, 12, 0]);
    expect([r.openingBalanceMinor, r.closingBalanceMinor]).toEqual([5_000_000_00n, 5_094_775_00n]);
    expect(r.counts).toEqual(bankCounts);
    expect(r.balances).toEqual(bankBalances);
    expect(await itemsOf(r.statementId)).toEqual(bankItems((ref) => ids.get(ref)!));
    // What the entries keep of :61:: the bank's reference, the value date (00:00 UTC), our reference; never :86:.
    const line = await database.pool.query('SELECT provider_transaction_id, completed_at, our_reference, kind FROM statement_lines WHERE statement_id = $1 AND line_no IN (7, 16) ORDER BY line_no', [r.statementId]);
    expect(line.rows).toEqual([
      { provider_transaction_id: 'FT26152PAY01', completed_at: new Date('2026-06-01T00:00:00Z'), our_reference: 'TUMA-M1', kind: 'payout' },
      { provider_transaction_id: 'FT26153REV01', completed_at: new Date('2026-06-02T00:00:00Z'), our_reference: 'TUMA-M7', kind: 'reversal' },
    ]);
    expect(await storedOf(run.accountId)).toEqual({ statements: 1, lines: 12, items: 14, files: 1, checks: 0, staging: 0 });
    await expectNothingOf(r.statementId, bankClear);
  });

  test('when the closing balance does not add up, then the total check fails and is stored, the classes unchanged', async () => {
    const { run } = await bankLedger(newAccount('bank-kcb'), mt940Period, 'mt940@1');
    const r = await imported(run, mt940With(':62F:', () => ':62F:C260602KES5094770,00'));
    expect(r.balances).toEqual({ ...bankBalances, total: { expectedClosingMinor: 5_094_775_00n, closingMinor: 5_094_770_00n, ok: false } });
    const checks = await database.pool.query('SELECT check_no, kind, line_no, expected_minor::text, actual_minor::text FROM statement_checks WHERE statement_id = $1', [r.statementId]);
    expect(checks.rows).toEqual([{ check_no: 0, kind: 'balance_total', line_no: null, expected_minor: '509477500', actual_minor: '509477000' }]);
    expect(r.counts).toEqual(bankCounts);
  });

  test('when an entry is dated outside the statement\'s days, then its line is named by column and nothing is stored', async () => {
    const { run } = await bankLedger(newAccount('bank-kcb'), mt940Period, 'mt940@1');
    const error = await refused(run, mt940With(':61:2606010601D900,00', (l) => l.replace('2606010601', '2606050605')), bankClear);
    expect(error.code).toBe('STATEMENT_LINES_INVALID');
    expect(error.badLines).toBe(1);
    expect(error.lines?.map((l) => [l.column, l.problem])).toEqual([['Booked At', 'outside the statement\'s period']]);
  });

  test('when a :61: line is malformed, then the reader refuses the file naming the line, quoting nothing, and nothing is stored', async () => {
    const { run } = await bankLedger(newAccount('bank-kcb'), mt940Period, 'mt940@1');
    // Line 11 of the file: 31 June.
    const error = await refused(run, mt940With(':61:2606010601D900,00', (l) => l.replace('2606010601', '2606310601')), [...bankClear, '260631', 'FT26152PAY03']);
    expect(error.code).toBe('STATEMENT_FILE_INVALID');
    expect(error.detail).toMatch(/^line 11: .*:61: its value date is no calendar date$/);
  });

  // The importer's refusal of a bank file names the entry's line in the file uploaded (the reader
  // writes it as the Source Line column), as the readers' own refusals do: never the line of the
  // entries CSV the reader wrote (its 6-line preamble, then one line per entry), where line 9 would
  // be the second :61: (fine) instead of the third.
  it('when the importer refuses an entry of an MT940 file, then the entry is named by its line in that file', async () => {
    const { run } = await bankLedger(newAccount('bank-kcb'), mt940Period, 'mt940@1');
    const error = await refused(run, mt940With(':61:2606010601D900,00', (l) => l.replace('2606010601', '2606050605')), bankClear);
    expect(error.lines).toEqual([{ line: 11, column: 'Booked At', problem: 'outside the statement\'s period' }]);
  });

  // The reader's refusal names its own place once.
  it('when the MT940 reader refuses a line, then the refusal names that line once', async () => {
    const { run } = await bankLedger(newAccount('bank-kcb'), mt940Period, 'mt940@1');
    const error = await refused(run, mt940With(':61:2606010601D900,00', (l) => l.replace('2606010601', '2606310601')), bankClear);
    expect(error).toEqual({ code: 'STATEMENT_FILE_INVALID', detail: 'line 11: :61: its value date is no calendar date' });
  });

  // An amount with more decimals than the currency's is refused, never read as 0.
  it('when an MT940 amount has more decimals than the currency, then its line is refused, never read as zero', async () => {
    const { run } = await bankLedger(newAccount('bank-kcb'), mt940Period, 'mt940@1');
    const error = await refused(run, mt940With(':61:2606010601D900,00', (l) => l.replace('D900,00', 'D900,005')), bankClear);
    expect(error.code).toBe('STATEMENT_LINES_INVALID');
    expect(error.lines?.map((l) => [l.column, l.problem])).toEqual([['Amount', 'not an amount with at most 2 decimals']]);
  });

  test('when the statement is in another currency than the account, then it is refused', async () => {
    const { run } = await bankLedger(newAccount('bank-kcb'), mt940Period, 'mt940@1');
    const usd = mt940Of(mt940Lines.map((l) => l.replace('KES', 'USD')));
    const error = await refused(run, usd, bankClear);
    expect(error).toEqual({ code: 'STATEMENT_CURRENCY_MISMATCH', detail: 'the statement is in USD, the account in KES' });
  });

  test('when the file is cut short before its closing balance, then the reader refuses it and nothing is stored', async () => {
    const { run } = await bankLedger(newAccount('bank-kcb'), mt940Period, 'mt940@1');
    const error = await refused(run, mt940Of(mt940Lines.slice(0, 25)), bankClear);
    expect(error).toEqual({ code: 'STATEMENT_FILE_INVALID', detail: 'missing :62F: (the closing balance): the file may be cut short' });
  });

  test('when the same bytes are imported twice, then the second answer is the first reconciliation and nothing new is stored', async () => {
    const { run } = await bankLedger(newAccount('bank-kcb'), mt940Period, 'mt940@1');
    await expectReplayed(run, () => mt940);
  });
});


// camt.053: 1 and 2 June 2026 in Nairobi (FrToDt at +03:00), booking times with their offsets.
const camtPeriod = { from: new Date('2026-05-31T21:00:00Z'), to: new Date('2026-06-02T21:00:00Z') };

interface CamtEntry {
  readonly ref: string;
  readonly amount: string;
  readonly side: 'DBIT' | 'CRDT';
  /** `2026-06-01T10:00:00+03:00` (BookgDt/DtTm) or `2026-06-01` (BookgDt/Dt). */
  readonly booked: string;
  readonly subFamily: 'DMCT' | 'CHRG' | 'RRTN';
  readonly reversal?: boolean;
  readonly status?: string;
  readonly endToEnd?: string;
  /** The party paid (or paying), in clear, as banks write it. */
  readonly party?: { readonly name: string; readonly number: string };
  readonly narrative?: string;
}

function camtXml(o: { currency: string; opening: string; closing: string; entries: readonly CamtEntry[] }): string {
  const ccy = o.currency;
  const balance = (type: string, amount: string, day: string) =>
    `<Bal><Tp><CdOrPrtry><Cd>${type}</Cd></CdOrPrtry></Tp><Amt Ccy="${ccy}">${amount}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>${day}</Dt></Dt></Bal>`;
  const entry = (e: CamtEntry) => [
    '<Ntry>',
    `<Amt Ccy="${ccy}">${e.amount}</Amt><CdtDbtInd>${e.side}</CdtDbtInd>`,
    e.reversal ? '<RvslInd>true</RvslInd>' : '',
    `<Sts>${e.status ?? 'BOOK'}</Sts>`,
    e.booked.includes('T') ? `<BookgDt><DtTm>${e.booked}</DtTm></BookgDt>` : `<BookgDt><Dt>${e.booked}</Dt></BookgDt>`,
    `<ValDt><Dt>${e.booked.slice(0, 10)}</Dt></ValDt>`,
    `<AcctSvcrRef>${e.ref}</AcctSvcrRef>`,
    `<BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>${e.side === 'DBIT' ? 'ICDT' : 'RCDT'}</Cd><SubFmlyCd>${e.subFamily}</SubFmlyCd></Fmly></Domn></BkTxCd>`,
    e.endToEnd || e.party
      ? `<NtryDtls><TxDtls><Refs><AcctSvcrRef>${e.ref}</AcctSvcrRef>${e.endToEnd ? `<EndToEndId>${e.endToEnd}</EndToEndId>` : ''}</Refs>`
        + (e.party ? `<RltdPties><Cdtr><Nm>${e.party.name}</Nm></Cdtr><CdtrAcct><Id><Othr><Id>${e.party.number}</Id></Othr></Id></CdtrAcct></RltdPties>` : '')
        + (e.narrative ? `<RmtInf><Ustrd>${e.narrative}</Ustrd></RmtInf>` : '')
        + '</TxDtls></NtryDtls>'
      : '',
    e.narrative ? `<AddtlNtryInf>${e.narrative}</AddtlNtryInf>` : '',
    '</Ntry>',
  ].join('');
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">',
    '<BkToCstmrStmt><GrpHdr><MsgId>KCB-053-20260603-000154</MsgId><CreDtTm>2026-06-03T06:15:00+03:00</CreDtTm></GrpHdr>',
    '<Stmt><Id>1234567890123-20260602</Id><ElctrncSeqNb>154</ElctrncSeqNb><CreDtTm>2026-06-03T06:15:00+03:00</CreDtTm>',
    '<FrToDt><FrDtTm>2026-06-01T00:00:00+03:00</FrDtTm><ToDtTm>2026-06-02T23:59:59.999+03:00</ToDtTm></FrToDt>',
    `<Acct><Id><Othr><Id>1234567890123</Id></Othr></Id><Ccy>${ccy}</Ccy><Ownr><Nm>UNHCR KENYA CASH PROGRAMME</Nm></Ownr><Svcr><FinInstnId><BIC>KCBLKENX</BIC></FinInstnId></Svcr></Acct>`,
    balance('OPBD', o.opening, '2026-06-01'),
    balance('CLBD', o.closing, '2026-06-02'),
    ...o.entries.map(entry),
    '</Stmt></BkToCstmrStmt></Document>',
    '',
  ].join('\n');
}

/** The bank entries of the MT940 statement, as camt.053 writes them. */
const camtEntries: readonly CamtEntry[] = [
  { ref: 'FT26152PAY01', amount: '1000.00', side: 'DBIT', booked: '2026-06-01T10:00:00+03:00', subFamily: 'DMCT', endToEnd: 'TUMA-M1', party: { name: 'AMINA WANJIRU OTIENO', number: '254712345678' }, narrative: 'BULK MOBILE MONEY PAYMENT AMINA WANJIRU OTIENO' },
  { ref: 'FT26152PAY02', amount: '1200', side: 'DBIT', booked: '2026-06-01T10:05:00+03:00', subFamily: 'DMCT', endToEnd: 'TUMA-M2', party: { name: 'JOSEPH KAMAU MWANGI', number: '254722000111' } },
  { ref: 'FT26152PAY03', amount: '900.00', side: 'DBIT', booked: '2026-06-01T10:10:00+03:00', subFamily: 'DMCT', endToEnd: 'TUMA-M3', party: { name: 'MARY WAIRIMU', number: '254733000222' } },
  { ref: 'FT26152PAY01', amount: '150.00', side: 'DBIT', booked: '2026-06-01T10:00:01+03:00', subFamily: 'CHRG', narrative: 'TRANSFER CHARGES TUMA-M1' },
  { ref: 'FT26152PAY04', amount: '800.00', side: 'DBIT', booked: '2026-06-01', subFamily: 'DMCT', endToEnd: 'TUMA-M4', party: { name: 'PETER OCHIENG', number: '254744000333' } },
  { ref: 'FT26152PAY04', amount: '50.00', side: 'DBIT', booked: '2026-06-01', subFamily: 'CHRG', narrative: 'TRANSFER CHARGES TUMA-M4' },
  { ref: 'FT26152PAY05', amount: '500.00', side: 'DBIT', booked: '2026-06-01T14:00:00+03:00', subFamily: 'DMCT', endToEnd: 'TUMA-M5', party: { name: 'GRACE NJERI', number: '254755000444' } },
  { ref: 'FT26152PAY06', amount: '300.00', side: 'DBIT', booked: '2026-06-01T14:30:00+03:00', subFamily: 'DMCT', endToEnd: 'TUMA-M6', party: { name: 'ALI HASSAN', number: '254766000555' } },
  { ref: 'FT26152PAY01', amount: '1000.00', side: 'DBIT', booked: '2026-06-02T09:00:00+03:00', subFamily: 'DMCT', endToEnd: 'TUMA-M1', party: { name: 'AMINA WANJIRU OTIENO', number: '254712345678' } },
  { ref: 'FT26153REV01', amount: '700.00', side: 'CRDT', reversal: true, booked: '2026-06-02T08:05:41Z', subFamily: 'RRTN', endToEnd: 'TUMA-M7', party: { name: 'SARA BAKARI', number: '254777000666' }, narrative: 'RETURN - WALLET CLOSED' },
  { ref: 'FT26153TOP01', amount: '100000.00', side: 'CRDT', booked: '2026-06-02', subFamily: 'DMCT', endToEnd: 'NOTPROVIDED', narrative: 'FUNDING FROM UNHCR NAIROBI' },
  { ref: 'FT26153CHG02', amount: '25.00', side: 'DBIT', booked: '2026-06-02T23:30:00+03:00', subFamily: 'CHRG', narrative: 'ACCOUNT MAINTENANCE FEE' },
];
const camt = camtXml({ currency: 'KES', opening: '5000000.00', closing: '5094775.00', entries: camtEntries });

describe('an ISO 20022 camt.053 statement (camt053@1, KES)', () => {
  // Not expressible: status_mismatch (a statement's entries are booked; any other Sts, e.g. PDNG, is
  // refused as no status of the format), and late_reversal (RvslInd marks a reversal, but the entry
  // names no entry it reverses: Linked Reference stays empty, so it is `reversal` with no payout).
  // A charge names its payment only when booked under the payment's AcctSvcrRef (PAY01, PAY04).
  test('when a statement holds an entry of every class camt.053 can express, then each line and each payout of the period gets exactly one class, with exact amounts', async () => {
    const { run, ids } = await bankLedger(newAccount('bank-kcb'), camtPeriod, 'camt053@1');

    const r = await imported(run, camt);

    expect([r.replayed, r.linesTotal, r.linesImported, r.linesRefused]).toEqual([false, 12, 12, 0]);
    expect([r.openingBalanceMinor, r.closingBalanceMinor]).toEqual([5_000_000_00n, 5_094_775_00n]);
    expect(r.counts).toEqual(bankCounts);
    expect(r.balances).toEqual(bankBalances);
    expect(await itemsOf(r.statementId)).toEqual(bankItems((ref) => ids.get(ref)!));
    // Booking times in UTC (a date alone is 00:00 UTC of it); EndToEndId kept as our reference, NOTPROVIDED dropped.
    const lines = await database.pool.query('SELECT line_no, completed_at, our_reference FROM statement_lines WHERE statement_id = $1 AND line_no IN (7, 11, 17) ORDER BY line_no', [r.statementId]);
    expect(lines.rows).toEqual([
      { line_no: 7, completed_at: new Date('2026-06-01T07:00:00Z'), our_reference: 'TUMA-M1' },
      { line_no: 11, completed_at: new Date('2026-06-01T00:00:00Z'), our_reference: 'TUMA-M4' },
      { line_no: 17, completed_at: new Date('2026-06-02T00:00:00Z'), our_reference: null },
    ]);
    expect(await storedOf(run.accountId)).toEqual({ statements: 1, lines: 12, items: 14, files: 1, checks: 0, staging: 0 });
    await expectNothingOf(r.statementId, bankClear);
  });

  test('when an entry is not booked, then its line is named by line and column, and nothing is stored', async () => {
    const { run } = await bankLedger(newAccount('bank-kcb'), camtPeriod, 'camt053@1');
    const pending = camtXml({ currency: 'KES', opening: '5000000.00', closing: '5094775.00', entries: camtEntries.map((e, i) => (i === 2 ? { ...e, status: 'PDNG' } : e)) });
    const error = await refused(run, pending, [...bankClear, 'PDNG']);
    expect(pending.split('\n')[10]).toMatch(/<Ntry>.*PDNG/);
    expect(error).toEqual({
      code: 'STATEMENT_LINES_INVALID', detail: '1 of 12 lines are invalid', badLines: 1,
      // The third entry, named by its line in the XML uploaded (the reader's Source Line), not in the entries CSV the reader wrote.
      lines: [{ line: 11, column: 'Status', problem: 'not a status of the format' }],
    });
  });

  test('when the statement is in another currency than the account, then it is refused', async () => {
    const { run } = await bankLedger(newAccount('bank-kcb'), camtPeriod, 'camt053@1');
    const usd = camtXml({ currency: 'USD', opening: '5000000.00', closing: '5094775.00', entries: camtEntries });
    const error = await refused(run, usd, bankClear);
    expect(error).toEqual({ code: 'STATEMENT_CURRENCY_MISMATCH', detail: 'the statement is in USD, the account in KES' });
  });

  test('when the XML is cut short, then the reader refuses it, quoting nothing, and nothing is stored', async () => {
    const { run } = await bankLedger(newAccount('bank-kcb'), camtPeriod, 'camt053@1');
    const cut = camt.slice(0, camt.indexOf('FT26152PAY05') + 5);
    const error = await refused(run, cut, [...bankClear, 'FT26152']);
    expect(error.code).toBe('STATEMENT_FILE_INVALID');
    expect(error.detail).toMatch(/^not well-formed XML at XML line \d+, column \d+/);
  });

  test('when the same bytes are imported twice, then the second answer is the first reconciliation and nothing new is stored', async () => {
    const { run } = await bankLedger(newAccount('bank-kcb'), camtPeriod, 'camt053@1');
    await expectReplayed(run, () => camt);
  });
});

// ---- GSMA Mobile Money API statement entries -------------------------------------------------------

/**
 * The runtime's readers know no `gsma-statemententries` container (see the test below); a pulled
 * GSMA statement is already the entries CSV, so these tests pass it through unchanged.
 */
const gsmaReaders: ImportStatementDeps['readers'] = { ...statementReaders, 'gsma-statemententries': () => new PassThrough() };

/** 1 June 2026, UTC (the entries CSV's times are UTC). */
const gsmaDay = { from: new Date('2026-06-01T00:00:00Z'), to: new Date('2026-06-02T00:00:00Z') };

/**
 * The entries CSV as pullStatementEntries writes it for walletid/1 (entriesPreamble, then one line per
 * entry, newest first as the API lists them): Booked or Failed, the amount signed (negative when our
 * account is the debit party), the kind (`payout` for a disbursement, `reversal` naming the reversed
 * transaction, `other` for a credit), no Our Reference and no Balance (the entries carry neither).
 */
const gsmaEntry = (ref: string, at: string, status: 'Booked' | 'Failed', amount: string, type: 'payout' | 'reversal' | 'other', linked = '') =>
  `${ref},2026-06-01 ${at},${status},${amount},${type},${linked},,\r\n`;
const gsmaCsv = entriesPreamble(gsmaStatementEntriesV1, { account: 'walletid/1', currency: 'SLE', from: '2026-06-01 00:00:00', to: '2026-06-01 23:59:59' }) + [
  gsmaEntry('TXN-0010', '18:00:00', 'Failed', '-60.00', 'payout'),
  gsmaEntry('DEP-0009', '17:00:00', 'Booked', '5000.00', 'other'),
  gsmaEntry('REV-0008', '16:00:00', 'Booked', '90.00', 'reversal', 'TXN-0108'),
  gsmaEntry('REV-0007', '15:00:00', 'Booked', '70.00', 'reversal', 'TXN-0107'),
  gsmaEntry('TXN-0001', '14:00:00', 'Booked', '-100.00', 'payout'),
  gsmaEntry('TXN-0006', '13:00:00', 'Booked', '-40.00', 'payout'),
  gsmaEntry('TXN-0005', '12:00:00', 'Booked', '-75.00', 'payout'),
  gsmaEntry('TXN-0004', '11:00:00', 'Failed', '-50.00', 'payout'),
  gsmaEntry('TXN-0003', '10:00:00', 'Booked', '-90.00', 'payout'),
  gsmaEntry('TXN-0002', '09:00:00', 'Booked', '-120.00', 'payout'),
  gsmaEntry('TXN-0001', '08:00:00', 'Booked', '-100.00', 'payout'),
].join('');

const gsmaProgramme = () => setUpProviderProgramme(persistence, { provider: 'gsma', currency: 'SLE', fundedMinor: 1n, floatMinor: 1_000_000_00n });

async function gsmaLedger(accountId: string): Promise<{ run: Run; ids: Map<string, string> }> {
  const s = await gsmaProgramme();
  const p = (receipt: string, amountMinor: bigint, state: LedgerPayout['state'], more: Partial<LedgerPayout> = {}): LedgerPayout =>
    ({ receipt, amountMinor, state, accountId, currency: 'SLE', provider: 'gsma', paidAt: new Date('2026-06-01T08:30:00Z'), ...more });
  const ids = await insertPayouts(s, [
    p('TXN-0001', 100_00n, 'paid'),
    p('TXN-0002', 100_00n, 'paid'),
    p('TXN-0003', 100_00n, 'paid'),
    p('TXN-0004', 50_00n, 'paid'),
    p('TXN-0005', 75_00n, 'failed'),
    p('TXN-0010', 60_00n, 'failed'),
    // Reversed by the ledger, and reversed at the provider: reversal. Paid by the ledger in May, its money back now: late_reversal.
    p('TXN-0107', 70_00n, 'reversed', { paidAt: new Date('2026-05-28T10:00:00Z') }),
    p('TXN-0108', 90_00n, 'paid', { paidAt: new Date('2026-05-28T10:00:00Z') }),
    p('TXN-0020', 180_00n, 'paid', { paidAt: new Date('2026-06-01T19:00:00Z') }),
    p('TXN-0021', 220_00n, 'submitted', { attemptAt: new Date('2026-06-01T23:00:00Z') }),
  ]);
  return { run: { s, accountId, currency: 'SLE', format: 'gsma-statemententries@1', period: gsmaDay }, ids };
}

describe('GSMA Mobile Money API statement entries (gsma-statemententries@1, SLE)', () => {
  // Not expressible: fee_mismatch (an entry carries no fee: GSMA puts fees in the transaction's
  // fees[], which the pull does not read, and lists no charge entries), and the balance checks (the
  // entries state no balances, and no running balance).
  test('when the entries hold a line of every class GSMA can express, then each line and each payout of the period gets exactly one class, with exact amounts', async () => {
    const { run, ids } = await gsmaLedger(newAccount('gsma-sl'));

    const r = await imported(run, gsmaCsv, gsmaReaders);

    expect([r.replayed, r.linesTotal, r.linesImported, r.linesRefused]).toEqual([false, 11, 11, 0]);
    expect([r.openingBalanceMinor, r.closingBalanceMinor]).toEqual([null, null]);
    expect(r.counts).toEqual({
      // TXN-0001's first line in the file (line 9) and TXN-0010, failed on both sides.
      matched: { count: 2, statementMinor: 160_00n, ledgerMinor: 160_00n },
      amount_over: { count: 1, statementMinor: 120_00n, ledgerMinor: 100_00n },
      amount_under: { count: 1, statementMinor: 90_00n, ledgerMinor: 100_00n },
      status_mismatch: { count: 1, statementMinor: 50_00n, ledgerMinor: 50_00n },
      paid_not_in_ledger: { count: 1, statementMinor: 75_00n, ledgerMinor: 75_00n },
      unknown_reference: { count: 1, statementMinor: 40_00n, ledgerMinor: 0n },
      duplicate_at_provider: { count: 1, statementMinor: 100_00n, ledgerMinor: 0n },
      reversal: { count: 1, statementMinor: -70_00n, ledgerMinor: 70_00n },
      late_reversal: { count: 1, statementMinor: -90_00n, ledgerMinor: 90_00n },
      non_payout: { count: 1, statementMinor: -5000_00n, ledgerMinor: 0n },
      missing_at_provider: { count: 1, statementMinor: 0n, ledgerMinor: 180_00n },
      timing: { count: 1, statementMinor: 0n, ledgerMinor: 220_00n },
    });
    expect(r.balances).toEqual({ linesNetMinor: 4635_00n, total: null, order: null, runningBreaks: 0, breaks: [] });
    const id = (receipt: string) => ids.get(receipt)!;
    // The preamble is 4 lines (no balances): the entries are lines 5 to 15, newest first. Of
    // TXN-0001's two lines the duplicate is the one that comes second in the file (line 15), though
    // it happened first: lines are numbered in the file's order, whatever order the file is in.
    expect(await itemsOf(r.statementId)).toEqual([
      [5, 'matched', id('TXN-0010')], [6, 'non_payout', null], [7, 'late_reversal', id('TXN-0108')], [8, 'reversal', id('TXN-0107')],
      [9, 'matched', id('TXN-0001')], [10, 'unknown_reference', null], [11, 'paid_not_in_ledger', id('TXN-0005')], [12, 'status_mismatch', id('TXN-0004')],
      [13, 'amount_under', id('TXN-0003')], [14, 'amount_over', id('TXN-0002')], [15, 'duplicate_at_provider', null],
      [null, 'missing_at_provider', id('TXN-0020')], [null, 'timing', id('TXN-0021')],
    ]);
    expect(await storedOf(run.accountId)).toEqual({ statements: 1, lines: 11, items: 13, files: 1, checks: 0, staging: 0 });
    await expectNothingOf(r.statementId, ['walletid/1']);
  });

  // The runtime's readers (statementReaders) have none for the `gsma-statemententries` container, by
  // design (adapters/statement-readers/index.ts: a GSMA statement is pulled, not uploaded, and the
  // pull writes the entries CSV itself): importStatement, given them, refuses the entries CSV. A
  // pull path must pass it through unchanged, as these tests do with gsmaReaders.
  test('when GSMA entries are given to importStatement with the runtime\'s readers, then they are refused as a container with no reader, and nothing is stored', async () => {
    const { run } = await gsmaLedger(newAccount('gsma-sl'));
    const error = await refused(run, gsmaCsv, [], statementReaders);
    expect(error).toEqual({ code: 'STATEMENT_FORMAT_UNKNOWN', detail: 'no reader for gsma-statemententries files here' });
  });

  test('when an entry is malformed, then its line is named by column, the cell is not echoed, and nothing is stored', async () => {
    const { run } = await gsmaLedger(newAccount('gsma-sl'));
    let text = withLine(gsmaCsv, 7, (l) => l.replace(',Booked,', ',Settled,'));
    text = withLine(text, 10, (l) => l.replace('2026-06-01 13:00:00', '2026-06-01 25:00:00'));
    const error = await refused(run, text, ['Settled', '25:00:00', 'TXN-0006'], gsmaReaders);
    expect(error).toEqual({
      code: 'STATEMENT_LINES_INVALID', detail: '2 of 11 lines are invalid', badLines: 2,
      lines: [
        { line: 7, column: 'Status', problem: 'not a status of the format' },
        { line: 10, column: 'Booked At', problem: 'not a time YYYY-MM-DD HH:MM:SS' },
      ],
    });
  });

  test('when the entries are in another currency than the account, then they are refused', async () => {
    const { run } = await gsmaLedger(newAccount('gsma-sl'));
    const error = await refused(run, gsmaCsv.replace('Currency,SLE', 'Currency,USD'), [], gsmaReaders);
    expect(error).toEqual({ code: 'STATEMENT_CURRENCY_MISMATCH', detail: 'the statement is in USD, the account in SLE' });
  });

  test('when the same bytes are imported twice, then the second answer is the first reconciliation and nothing new is stored', async () => {
    const { run } = await gsmaLedger(newAccount('gsma-sl'));
    await expectReplayed(run, () => gsmaCsv, gsmaReaders);
  });
});

describe('GSMA statement entries pulled from a running GSMA simulator (pullStatementEntries → importStatement)', () => {
  const logger = pino({ level: 'silent' });
  const credentials = { consumerKey: 'ck', consumerSecret: 'cs', apiKey: 'api-key-1' };
  let simulator: GsmaSimulator;
  let server: Server;
  let base = '';

  beforeAll(async () => {
    simulator = createGsmaSimulator({ ...credentials, callbackDelayMs: 5, logger });
    const app = express();
    app.put('/cb/*rest', (_req, res) => res.status(204).end());
    app.use(simulator.router);
    server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    simulator?.close();
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
  });

  const settings = (): GsmaSettings => ({ baseUrl: base, ...credentials, debitParty: [{ key: 'walletid', value: '1' }], timeoutMs: 5_000 });
  const keyOf = (n: number) => `3e9a1c7d-2b4f-5a6e-9c8d-${n.toString(16).padStart(12, '0')}`;

  // Not expressible by the simulator: duplicate_at_provider and non_payout (it lists each
  // disbursement and reversal once, and only its debits); the hand-written entries above have them.
  test('when disbursements fail, are reversed, or are unknown to the ledger, then the pulled window reconciles with exactly those differences', async () => {
    simulator.setFaults({
      rules: [
        { pattern: '^\\+23276000002$', fault: 'fail', errorCode: 'insufficientFunds' },
        { pattern: '^\\+2327600000[37]$', fault: 'reverse-after-success', delayMs: 0 },
      ],
    });
    const from = Math.floor(Date.now() / 1000) * 1000;
    const client = new GsmaClient(settings(), logger);
    for (const n of [1, 2, 3, 4, 5, 7]) {
      const outcome = await client.submit({ payoutId: `p-${n}`, idempotencyKey: keyOf(n), msisdn: `+2327600000${n}`, amountMinor: BigInt(n) * 100_00n, currency: 'SLE', callbackUrl: `${base}/cb/tok-${n}` });
      expect(outcome.kind).toBe('pending');
    }
    await simulator.drained();
    const to = Math.floor(Date.now() / 1000) * 1000 + 1000;
    await new Promise((r) => setTimeout(r, to - Date.now() + 5));
    // The simulator's transaction reference of each disbursement: what a callback gives Tuma as the payout's provider reference.
    const refOf = new Map(simulator.statement().filter((l) => l.status !== 'reversed').map((l) => [l.correlationId, l.transactionReference]));
    const ref = (n: number) => refOf.get(keyOf(n))!;
    const accountId = newAccount('gsma-sl');
    const run: Run = { s: await gsmaProgramme(), accountId, currency: 'SLE', format: 'gsma-statemententries@1', period: { from: new Date(from), to: new Date(to) } };
    const p = (receipt: string, amountMinor: bigint, state: LedgerPayout['state'], more: Partial<LedgerPayout> = {}): LedgerPayout =>
      ({ receipt, amountMinor, state, accountId, currency: 'SLE', provider: 'gsma', ...more });
    const ids = await insertPayouts(run.s, [
      p(ref(1), 100_00n, 'paid'),
      // Failed at the provider; the ledger says paid.
      p(ref(2), 200_00n, 'paid'),
      // Reversed at the provider after its result: the ledger still counts it paid.
      p(ref(3), 300_00n, 'paid'),
      // The ledger's amount is 1.00 less than what the provider executed.
      p(ref(4), 399_00n, 'paid'),
      // Reversed at the provider and by the ledger.
      p(ref(7), 700_00n, 'reversed'),
      // Sent before the cut-off, never reached the provider's list: in flight.
      p('never-listed-6', 600_00n, 'submitted', { attemptAt: new Date(from) }),
    ]);
    // (Disbursement 5 is no payout of this ledger.)

    const r = await imported(run, pullStatementEntries(settings(), { identifierType: 'walletid', identifier: '1', currency: 'SLE' }, { from: new Date(from), to: new Date(to) }), gsmaReaders);

    expect([r.linesTotal, r.linesImported, r.linesRefused]).toEqual([8, 8, 0]);
    expect(r.counts).toEqual({
      matched: { count: 3, statementMinor: 1100_00n, ledgerMinor: 1100_00n },
      status_mismatch: { count: 1, statementMinor: 200_00n, ledgerMinor: 200_00n },
      amount_over: { count: 1, statementMinor: 400_00n, ledgerMinor: 399_00n },
      unknown_reference: { count: 1, statementMinor: 500_00n, ledgerMinor: 0n },
      // The reversal entry names the disbursement it reverses (originalTransactionReference).
      late_reversal: { count: 1, statementMinor: -300_00n, ledgerMinor: 300_00n },
      reversal: { count: 1, statementMinor: -700_00n, ledgerMinor: 700_00n },
      timing: { count: 1, statementMinor: 0n, ledgerMinor: 600_00n },
    });
    expect(r.balances).toEqual({ linesNetMinor: -1000_00n, total: null, order: null, runningBreaks: 0, breaks: [] });
    const byPayout = new Map<string | null, string[]>();
    for (const [, cls, payout] of await itemsOf(r.statementId)) byPayout.set(payout, [...(byPayout.get(payout) ?? []), cls].sort());
    const id = (n: number) => ids.get(ref(n))!;
    expect(Object.fromEntries(byPayout)).toEqual({
      [id(1)]: ['matched'], [id(2)]: ['status_mismatch'], [id(3)]: ['late_reversal', 'matched'], [id(4)]: ['amount_over'],
      [id(7)]: ['matched', 'reversal'], [ids.get('never-listed-6')!]: ['timing'], null: ['unknown_reference'],
    });
    await expectNothingOf(r.statementId, ['walletid/1', ...[1, 2, 3, 4, 5, 7].map((n) => `2327600000${n}`)]);
  });
});

// ---- the MoMo and Airtel simulators' own statements, after payouts ran through the engine over Kafka --

const settleMs = 45_000;

/** The engine of one runtime, as the tests below drive it: submit a batch, wait for states, read the account, import a statement. */
function engineOf(get: () => { runtime: Runtime; db: TestDatabase; s: Scenario; currency: CurrencyCode }) {
  const stateOf = async (id: string) => (await sql<{ state: string }>`SELECT state FROM payouts WHERE id = ${id}::uuid`.execute(get().db.db)).rows[0]?.state;
  return {
    stateOf,
    async submit(rows: PayoutLine[], total: string): Promise<(ref: string) => string> {
      const { runtime, s, currency } = get();
      const auth = { authorization: `Bearer ${await tokenFor(s.organisationId, ['programme_manager', 'finance'])}` };
      const document = { ...batchDocument(s, rows, { total }), currency };
      const res = await fetch(`${runtime.apiUrl}/v1/batches`, { method: 'POST', headers: { ...auth, 'content-type': 'application/jose+json' }, body: JSON.stringify(await sign(document, s.maker)) });
      expect(res.status).toBe(201);
      return (ref) => payoutIdOf(document.batchId, ref);
    },
    reaches: (id: string, state: string) => net.eventually(async () => ((await stateOf(id)) === state ? true : null), settleMs, `${id} to be ${state}`),
    /** The account the payouts went out through (payout_attempts.account_id): one for all. */
    async accountOf(ids: readonly string[]): Promise<string> {
      const { rows } = await sql<{ account_id: string }>`SELECT DISTINCT account_id FROM payout_attempts WHERE payout_id = ANY(${ids}::uuid[])`.execute(get().db.db);
      expect(rows).toHaveLength(1);
      return rows[0]!.account_id;
    },
    /** The simulator's CSV statement of [from, to) (its control route), imported as the provider's own export. */
    async reconcile(provider: 'mtn-momo' | 'airtel', accountId: string, format: string, period: { from: Date; to: Date }) {
      const { runtime, db, s, currency } = get();
      const query = new URLSearchParams({ format: 'csv', from: period.from.toISOString(), to: period.to.toISOString() });
      const res = await fetch(`${runtime.simulatorUrl}/__control/${provider}/statement?${query.toString()}`);
      expect(res.status).toBe(200);
      const csv = await res.text();
      const result = await importStatement({ store: statementStore(db.pool), vault: runtime.vault, readers: statementReaders }, {
        source: Readable.from([Buffer.from(csv)]), accountId, currency, format, period, caller: { organisationId: s.organisationId, subject: 'finance-1' },
      });
      if (!result.ok) throw new Error(JSON.stringify(result.error));
      const { rows } = await db.pool.query<{ class: string; payout_id: string | null }>('SELECT class, payout_id FROM reconciliation_items WHERE statement_id = $1', [result.value.statementId]);
      const byPayout: Record<string, string[]> = {};
      for (const i of rows.filter((x) => x.payout_id)) byPayout[i.payout_id!] = [...(byPayout[i.payout_id!] ?? []), i.class].sort();
      return { csv, imported: result.value, byPayout, unlinked: rows.filter((x) => !x.payout_id).map((x) => x.class).sort() };
    },
  };
}

/** A second boundary after every event so far, and not before the next whole second has begun. */
async function nextSecond(): Promise<Date> {
  const at = new Date(Math.floor(Date.now() / 1000) * 1000 + 1000);
  await new Promise((r) => setTimeout(r, at.getTime() - Date.now() + 5));
  return at;
}

describe('reconciling the MTN MoMo simulator\'s statement (mtn-momo-portal-csv@1), over kafka', () => {
  let db: TestDatabase;
  let runtime: Runtime;
  let s: Scenario;
  const engine = engineOf(() => ({ runtime, db, s, currency: 'UGX' }));

  beforeAll(async () => {
    db = await createTestDatabase();
    // No status query within the test (a lost callback stays unresolved, as before the first check); a refusal is final.
    runtime = await startTestRuntime(await testConfig(db.url, 'kafka', { STATUS_CHECK_FIRST_AFTER_MS: '3600000', STATUS_CHECK_BACKOFF_MAX_MS: '3600000', PAYOUT_RETRY_REASONS: 'none' }));
    s = await setUpProviderProgramme(runtime.persistence, { provider: 'mtn-momo', currency: 'UGX', fundedMinor: 100_000_000n, floatMinor: 1_000_000_000n });
  });
  afterAll(async () => {
    await runtime?.stop();
    await db?.drop();
  });

  it('when a callback is lost, a paid transfer is reversed, a callback reports another amount and a transfer fails, then the simulator\'s statement reconciles with exactly those differences', async () => {
    const momo = runtime.momoSimulator!;
    momo.setFaults({ rules: [
      { pattern: '^256772100002$', fault: 'lost-callback' },
      { pattern: '^256772100003$', fault: 'reverse-after-success', delayMs: 50 },
      { pattern: '^256772100004$', reportAmount: '99999' },
      { pattern: '^256772100005$', fault: 'fail', reason: 'NOT_ENOUGH_FUNDS' },
    ] });
    const from = await nextSecond();
    const names = ['plain', 'lost', 'reversed', 'misreported', 'failed'];
    const id = await engine.submit(names.map((ref, i) => ({ ref, provider: 'mtn-momo', msisdn: `+25677210000${i + 1}`, amount: String((i + 1) * 10000) })), '150000');
    const [plain, lost, reversed, misreported, failed] = names.map(id) as [string, string, string, string, string];
    const referenceOf = (payout: string) => momoReferenceId(attemptKey(payout, 1)).toLowerCase();
    await engine.reaches(plain, 'paid');
    await engine.reaches(reversed, 'paid');
    await engine.reaches(misreported, 'held');
    await engine.reaches(failed, 'failed');
    await net.eventually(async () => (momo.statement().some((l) => l.status === 'REVERSED' && l.referenceId === referenceOf(reversed)) ? true : null), settleMs, 'the reversal');
    await net.eventually(async () => (momo.executions(referenceOf(lost)) === 1 ? true : null), settleMs, 'the lost one to be paid at MoMo');
    await momo.drained();
    const to = await nextSecond();
    momo.setFaults({});
    // What the engine is left with: the reversed one still paid (MoMo announces no reversal), the lost one unsettled.
    expect(await engine.stateOf(lost)).not.toMatch(/^(paid|failed|held)$/);
    const accountId = await engine.accountOf([plain, lost, reversed, misreported, failed]);
    expect(accountId).toBe('mtn-momo');

    const { csv, imported: r, byPayout, unlinked } = await engine.reconcile('mtn-momo', accountId, 'mtn-momo-portal-csv@1', { from, to });

    expect(csv).not.toMatch(/25677210000\d/);
    expect([r.linesTotal, r.linesImported, r.linesRefused]).toEqual([6, 6, 0]);
    expect(r.counts).toEqual({
      matched: { count: 2, statementMinor: 40000n, ledgerMinor: 40000n },
      // The lost one's line (a transaction id Tuma never heard of), and the failed one's: MoMo reports
      // no financialTransactionId for a FAILED transfer, so the id its statement line carries is one
      // no payout has (the ledger released the payout: nothing is missing, but the line stays unknown).
      unknown_reference: { count: 2, statementMinor: 70000n, ledgerMinor: 0n },
      // The provider paid 40,000 (its statement says so) of a payout Tuma holds for finance after a report of 99,999.
      paid_not_in_ledger: { count: 1, statementMinor: 40000n, ledgerMinor: 40000n },
      // MoMo's reversal line names no transfer: `reversal` of nothing, not the late_reversal it is.
      reversal: { count: 1, statementMinor: -30000n, ledgerMinor: 0n },
      timing: { count: 1, statementMinor: 0n, ledgerMinor: 20000n },
    });
    expect(byPayout).toEqual({ [plain]: ['matched'], [reversed]: ['matched'], [misreported]: ['paid_not_in_ledger'], [lost]: ['timing'] });
    expect(unlinked).toEqual(['reversal', 'unknown_reference', 'unknown_reference']);
    // No balances stated; the simulator's running balance is continuous oldest first.
    expect(r.balances).toEqual({ linesNetMinor: -70000n, total: null, order: 'oldest-first', runningBreaks: 0, breaks: [] });
  });
});

describe('reconciling the Airtel simulator\'s statement (airtel-statement-csv@1), over kafka', () => {
  let db: TestDatabase;
  let runtime: Runtime;
  let s: Scenario;
  const engine = engineOf(() => ({ runtime, db, s, currency: 'ZMW' }));
  const dir = mkdtempSync(join(tmpdir(), 'tuma-recon-airtel-'));

  beforeAll(async () => {
    db = await createTestDatabase();
    const simulatorPort = await net.freePort();
    const publicKey = join(dir, 'airtel-public.pem');
    writeFileSync(publicKey, generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }));
    const file = join(dir, 'accounts.json');
    writeFileSync(file, JSON.stringify({
      accounts: [{
        id: 'airtel-zm', provider: 'airtel', country: 'ZM', currency: 'ZMW', baseUrl: `http://127.0.0.1:${simulatorPort}/airtel`,
        clientId: { env: 'T_AIRTEL_ID' }, clientSecret: { env: 'T_AIRTEL_SECRET' }, pin: { env: 'T_AIRTEL_PIN' }, pinPublicKeyFile: publicKey,
        callbackAuth: { mode: 'status-query' },
      }],
    }));
    runtime = await startTestRuntime(await testConfig(db.url, 'kafka', {
      PAYOUT_RETRY_REASONS: 'none', STATUS_CHECK_FIRST_AFTER_MS: '3600000', STATUS_CHECK_BACKOFF_MAX_MS: '3600000',
      PROVIDERS_FILE: file, SIMULATOR_PORT: String(simulatorPort), T_AIRTEL_ID: 'airtel-client', T_AIRTEL_SECRET: 'airtel-secret', T_AIRTEL_PIN: '1234',
    }));
    s = await setUpProviderProgramme(runtime.persistence, { provider: 'airtel', currency: 'ZMW', fundedMinor: 100_000_00n, floatMinor: 1_000_000_00n });
  });
  afterAll(async () => {
    await runtime?.stop();
    await db?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  // Airtel's simulator has no wrong-reported-amount fault (MoMo's reportAmount); a lost callback
  // leaves no difference, as Airtel answers the disbursement with its result (TS and the
  // airtel_money_id) and the callback only repeats it. A payout Airtel keeps in process is the
  // difference a lost result leaves here: in flight at the cut-off, on no line.
  it('when a callback is lost, a paid disbursement is reversed, one is refused and one stays in process, then the simulator\'s statement reconciles with exactly those differences', async () => {
    const airtel = runtime.airtelSimulator!;
    airtel.setFaults({ rules: [
      { pattern: '^971100002$', fault: 'lost-callback' },
      { pattern: '^971100003$', fault: 'reverse-after-success', delayMs: 50 },
      { pattern: '^971100004$', fault: 'insufficient-funds' },
      { pattern: '^971100005$', fault: 'in-process' },
    ] });
    // Airtel's statement writes times to the minute: the period is whole minutes (the simulator started within this one, with nothing before).
    const from = new Date(Math.floor(Date.now() / 60_000) * 60_000);
    const names = ['plain', 'lost', 'reversed', 'refused', 'in-process'];
    const id = await engine.submit(names.map((ref, i) => ({ ref, provider: 'airtel', msisdn: `+26097110000${i + 1}`, amount: `${(i + 1) * 100}.00` })), '1500.00');
    const [plain, lost, reversed, refusedOne, inProcess] = names.map(id) as [string, string, string, string, string];
    await engine.reaches(plain, 'paid');
    await engine.reaches(lost, 'paid');
    await engine.reaches(reversed, 'paid');
    await engine.reaches(refusedOne, 'failed');
    await net.eventually(async () => (airtel.statement().some((l) => l.status === 'REVERSED' && l.transactionId === attemptKey(reversed, 1).replaceAll('-', '')) ? true : null), settleMs, 'the reversal');
    await net.eventually(async () => (airtel.executions(attemptKey(inProcess, 1)) === 1 ? true : null), settleMs, 'the in-process one at Airtel');
    await airtel.drained();
    airtel.setFaults({});
    // The end of the period: the next whole minute. Nothing happens before it (no fault left, status queries an hour away).
    const to = new Date(Math.floor(Date.now() / 60_000) * 60_000 + 60_000);
    expect(await engine.stateOf(inProcess)).not.toMatch(/^(paid|failed|held)$/);
    const accountId = await engine.accountOf([plain, lost, reversed, refusedOne, inProcess]);
    expect(accountId).toBe('airtel-zm');

    const { csv, imported: r, byPayout, unlinked } = await engine.reconcile('airtel', accountId, 'airtel-statement-csv@1', { from, to });

    expect(csv).not.toMatch(/97110000\d/);
    expect([r.linesTotal, r.linesImported, r.linesRefused]).toEqual([5, 5, 0]);
    expect(r.counts).toEqual({
      matched: { count: 3, statementMinor: 600_00n, ledgerMinor: 600_00n },
      // The refused disbursement's line: Airtel's statement gives it an airtel_money_id its answer never did.
      unknown_reference: { count: 1, statementMinor: 400_00n, ledgerMinor: 0n },
      // `Reversal of AM…` in the Description names its disbursement (the mapping's linkedInDetails), which
      // the ledger still counts as paid: a late reversal, urgent.
      late_reversal: { count: 1, statementMinor: -300_00n, ledgerMinor: 300_00n },
      timing: { count: 1, statementMinor: 0n, ledgerMinor: 500_00n },
    });
    expect(byPayout).toEqual({ [plain]: ['matched'], [lost]: ['matched'], [reversed]: ['late_reversal', 'matched'], [inProcess]: ['timing'] });
    expect(unlinked).toEqual(['unknown_reference']);
    expect(r.balances).toEqual({
      linesNetMinor: -300_00n, total: { expectedClosingMinor: r.openingBalanceMinor! - 300_00n, closingMinor: r.closingBalanceMinor!, ok: true },
      order: 'oldest-first', runningBreaks: 0, breaks: [],
    });
    expect(r.closingBalanceMinor! - r.openingBalanceMinor!).toBe(-300_00n);
  });
});
