// The provider accounts as the worker and the poller use them: one guarded adapter (its own
// breaker) per account, found by route (programme, provider, currency, country) or by the account
// id an attempt recorded.
import type { PayoutProvider, ProviderDirectory } from '../../application/ports.js';
import { accountFor, type ProviderAccount } from '../../config/provider-accounts.js';

export function providerDirectory(entries: readonly { readonly account: ProviderAccount; readonly provider: PayoutProvider }[]): ProviderDirectory {
  const byId = new Map(entries.map((e) => [e.account.id, e.provider]));
  const accounts = entries.map((e) => e.account);
  return {
    route(payout, country) {
      const account = accountFor(accounts, payout, country);
      return account ? byId.get(account.id) ?? null : null;
    },
    account: (accountId) => byId.get(accountId) ?? null,
    all: () => entries.map((e) => e.provider),
  };
}
