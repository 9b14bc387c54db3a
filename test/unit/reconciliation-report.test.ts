// The report's rules without I/O: months expected of a provider account in its own time, when one
// is overdue, the ageing buckets, and cells a spreadsheet could run as formulas.
import { ageDays, ageingBucketOf, expectedMonths, neutralisedCell, overduePeriods, reportCsvLine } from '../../src/domain/reconciliation-report.js';

describe('expected months and overdue periods', () => {
  it('when an account first paid on 31 January (EAT), then January to last month are expected, in East Africa Time', () => {
    const months = expectedMonths(new Date('2026-01-31T22:00:00Z'), new Date('2026-04-02T00:00:00Z'), 180);
    // 22:00 UTC on 31 January is 1 February in Nairobi: February is the first month.
    expect(months.map((m) => [m.from.toISOString(), m.to.toISOString()])).toEqual([
      ['2026-01-31T21:00:00.000Z', '2026-02-28T21:00:00.000Z'],
      ['2026-02-28T21:00:00.000Z', '2026-03-31T21:00:00.000Z'],
    ]);
    expect(expectedMonths(new Date('2026-03-05T00:00:00Z'), new Date('2026-03-30T00:00:00Z'), 0)).toEqual([]);
    expect(expectedMonths(new Date('2016-01-01T00:00:00Z'), new Date('2026-01-01T00:00:00Z'), 0, 12)).toHaveLength(12);
  });

  it('when statements cover a month in pieces or not at all, then only an uncovered month past its due date is overdue', () => {
    const feb = { from: new Date('2026-02-01T00:00:00Z'), to: new Date('2026-03-01T00:00:00Z') };
    const mar = { from: new Date('2026-03-01T00:00:00Z'), to: new Date('2026-04-01T00:00:00Z') };
    const halves = [{ from: feb.from, to: new Date('2026-02-15T00:00:00Z') }, { from: new Date('2026-02-15T00:00:00Z'), to: feb.to }];
    const now = new Date('2026-04-20T00:00:00Z');
    expect(overduePeriods([feb, mar], halves, now, 10)).toEqual([{ period: mar, daysOverdue: 9 }]);
    expect(overduePeriods([feb, mar], halves.slice(0, 1), now, 10).map((o) => o.period)).toEqual([feb, mar]);
    // Not yet due: 10 days after March ended is 11 April.
    expect(overduePeriods([mar], [], new Date('2026-04-10T23:59:59Z'), 10)).toEqual([]);
  });

  it('when an exception ages, then it falls into 0-7, 8-30, 31-90 and 90+ days', () => {
    const now = new Date('2026-06-15T12:00:00Z');
    expect([0, 7, 8, 30, 31, 90, 91, 400].map(ageingBucketOf)).toEqual(['0-7', '0-7', '8-30', '8-30', '31-90', '31-90', '90+', '90+']);
    expect(ageDays(new Date('2026-05-03T10:00:00Z'), now)).toBe(43);
    expect(ageDays(new Date('2026-07-01T00:00:00Z'), now)).toBe(0);
  });
});

describe('report cells', () => {
  it.each([
    ['=HYPERLINK("http://x")', `'=HYPERLINK("http://x")`],
    ['+SUM(A1)', `'+SUM(A1)`],
    ['-2+3', `'-2+3`],
    ['@cmd', `'@cmd`],
    ['\tTAB', `'\tTAB`],
    ['\rCR', `'\rCR`],
    ['RCP0001', 'RCP0001'],
    ['', ''],
  ])('when a text cell is %j, then it is written %j', (text, written) => {
    expect(neutralisedCell(text)).toBe(written);
  });

  it('when a line is written, then text is neutralised and quoted where needed, and our own amounts are left as they are', () => {
    expect(reportCsvLine([{ text: '=1+2' }, { amount: '-100.00' }, null, { text: 'a,"b"' }])).toBe(`'=1+2,-100.00,,"a,""b"""`);
  });
});
