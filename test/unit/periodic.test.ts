// A background step that fails because the database is shutting down (the embedded PostgreSQL
// takes the same Ctrl-C as Tuma) is a warning without a stack; any other failure stays an error.
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { isDatabaseShuttingDown, logStepFailure } from '../../src/application/periodic.js';

function captured() {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'trace' }, new Writable({ write(chunk, _e, done) { lines.push(JSON.parse(String(chunk)) as Record<string, unknown>); done(); } }));
  return { lines, logger };
}

describe('a failed background step', () => {
  it.each(['57P01', '57P02', '57P03'])('when the database answers %s, then it is a warning without a stack', (code) => {
    const { lines, logger } = captured();
    logStepFailure(logger, Object.assign(new Error('terminating connection due to administrator command'), { code }), 'relay pass failed; retrying');
    expect(lines).toEqual([expect.objectContaining({ level: 40, code, msg: 'relay pass failed; retrying (the database is shutting down or restarting)' })]);
    expect(JSON.stringify(lines)).not.toContain('stack');
  });

  it.each([
    ['another SQLSTATE', Object.assign(new Error('deadlock detected'), { code: '40P01' })],
    ['no code', new Error('boom')],
    ['not an error', 'a string'],
    ['null', null],
  ])('when it fails with %s, then it is an error', (_what, error) => {
    const { lines, logger } = captured();
    logStepFailure(logger, error, 'relay pass failed; retrying');
    expect(lines).toEqual([expect.objectContaining({ level: 50, msg: 'relay pass failed; retrying' })]);
    expect(isDatabaseShuttingDown(error)).toBe(false);
  });
});
