// The programme manager's screen: the programme's rules from the API, a CSV dropped or chosen,
// every problem by line and column, then sign in this browser and submit.
import { useState } from 'preact/hooks';
import { api, ApiError, type BatchView, type PolicyView, type ProviderAccountsView, type RepayRequestsPage } from '../api';
import { buildFromCsv, programmeRules, type BuiltBatch, type Problem, type ProgrammeRules } from '../batch';
import { signBatch } from '../keys';
import { catalogues, count, dateTime, maskNumber, money, t, type MessageKey } from '../i18n';
import { session } from '../session';
import { AmountsTable, errorText, FileDrop, label, stateName, Status } from '../ui';
import { MyKey, useMyKey } from './my-key';

const lastProgramme = () => localStorage.getItem('tuma.programme') ?? '';
/** Open re-pay requests shown at once; the rest are named by `tuma` or the API a page at a time. */
export const repayRequestsShown = 100;

export function NewBatch() {
  const s = session.value!;
  const keyState = useMyKey('maker');
  const [key] = keyState;
  const [programmeId, setProgrammeId] = useState(lastProgramme());
  const [rules, setRules] = useState<ProgrammeRules | null>(null);
  const [file, setFile] = useState<{ name: string; bytes: Uint8Array } | null>(null);
  const [result, setResult] = useState<{ ok: true; batch: BuiltBatch } | { ok: false; problems: Problem[] } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [submitted, setSubmitted] = useState<{ view: BatchView; bytes: Uint8Array } | null>(null);
  const [repays, setRepays] = useState<RepayRequestsPage | null>(null);

  const check = (r: ProgrammeRules, f: { name: string; bytes: Uint8Array }) => {
    setSubmitted(null);
    setResult(buildFromCsv(f.bytes, { organisationId: s.organisationId, rules: r, now: new Date(), batchId: crypto.randomUUID() }));
  };

  const loadRules = async (e: Event) => {
    e.preventDefault();
    setError(null);
    try {
      const id = encodeURIComponent(programmeId.trim());
      const [policy, accounts, open] = await Promise.all([
        api<PolicyView>('GET', `/v1/programmes/${id}/policy`),
        api<ProviderAccountsView>('GET', `/v1/programmes/${id}/provider-accounts`),
        api<RepayRequestsPage>('GET', `/v1/programmes/${id}/repay-requests?state=open&limit=${repayRequestsShown}`),
      ]);
      const r = programmeRules(programmeId.trim(), policy, accounts);
      if (!r) throw new Error(accounts.currency);
      localStorage.setItem('tuma.programme', programmeId.trim());
      setRules(r);
      setRepays(open);
      if (file) check(r, file);
    } catch (err) {
      setRules(null);
      setRepays(null);
      setError(errorText(err));
    }
  };

  const submit = async () => {
    if (!result?.ok || !key) return;
    setBusy(true);
    setError(null);
    try {
      const jws = await signBatch(key, result.batch.bytes);
      const view = await api<BatchView>('POST', '/v1/batches', { type: 'application/jose+json', text: JSON.stringify(jws) });
      setSubmitted({ view, bytes: result.batch.bytes });
    } catch (err) {
      if (err instanceof ApiError && err.rowErrors.length > 0) setError(`${errorText(err)} (${err.rowErrors.map((r) => `${r.row ?? '—'}/${r.field}: ${`row.${r.code}` in catalogues.en ? t(`row.${r.code}` as MessageKey) : r.code}`).join('; ')})`);
      else setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  const download = submitted ? URL.createObjectURL(new Blob([submitted.bytes as BlobPart], { type: 'application/json' })) : null;

  return (
    <>
      <h1 tabIndex={-1}>{t('batch.new.title')}</h1>
      <form class="card row" onSubmit={(e) => void loadRules(e)}>
        <div>
          <label for="programme">{t('batch.programme')}</label>
          <input id="programme" required value={programmeId} autoComplete="off" onInput={(e) => setProgrammeId((e.currentTarget as HTMLInputElement).value)} />
        </div>
        <button type="submit">{t('batch.loadProgramme')}</button>
      </form>
      {rules ? (
        <p data-testid="rules">
          {t('batch.programmeRules', { programme: rules.programmeId, currency: rules.currency, providers: rules.providers.map((p) => label('provider', p)).join(', '), rowErrors: t(`batch.rowErrors.${rules.policy.rowErrors}` as MessageKey) })}
        </p>
      ) : null}
      {error ? <Status kind="error">{error}</Status> : null}
      {rules && repays ? <RepayRequests page={repays} /> : null}
      {rules ? (
        <FileDrop
          id="csv"
          label={t('batch.csv')}
          hint={t('batch.csv.hint')}
          accept=".csv,text/csv"
          onFile={(name, bytes) => {
            setFile({ name, bytes });
            check(rules, { name, bytes });
          }}
        />
      ) : null}
      {result && !result.ok && file ? (
        <section aria-labelledby="problems" class="problems">
          <div role="alert">
            <h2 id="problems">{t('batch.problems.title', { count: result.problems.length, file: file.name })}</h2>
          </div>
          <table data-testid="problems">
            <thead>
              <tr>
                <th scope="col" class="num">{t('batch.problems.line')}</th>
                <th scope="col">{t('batch.problems.column')}</th>
                <th scope="col">{t('batch.problems.problem')}</th>
              </tr>
            </thead>
            <tbody>
              {result.problems.map((p, i) => (
                <tr key={i}>
                  <td class="num">{p.line}</td>
                  <td><code>{p.column}</code></td>
                  <td>{t(p.message, p.vars ?? {})}{p.code ? <> <code class="code">{p.code}</code></> : null}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      ) : null}
      {result?.ok && file ? (
        <section aria-labelledby="ready" class="card">
          <h2 id="ready">{t('batch.ok.title', { file: file.name, count: result.batch.count, total: money(result.batch.total, result.batch.currency) })}</h2>
          <AmountsTable caption={t('batch.byProvider')} rows={result.batch.byProvider} currency={result.batch.currency} />
          <table>
            <caption>{t('batch.preview')}</caption>
            <thead>
              <tr>
                <th scope="col">{t('batch.ref')}</th>
                <th scope="col">{t('batch.provider')}</th>
                <th scope="col">{t('batch.msisdn')}</th>
                <th scope="col" class="num">{t('batch.amount')}</th>
                {result.batch.repaying > 0 ? <th scope="col">{t('batch.repays')}</th> : null}
              </tr>
            </thead>
            <tbody>
              {result.batch.preview.map((p) => (
                <tr key={p.ref}>
                  <td>{p.ref}</td>
                  <td>{label('provider', p.provider)}</td>
                  <td>{maskNumber(p.msisdn)}</td>
                  <td class="num">{money(p.amount, result.batch.currency)}</td>
                  {result.batch.repaying > 0 ? <td class="key">{p.repays ?? ''}</td> : null}
                </tr>
              ))}
            </tbody>
          </table>
          {result.batch.repaying > 0 ? <p data-testid="repaying">{t('batch.repaying', { count: result.batch.repaying })}</p> : null}
          {!submitted ? (
            key ? (
              <button type="button" class="primary" disabled={busy} onClick={() => void submit()}>
                {busy ? t('batch.signing') : t('batch.signSubmit')}
              </button>
            ) : (
              <Status kind="info">{t('batch.noKey')}</Status>
            )
          ) : null}
        </section>
      ) : null}
      {submitted ? (
        <section class="card" aria-labelledby="submitted">
          <div role="status">
            <h2 id="submitted">{t('batch.submitted', { id: submitted.view.batchId, state: stateName(submitted.view.state) })}</h2>
          </div>
          <p>{t('follow.approvals', { received: count(submitted.view.approvals.received), required: count(submitted.view.approvals.required) })}</p>
          <p>
            <a href={download ?? '#'} download={`batch-${submitted.view.batchId}.json`}>{t('batch.download')}</a>
          </p>
          <p>
            <a href={`#/batch/${submitted.view.batchId}`}>{t('batch.follow')}</a>
          </p>
        </section>
      ) : null}
      <MyKey role="maker" keyState={keyState} />
    </>
  );
}

/** The programme's open re-pay requests: each payout id goes in a `repays` column of the next batch, on a row paying the same number and amount. */
function RepayRequests(props: { page: RepayRequestsPage }) {
  const { items, next } = props.page;
  return (
    <section class="card" aria-labelledby="repays-title">
      <h2 id="repays-title">{t('repays.title')}</h2>
      {items.length === 0 ? (
        <p>{t('repays.none')}</p>
      ) : (
        <>
          <p class="hint">{t('repays.help')}</p>
          <div class="scroll" tabIndex={0} role="region" aria-labelledby="repays-caption">
            <table data-testid="repay-requests">
              <caption id="repays-caption">{t('repays.caption', { count: items.length })}</caption>
              <thead>
                <tr>
                  <th scope="col">{t('repays.payout')}</th>
                  <th scope="col" class="num">{t('batch.amount')}</th>
                  <th scope="col">{t('repays.requestedAt')}</th>
                </tr>
              </thead>
              <tbody>
                {items.map((r) => (
                  <tr key={r.requestId}>
                    <th scope="row" class="key">{r.payoutId}</th>
                    <td class="num">{money(r.amount, r.currency)}</td>
                    <td>{dateTime(r.requestedAt)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {next ? <p class="hint">{t('repays.more', { shown: count(items.length) })}</p> : null}
        </>
      )}
    </section>
  );
}
