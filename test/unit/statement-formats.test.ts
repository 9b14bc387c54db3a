// Statement mappings and the pure reading of a statement's header (issue #14).
import fc from 'fast-check';
import {
  amountPatternOf, isAmountShape, parseDayMonthYearTime, parseStatementHeader, periodDaysOf, splitCsvLine, statementAmountMinor, isColumnHeader,
} from '../../src/domain/reconciliation.js';
import { mappingProblems, mpesaOrgPortalCsvV1, statementFormats, type StatementFormat } from '../../src/domain/statement-formats.js';

const header = [
  'Account Holder:,UNHCR KENYA CASH PROGRAMME',
  'Short Code:,600000',
  'Account:,Utility Account',
  'Time Period:,From 01-05-2026 00:00:00 To 31-05-2026 23:59:59',
  'Operator:,finance.ke,Date of Report:,01-06-2026 08:00:00',
  'Opening Balance:,"5,000,000.00",Closing Balance:,"5,009,225.00",Available Balance:,"5,009,225.00"',
];

describe('statement mappings', () => {
  test('when every known mapping is checked, then none has a problem', () => {
    for (const f of statementFormats.values()) expect(mappingProblems(f)).toEqual([]);
  });

  test('when the M-Pesa portal mapping is read, then it has the 13 columns of the real export, in order', () => {
    expect(mpesaOrgPortalCsvV1.columns.map((c) => c.title)).toEqual([
      'Receipt No.', 'Completion Time', 'Initiation Time', 'Details', 'Transaction Status', 'Paid In', 'Withdrawn', 'Balance',
      'Balance Confirmed', 'Reason Type', 'Other Party Info', 'Linked Transaction ID', 'A/C No.',
    ]);
  });

  test('when a mapping lacks a required role, repeats a role or a title, or mixes statuses, then each problem is named', () => {
    const broken: StatementFormat = {
      ...mpesaOrgPortalCsvV1,
      columns: mpesaOrgPortalCsvV1.columns.map((c) => (c.role === 'withdrawn' ? { ...c, role: 'paidIn' as const } : c.title === 'A/C No.' ? { ...c, title: 'Details' } : c)),
      statuses: { completed: ['Completed'], failed: ['Completed'] },
    };
    expect(mappingProblems(broken)).toEqual([
      'columns: Details twice',
      'columns: movement columns needs a column with the role withdrawn',
      'columns: 2 columns have the role paidIn',
      'statuses: a value is both completed and failed',
    ]);
  });

  test('when a mapping reads the linked id from Details, then only an anchored pattern with one bounded id group is taken, beside a details column and no linked column', () => {
    const airtel = statementFormats.get('airtel-statement-csv@1')!;
    expect(airtel.linkedInDetails).toBe('^Reversal of ([A-Za-z0-9._-]{1,64})( |$)');
    for (const bad of ['(.*)', '^Reversal of (.*)', '^Reversal of ([A-Za-z0-9]{1,65})', '^Reversal of ([A-Za-z0-9]+)', '^a ([A-Z]{1,8}) ([A-Z]{1,8})', '^a ([^ ]{1,8})', "^a ([A-Z']{1,8})"]) {
      expect({ bad, problems: mappingProblems({ ...airtel, linkedInDetails: bad }) }).toEqual({ bad, problems: [expect.stringMatching(/^linkedInDetails: /)] });
    }
    expect(mappingProblems({ ...mpesaOrgPortalCsvV1, linkedInDetails: '^Reversal of ([A-Z0-9]{1,10})' })).toEqual(['linkedInDetails: the format has a linked transaction id column']);
  });
});

