// Operations (administrators and auditors; issue #16 item 6). Breakers: each provider account
// serving the organisation (GET /v1/operations/providers), whether an administrator holds it open,
// what each worker last reported of its own breaker, and the most calls a worker sends at once —
// calls in flight are counted inside each worker only, so the console cannot show a count.
// Administrators hold an account open or close it by hand (PUT /v1/provider-accounts/{id}/breaker).
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, json, type ProviderOperationsView } from '../api';
import { count, dateTime, t } from '../i18n';
import { hasRole } from '../session';
import { errorText, Status } from '../ui';
import { label } from './finance';

type Account = ProviderOperationsView['accounts'][number];

/** One line saying where the account's breaker stands, from the hold and the workers' reports. */
function breakerSummary(a: Account): string {
  if (a.hold === 'held_open') return t('ops.breaker.held');
  const open = a.reported.filter((r) => r.state === 'open').length;
  const probing = a.reported.filter((r) => r.state === 'half_open').length;
  if (open > 0) return t('ops.breaker.openIn', { open, workers: a.reported.length });
  if (probing > 0) return t('ops.breaker.probingIn', { probing, workers: a.reported.length });
  return t('ops.breaker.closed');
}

export function Breakers() {
  const [accounts, setAccounts] = useState<Account[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const [changing, setChanging] = useState<{ account: Account; state: 'open' | 'closed' } | null>(null);
  const admin = hasRole('admin');
  const load = async () => {
    try {
      setAccounts((await api<ProviderOperationsView>('GET', '/v1/operations/providers')).accounts);
      setError(null);
    } catch (e) {
      setError(errorText(e));
    }
  };
  useEffect(() => {
    void load();
  }, []);

  return (
    <>
      <h1 tabIndex={-1}>{t('ops.breakers.title')}</h1>
      <p class="hint">{t('ops.breakers.note')}</p>
      {error ? <Status kind="error">{error}</Status> : null}
      {done ? <Status kind="ok">{done}</Status> : null}
      {accounts && accounts.length === 0 ? <p>{t('ops.breakers.none')}</p> : null}
      {accounts && accounts.length > 0 ? (
        <div class="scroll" tabIndex={0} role="region" aria-labelledby="breakers-caption">
          <table data-testid="breakers">
            <caption id="breakers-caption">{t('ops.breakers.caption', { count: count(accounts.length) })}</caption>
            <thead>
              <tr>
                <th scope="col">{t('ops.account')}</th>
                <th scope="col">{t('ops.provider')}</th>
                <th scope="col">{t('ops.market')}</th>
                <th scope="col">{t('ops.breaker')}</th>
                <th scope="col">{t('ops.workers')}</th>
                <th scope="col">{t('ops.inFlightMax')}</th>
                {admin ? <th scope="col">{t('ops.byHand')}</th> : null}
              </tr>
            </thead>
            <tbody>
              {accounts.map((a) => (
                <tr key={a.accountId} data-account={a.accountId}>
                  <th scope="row" class="key">{a.accountId}</th>
                  <td>{label('provider', a.provider)}</td>
                  <td>{a.country} · {a.currency}</td>
                  <td>
                    <strong class={a.hold === 'held_open' || a.reported.some((r) => r.state !== 'closed') ? 'warn' : undefined}>{breakerSummary(a)}</strong>
                    {a.lastChange ? (
                      <p class="hint">
                        {t(a.lastChange.state === 'open' ? 'ops.lastChange.open' : 'ops.lastChange.closed', { by: a.lastChange.setBy ?? t('ops.otherOrganisation'), at: dateTime(a.lastChange.at) })}
                        {' '}{t('ops.reason', { reason: a.lastChange.reason })}
                      </p>
                    ) : null}
                  </td>
                  <td>
                    {a.reported.length === 0 ? <span class="hint">{t('ops.workers.none')}</span> : (
                      <ul class="plain">
                        {a.reported.map((r) => (
                          <li key={r.process}>{t('ops.workers.report', { process: r.process, state: label('ops.state', r.state), cause: label('ops.cause', r.cause), at: dateTime(r.at) })}</li>
                        ))}
                      </ul>
                    )}
                  </td>
                  <td>{a.callLimits.concurrency === null ? t('ops.inFlight.unbounded') : t('ops.inFlight.atMost', { n: count(a.callLimits.concurrency) })}</td>
                  {admin ? (
                    <td>
                      {a.hold === 'held_open' ? (
                        <button type="button" class="nowrap" onClick={() => { setDone(null); setChanging({ account: a, state: 'closed' }); }}>{t('ops.close')}<span class="sr-only"> {a.accountId}</span></button>
                      ) : (
                        <button type="button" class="nowrap" onClick={() => { setDone(null); setChanging({ account: a, state: 'open' }); }}>{t('ops.hold')}<span class="sr-only"> {a.accountId}</span></button>
                      )}
                    </td>
                  ) : null}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      {changing ? (
        <BreakerChange
          key={`${changing.account.accountId}-${changing.state}`}
          accountId={changing.account.accountId}
          state={changing.state}
          onCancel={() => setChanging(null)}
          onDone={(text) => {
            setChanging(null);
            setDone(text);
            void load();
          }}
        />
      ) : null}
    </>
  );
}

function BreakerChange(props: { accountId: string; state: 'open' | 'closed'; onCancel: () => void; onDone: (text: string) => void }) {
  const [reason, setReason] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => heading.current?.focus(), []);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const r = await api<{ hold: string; replayed: boolean }>('PUT', `/v1/provider-accounts/${encodeURIComponent(props.accountId)}/breaker`, json({ state: props.state, reason: reason.trim() }));
      props.onDone(t(r.hold === 'held_open' ? (r.replayed ? 'ops.done.alreadyHeld' : 'ops.done.held') : 'ops.done.closed', { account: props.accountId }));
    } catch (err) {
      setError(errorText(err));
      setBusy(false);
    }
  };
  return (
    <form class="card decide" aria-labelledby="breaker-title" onSubmit={(e) => void submit(e)}>
      <h2 id="breaker-title" tabIndex={-1} ref={heading}>{t(props.state === 'open' ? 'ops.change.holdTitle' : 'ops.change.closeTitle', { account: props.accountId })}</h2>
      <p class="hint" id="breaker-help">{t(props.state === 'open' ? 'ops.change.holdHelp' : 'ops.change.closeHelp')}</p>
      <label for="breaker-reason">{t('ops.change.reason')}</label>
      <textarea id="breaker-reason" required maxLength={500} rows={2} aria-describedby="breaker-help" value={reason} onInput={(e) => setReason((e.currentTarget as HTMLTextAreaElement).value)} />
      <p class="row">
        <button type="submit" class="primary" disabled={busy || !reason.trim()}>{t(props.state === 'open' ? 'ops.change.hold' : 'ops.change.close')}</button>
        <button type="button" onClick={props.onCancel}>{t('common.cancel')}</button>
      </p>
      {error ? <Status kind="error">{error}</Status> : null}
    </form>
  );
}
