// Finance: a currency's ledger as the API gives it — the trial balance by account kind and every
// account of the organisation with its balance (GET /v1/ledgers/{currency}/trial-balance and
// /accounts) — and one account's statement, page by page, with its whole history exported as the
// API's CSV (statement.csv). Every figure is a decimal string from the API, formatted by Intl.
import { useEffect, useState } from 'preact/hooks';
import { api, download, type LedgerAccountView, type LedgerStatementPage, type TrialBalanceView } from '../api';
import { count, dateTime, money, t } from '../i18n';
import { bytes, errorText, label, saveFile, Status } from '../ui';

const currencyPattern = /^[A-Z]{3}$/;
const lastCurrencyKey = 'tuma.finance.currency';

export const sideName = (side: string) => label('ledger.side', side);

export function Balances(props: { currency: string | null }) {
  const [currency, setCurrency] = useState(props.currency ?? sessionStorage.getItem(lastCurrencyKey) ?? '');
  const [trial, setTrial] = useState<TrialBalanceView | null>(null);
  const [accounts, setAccounts] = useState<LedgerAccountView[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const shown = props.currency && currencyPattern.test(props.currency) ? props.currency : null;

  useEffect(() => {
    if (!shown) return;
    sessionStorage.setItem(lastCurrencyKey, shown);
    let stopped = false;
    setBusy(true);
    setError(null);
    Promise.all([
      api<TrialBalanceView>('GET', `/v1/ledgers/${shown}/trial-balance`),
      api<{ accounts: LedgerAccountView[]; nextCursor: string | null }>('GET', `/v1/ledgers/${shown}/accounts?limit=100`),
    ]).then(([tb, page]) => {
      if (stopped) return;
      setTrial(tb);
      setAccounts(page.accounts);
      setNext(page.accounts.length > 0 ? page.nextCursor : null);
    }, (e: unknown) => !stopped && setError(errorText(e))).finally(() => !stopped && setBusy(false));
    return () => {
      stopped = true;
    };
  }, [shown]);

  const more = async () => {
    if (!shown || !next) return;
    setBusy(true);
    try {
      const page = await api<{ accounts: LedgerAccountView[]; nextCursor: string | null }>('GET', `/v1/ledgers/${shown}/accounts?limit=100&cursor=${encodeURIComponent(next)}`);
      setAccounts([...accounts, ...page.accounts]);
      setNext(page.accounts.length > 0 ? page.nextCursor : null);
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <>
      <h1 tabIndex={-1}>{t('finance.title')}</h1>
      <form class="card row" onSubmit={(e) => { e.preventDefault(); location.hash = `#/finance/${currency.trim().toUpperCase()}`; }}>
        <div>
          <label for="currency">{t('finance.currency')}</label>
          <input id="currency" required pattern="[A-Za-z]{3}" size={5} maxLength={3} autoComplete="off" aria-describedby="currency-hint" value={currency} onInput={(e) => setCurrency((e.currentTarget as HTMLInputElement).value)} />
          <p class="hint" id="currency-hint">{t('finance.currency.hint')}</p>
        </div>
        <button type="submit">{t('finance.show')}</button>
      </form>
      {error ? <Status kind="error">{error}</Status> : null}
      {busy ? <p role="status">{t('common.loading')}</p> : null}
      {shown && trial ? (
        <section class="card" aria-labelledby="trial-title">
          <h2 id="trial-title">{t('finance.trial.title', { currency: trial.currency })}</h2>
          <p class="hint">{t('finance.asOf', { time: dateTime(trial.asOf) })}</p>
          <table data-testid="trial-balance">
            <caption>{t('finance.trial.caption')}</caption>
            <thead>
              <tr>
                <th scope="col">{t('finance.kind')}</th>
                <th scope="col">{t('finance.normalSide')}</th>
                <th scope="col" class="num">{t('finance.accounts')}</th>
                <th scope="col" class="num">{t('finance.debits')}</th>
                <th scope="col" class="num">{t('finance.credits')}</th>
                <th scope="col" class="num">{t('finance.balance')}</th>
              </tr>
            </thead>
            <tbody>
              {trial.rows.map((r) => (
                <tr key={r.kind}>
                  <th scope="row">{label('ledger.kind', r.kind)}</th>
                  <td>{sideName(r.normalSide)}</td>
                  <td class="num">{count(r.accounts)}</td>
                  <td class="num">{money(r.debits, trial.currency)}</td>
                  <td class="num">{money(r.credits, trial.currency)}</td>
                  <td class="num">{money(r.balance, trial.currency)}</td>
                </tr>
              ))}
            </tbody>
            <tfoot>
              <tr>
                <th scope="row" colSpan={3}>{t('finance.totals')}</th>
                <td class="num">{money(trial.totals.debits, trial.currency)}</td>
                <td class="num">{money(trial.totals.credits, trial.currency)}</td>
                <td />
              </tr>
            </tfoot>
          </table>
          <Status kind={trial.balanced ? 'ok' : 'error'}>{t(trial.balanced ? 'finance.balanced' : 'finance.unbalanced')}</Status>
        </section>
      ) : null}
      {shown && trial ? (
        <section class="card" aria-labelledby="accounts-title">
          <h2 id="accounts-title">{t('finance.accounts.title')}</h2>
          {accounts.length === 0 ? <p>{t('finance.accounts.none', { currency: shown })}</p> : (
            <table data-testid="accounts">
              <caption class="hint">{t('finance.accounts.caption')}</caption>
              <thead>
                <tr>
                  <th scope="col">{t('finance.account')}</th>
                  <th scope="col">{t('finance.normalSide')}</th>
                  <th scope="col" class="num">{t('finance.debits')}</th>
                  <th scope="col" class="num">{t('finance.credits')}</th>
                  <th scope="col" class="num">{t('finance.balance')}</th>
                </tr>
              </thead>
              <tbody>
                {accounts.map((a) => (
                  <tr key={a.key}>
                    <th scope="row"><a class="key" href={`#/statement/${a.currency}/${encodeURIComponent(a.key)}`}>{a.key}</a></th>
                    <td>{sideName(a.normalSide)}{a.flags.closed ? ` (${t('finance.closed')})` : ''}</td>
                    <td class="num">{money(a.debitsPosted, a.currency)}</td>
                    <td class="num">{money(a.creditsPosted, a.currency)}</td>
                    <td class="num">{money(a.balance, a.currency)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          {next ? <button type="button" disabled={busy} onClick={() => void more()}>{t('common.more')}</button> : null}
        </section>
      ) : null}
    </>
  );
}

export function AccountStatement(props: { currency: string; accountKey: string }) {
  const { currency, accountKey } = props;
  const [page, setPage] = useState<LedgerStatementPage | null>(null);
  const [lines, setLines] = useState<LedgerStatementPage['lines']>([]);
  const [error, setError] = useState<string | null>(null);
  const [saved, setSaved] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const base = `/v1/ledgers/${encodeURIComponent(currency)}/accounts/${encodeURIComponent(accountKey)}`;

  const load = async (cursor: string | null) => {
    setBusy(true);
    setError(null);
    try {
      const p = await api<LedgerStatementPage>('GET', `${base}/statement?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      setPage(p);
      setLines((before) => (cursor ? [...before, ...p.lines] : p.lines));
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  };
  useEffect(() => {
    void load(null);
  }, [base]);

  const exportCsv = async () => {
    setBusy(true);
    setSaved(null);
    setError(null);
    try {
      const file = await download(`${base}/statement.csv`, `statement-${currency}.csv`);
      saveFile(file.blob, file.name);
      setSaved(t('statement.exported', { file: file.name, size: bytes(file.blob.size) }));
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  };

  const account = page?.account;
  return (
    <>
      <h1 tabIndex={-1}>{t('statement.title')}</h1>
      <p><a href={`#/finance/${currency}`}>{t('statement.back', { currency })}</a></p>
      {error ? <Status kind="error">{error}</Status> : null}
      {account ? (
        <section class="card" aria-labelledby="account-title">
          <h2 id="account-title" class="key">{account.key}</h2>
          <dl class="facts">
            <dt>{t('finance.balance')}</dt>
            <dd data-testid="account-balance">{money(account.balance, account.currency)} ({sideName(account.normalSide)})</dd>
            <dt>{t('finance.debits')}</dt>
            <dd>{money(account.debitsPosted, account.currency)}</dd>
            <dt>{t('finance.credits')}</dt>
            <dd>{money(account.creditsPosted, account.currency)}</dd>
            <dt>{t('statement.opened')}</dt>
            <dd>{dateTime(account.openedAt)}</dd>
          </dl>
          <p>
            <button type="button" class="primary" disabled={busy} onClick={() => void exportCsv()}>{t('statement.export')}</button>
          </p>
          {saved ? <Status kind="ok">{saved}</Status> : null}
          <table data-testid="statement-lines">
            <caption>{t('statement.lines', { count: lines.length })}</caption>
            <thead>
              <tr>
                <th scope="col">{t('statement.posted')}</th>
                <th scope="col">{t('statement.code')}</th>
                <th scope="col">{t('statement.counterparty')}</th>
                <th scope="col" class="num">{t('finance.debits')}</th>
                <th scope="col" class="num">{t('finance.credits')}</th>
                <th scope="col" class="num">{t('finance.balance')}</th>
              </tr>
            </thead>
            <tbody>
              {lines.map((l) => (
                <tr key={l.seq}>
                  <td>{dateTime(l.postedAt)}</td>
                  <td>{label('ledger.code', l.code)}{l.reference ? <span class="hint"> {l.reference}</span> : null}</td>
                  <td class="key">{l.counterparty}</td>
                  <td class="num">{l.side === 'debit' ? money(l.amount, account.currency) : ''}</td>
                  <td class="num">{l.side === 'credit' ? money(l.amount, account.currency) : ''}</td>
                  <td class="num">{money(l.balance, account.currency)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {page?.nextCursor && page.lines.length > 0 ? <button type="button" disabled={busy} onClick={() => void load(page.nextCursor)}>{t('common.more')}</button> : null}
        </section>
      ) : busy ? <p role="status">{t('common.loading')}</p> : null}
    </>
  );
}