describe('reading a statement', () => {
  test('when amounts are written as the export writes them, then they are exact minor units; anything else is refused', () => {
    expect(statementAmountMinor('1,020.00', 'KES', ',')).toBe(102000n);
    expect(statementAmountMinor('-1,000,000.05', 'KES', ',')).toBe(-100000005n);
    expect(statementAmountMinor('0.00', 'KES', ',')).toBe(0n);
    expect(statementAmountMinor('1500', 'UGX', ',')).toBe(1500n);
    for (const bad of ['1,020.0', '1,020.001', '1,02.00', '01.00', '1.020,00', '', ' 1.00', '1e3', '1,020', '10000000000000000.00']) {
      expect(statementAmountMinor(bad, 'KES', ',')).toBeNull();
    }
    expect(statementAmountMinor('1.00', 'UGX', ',')).toBeNull();
  });

  test('when any amount is written with separators and two decimals, then it reads back to the same minor units', () => {
    fc.assert(fc.property(fc.bigInt({ min: -(10n ** 17n) + 1n, max: 10n ** 17n - 1n }), (minor) => {
      const abs = minor < 0n ? -minor : minor;
      const units = (abs / 100n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
      const text = `${minor < 0n ? '-' : ''}${units}.${(abs % 100n).toString().padStart(2, '0')}`;
      expect(statementAmountMinor(text, 'KES', ',')).toBe(minor);
    }));
  });

  test('when an amount is checked by shape (as the SQL pass does), then it is accepted exactly when the pattern accepts it', () => {
    const pattern = new RegExp(amountPatternOf(2, ','));
    const samples = ['1,020.00', '-1,020.00', '0.00', '-0.00', '01.00', '-01.00', '0,123.00', '1,02.00', '1.020,00', '1,020', '1e3.00', '999,999,999,999,999.99',
      '1,000,000,000,000,000.00', '123456789012345.00', '1234567890123456.00', '12,345.67', '-', '', '.00', '1.0O'];
    for (const t of samples) expect([t, isAmountShape(t, 2, ',')]).toEqual([t, pattern.test(t)]);
    fc.assert(fc.property(fc.stringMatching(/^-?[0-9,.]{1,22}$/), (t) => isAmountShape(t, 2, ',') === pattern.test(t)));
    fc.assert(fc.property(fc.stringMatching(/^-?[0-9,]{1,18}$/), (t) => isAmountShape(t, 0, null) === new RegExp(amountPatternOf(0, null)).test(t)));
  });

  test('when the days around a period are listed, then each is its local DD-MM-YYYY with the instant of its local midnight', () => {
    const days = periodDaysOf(new Date('2026-04-30T21:00:00Z'), new Date('2026-05-31T21:00:00Z'), 180);
    expect(days.dmy[0]).toBe('30-04-2026');
    expect(days.dmy.at(-1)).toBe('02-06-2026');
    expect(days.dmy).toHaveLength(34);
    for (const [i, dmy] of days.dmy.entries()) expect(parseDayMonthYearTime(`${dmy} 00:00:00`, 180)).toEqual(days.midnight[i]);
  });

  test('when a time is DD-MM-YYYY HH:MM:SS in EAT, then it is that instant; an impossible day or hour is refused', () => {
    expect(parseDayMonthYearTime('02-05-2026 09:15:02', 180)?.toISOString()).toBe('2026-05-02T06:15:02.000Z');
    expect(parseDayMonthYearTime('29-02-2024 00:00:00', 180)?.toISOString()).toBe('2024-02-28T21:00:00.000Z');
    for (const bad of ['29-02-2026 00:00:00', '31-04-2026 10:00:00', '01-13-2026 10:00:00', '01-05-2026 24:00:00', '1-05-2026 10:00:00', '2026-05-01 10:00:00']) {
      expect(parseDayMonthYearTime(bad, 180)).toBeNull();
    }
  });

  test('when a CSV line is split, then quotes and doubled quotes are honoured and an open quote is refused', () => {
    expect(splitCsvLine('a,"1,020.00","say ""hi""",')).toEqual(['a', '1,020.00', 'say "hi"', '']);
    expect(splitCsvLine('a,"open')).toBeNull();
  });

  test('when the header block is read, then the period is [from, to) in UTC and the balances are minor units', () => {
    const read = parseStatementHeader(mpesaOrgPortalCsvV1, header, 'KES');
    if (!read.ok) throw new Error(read.error.detail);
    expect(read.value.period?.from.toISOString()).toBe('2026-04-30T21:00:00.000Z');
    expect(read.value.period?.to.toISOString()).toBe('2026-05-31T21:00:00.000Z');
    expect(read.value.balances).toEqual({ openingMinor: 500_000_000n, closingMinor: 500_922_500n });
    expect(read.value.fields.shortCode).toBe('600000');
  });

  test('when the header block lacks a balance or has a bad period, then what is wrong is named', () => {
    expect(parseStatementHeader(mpesaOrgPortalCsvV1, header.slice(0, 5), 'KES')).toEqual({ ok: false, error: { code: 'STATEMENT_HEADER_INVALID', detail: 'missing Opening Balance, Closing Balance' } });
    const badPeriod = header.map((l) => l.replace('31-05-2026', '31-04-2026'));
    expect(parseStatementHeader(mpesaOrgPortalCsvV1, badPeriod, 'KES').ok).toBe(false);
    const badBalance = header.map((l) => l.replace('"5,000,000.00"', '5000000'));
    expect(parseStatementHeader(mpesaOrgPortalCsvV1, badBalance, 'KES')).toEqual({ ok: false, error: { code: 'STATEMENT_HEADER_INVALID', detail: 'Opening Balance: not an amount with 2 decimals' } });
  });

  test('when a line is compared with the column header, then only the format\'s exact titles in order match', () => {
    const titles = mpesaOrgPortalCsvV1.columns.map((c) => c.title);
    expect(isColumnHeader(mpesaOrgPortalCsvV1, titles.join(','))).toBe(true);
    expect(isColumnHeader(mpesaOrgPortalCsvV1, titles.slice(0, 12).join(','))).toBe(false);
    expect(isColumnHeader(mpesaOrgPortalCsvV1, [...titles].reverse().join(','))).toBe(false);
  });
});
