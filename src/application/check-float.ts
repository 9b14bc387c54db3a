// The float check of an imported statement (issue #14 item 4): the provider's closing balance
// against the ledger's float of the same provider at the cut-off. The ledger keeps one float per
// provider and organisation (domain/ledger-rules.ts), not per provider account, so the check is
// made only where the account's float is the ledger's alone: no other configured account of the
// same provider and currency. Elsewhere the statement says the check could not be made, and why.
// A mismatch is an exception of the statement (check-<n>, kind float_balance) until acknowledged.
import { providerOfFormat } from '../domain/statement-formats.js';
import type { StatementFloatCheck, StatementRecord } from './ports.js';
import type { ReconciliationReportDeps } from './reconciliation-report.js';

export async function checkStatementFloat(deps: ReconciliationReportDeps, statement: StatementRecord): Promise<StatementFloatCheck | null> {
  if (statement.closingBalanceMinor === null) return null;
  const provider = providerOfFormat(`${statement.format}@${statement.formatVersion}`);
  const all = deps.accounts();
  const account = all.find((a) => a.id === statement.accountId);
  let check: StatementFloatCheck;
  if (!account || provider === 'bank') {
    check = { state: 'not_comparable', note: provider === 'bank' ? 'a bank account has no float in the ledger' : 'the provider account is no longer configured' };
  } else {
    const sharing = all.filter((a) => a.id !== account.id && a.currency === account.currency && providerOfFormat(a.statementFormat) === provider);
    if (sharing.length > 0) {
      check = { state: 'not_comparable', note: `the ledger keeps one ${provider} float per organisation, shared with ${sharing.length} other account(s): ${sharing.map((a) => a.id).join(', ').slice(0, 200)}` };
    } else {
      const organisations = account.programmes === '*' ? null : await organisationsOf(deps, account.programmes);
      const ledgerFloatMinor = await deps.reads.floatAt(provider, statement.currency, organisations, statement.periodTo);
      check = { state: ledgerFloatMinor === statement.closingBalanceMinor ? 'ok' : 'mismatch', ledgerFloatMinor, closingMinor: statement.closingBalanceMinor };
    }
  }
  await deps.reads.recordFloatCheck(statement.statementId, check);
  return check;
}

async function organisationsOf(deps: ReconciliationReportDeps, programmes: readonly string[]): Promise<string[]> {
  const organisations = new Set<string>();
  for (const id of programmes) {
    const programme = await deps.persistence.read.batches.findProgramme(id);
    if (programme) organisations.add(programme.organisationId);
  }
  return [...organisations];
}
