// The pull of a provider statement (application/pull-reconciliation.ts PullStatement) for the
// configured GSMA accounts: the account id names its settings; the statement entries path names
// the account by the first pair of its debitParty (our own identifier at the provider, e.g.
// walletid/1), in the account's currency. What goes wrong, before the first page or while paging,
// is a StatementPullError in the pull client's words (positions, counts, the provider's HTTP
// status and error code; never an entry's content).
import { Readable } from 'node:stream';
import { pino, type Logger } from 'pino';
import { StatementPullError, type PullStatement, type StatementPeriod } from '../../../application/pull-reconciliation.js';
import type { GsmaAccountSettings } from '../../../config/provider-accounts.js';
import type { ProviderId } from '../../../domain/providers.js';
import { gsmaClientSettings, type GsmaSettings } from './gsma-client.js';
import { GsmaStatementError, pullStatementEntries, type GsmaStatementPullOptions } from './gsma-statement.js';

/** A configured provider account as the pull needs it (config/provider-accounts.ts ProviderAccount is one). */
export type StatementSourceAccount =
  | { readonly id: string; readonly provider: 'gsma'; readonly currency: string; readonly settings: GsmaAccountSettings }
  | { readonly id: string; readonly provider: Exclude<ProviderId, 'gsma'>; readonly currency: string };

export interface GsmaStatementSourceOptions {
  /** Each page's request (the runtime's providerTimeoutMs). */
  readonly timeoutMs: number;
  readonly logger?: Logger;
  /** Entries per page and pages at most (gsma-statement.ts defaults). */
  readonly pageSize?: number;
  readonly pagesMax?: number;
  /** The clock the pull client checks the window against. */
  readonly now?: () => Date;
}

/** The PullStatement port over the GSMA accounts of `accounts`; any other account id is refused (StatementPullError). */
export function gsmaStatementSource(accounts: readonly StatementSourceAccount[], options: GsmaStatementSourceOptions): PullStatement {
  const gsma = new Map<string, Extract<StatementSourceAccount, { provider: 'gsma' }>>();
  for (const a of accounts) if (a.provider === 'gsma') gsma.set(a.id, a);
  const logger = options.logger ?? pino({ level: 'silent' });
  return (accountId: string, period: StatementPeriod): Readable => {
    const account = gsma.get(accountId);
    const own = account?.settings.debitParty[0];
    if (!account || !own) throw new StatementPullError(`account ${accountId.slice(0, 64)} is not a GSMA account of this process`);
    // The account's X-API-Key, X-Client-Id and X-Date use apply to the statement pull as to payments.
    const settings: GsmaSettings = gsmaClientSettings(account.settings, options.timeoutMs);
    const opts: GsmaStatementPullOptions = {
      logger: logger.child({ account: account.id }),
      ...(options.pageSize !== undefined ? { pageSize: options.pageSize } : {}),
      ...(options.pagesMax !== undefined ? { pagesMax: options.pagesMax } : {}),
      ...(options.now ? { now: options.now } : {}),
    };
    let pulled: Readable;
    try {
      pulled = pullStatementEntries(settings, { identifierType: own.key, identifier: own.value, currency: account.currency }, period, opts);
    } catch (error) {
      throw pullErrorOf(error);
    }
    return Readable.from(relay(pulled), { objectMode: false });
  };
}

/** The pulled bytes as they come; the pull's error as a StatementPullError. Stopping early (the import refused) destroys the pull. */
async function* relay(pulled: Readable): AsyncGenerator<Buffer> {
  try {
    for await (const chunk of pulled) yield chunk as Buffer;
  } catch (error) {
    throw pullErrorOf(error);
  }
}

function pullErrorOf(error: unknown): StatementPullError {
  if (error instanceof GsmaStatementError) return new StatementPullError(error.message);
  // An abort, or a stream error the client did not name: its kind only.
  return new StatementPullError(`the pull stopped (${error instanceof Error ? error.name : 'error'})`);
}
