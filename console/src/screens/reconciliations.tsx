// Finance's reconciliations: import a provider statement (its bytes sent with XMLHttpRequest, so a
// progress bar says how much has left over a slow link; POST /v1/reconciliations), the statements
// already imported and the overdue months; then one statement's exceptions by class with their
// ageing and amount at risk (GET /v1/reconciliations/{id}, /items), each resolved on the record
// (POST …/items/{itemId}/decisions) and, above the threshold, approved or rejected by a second
// finance user (POST /v1/reconciliations/decisions/{id}/approval). The maker of a decision is told
// why they cannot approve it. No beneficiary data: the API never sends any here.
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { actionsByClass } from '../../../src/domain/reconciliation-decision.js';
import { api, ApiError, json, upload, type Ageing, type DecisionView, type ReconciliationItemView, type ReconciliationView, type StatementView } from '../api';
import { catalogues, count, dateTime, money, t, type MessageKey } from '../i18n';
import { hasRole, session } from '../session';
import { bytes, errorText, escapeCloses, label, Status, useReturnFocus } from '../ui';

const formats = ['mpesa-org-portal-csv@1', 'mpesa-org-portal-xlsx@1', 'mtn-momo-portal-csv@1', 'airtel-statement-csv@1', 'mt940@1', 'camt053@1'] as const;
const ageingBuckets: readonly Ageing[] = ['0-7', '8-30', '31-90', '90+'];
const accountPattern = '[a-z0-9][a-z0-9\\-]{0,62}';

export const className = (c: string) => label('recon.class', c);
const actionName = (a: string) => label('recon.action', a);
const decisionState = (s: string) => label('recon.decisionState', s);
const shortId = (id: string) => id.slice(0, 8);
/** An item id as finance reads it: line-12 → line 12, check-0 → the file's balance check, payout-<id> → payout <id…>. */
function itemName(itemId: string): string {
  const [kind, rest = ''] = [itemId.slice(0, itemId.indexOf('-')), itemId.slice(itemId.indexOf('-') + 1)];
  if (kind === 'line') return t('recon.line', { line: rest });
  if (kind === 'check') return t('recon.class.balance_check');
  if (kind === 'payout') return t('recon.payoutOnly', { id: shortId(rest) });
  return itemId;
}

function period(p: { from: string; to: string }): string {
  return t('recon.period', { from: dateTime(p.from), to: dateTime(p.to) });
}

// ---------------------------------------------------------------- list and import

export function Reconciliations() {
  const [statements, setStatements] = useState<StatementView[] | null>(null);
  const [overdue, setOverdue] = useState<{ overdueDays: number; periods: { accountId: string; from: string; to: string; daysOverdue: number }[] } | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    Promise.all([
      api<{ statements: StatementView[] }>('GET', '/v1/reconciliations?limit=50'),
      api<NonNullable<typeof overdue>>('GET', '/v1/reconciliations/overdue'),
    ]).then(([s, o]) => {
      setStatements(s.statements);
      setOverdue(o);
    }, (e: unknown) => setError(errorText(e)));
  }, []);
  const accounts = [...new Set([...(statements ?? []).map((s) => s.accountId), ...(overdue?.periods ?? []).map((p) => p.accountId)])].sort();

  return (
    <>
      <h1 tabIndex={-1}>{t('recon.title')}</h1>
      {hasRole('finance') || hasRole('admin') ? <ImportStatement accounts={accounts} /> : null}
      {error ? <Status kind="error">{error}</Status> : null}
      {overdue && overdue.periods.length > 0 ? (
        <section class="card" aria-labelledby="overdue-title">
          <h2 id="overdue-title">{t('recon.overdue.title', { days: overdue.overdueDays })}</h2>
          <ul>
            {overdue.periods.map((p) => (
              <li key={`${p.accountId}-${p.from}`}>{t('recon.overdue.item', { account: p.accountId, period: period(p), days: count(p.daysOverdue) })}</li>
            ))}
          </ul>
        </section>
      ) : null}
      {statements ? (
        <section class="card" aria-labelledby="statements-title">
          <h2 id="statements-title">{t('recon.list.title')}</h2>
          {statements.length === 0 ? <p>{t('recon.list.none')}</p> : (
            <table data-testid="statements">
              <caption class="hint">{t('recon.list.caption')}</caption>
              <thead>
                <tr>
                  <th scope="col">{t('recon.account')}</th>
                  <th scope="col">{t('recon.periodHeading')}</th>
                  <th scope="col" class="num">{t('recon.version')}</th>
                  <th scope="col" class="num">{t('recon.lines')}</th>
                  <th scope="col">{t('recon.open')}</th>
                </tr>
              </thead>
              <tbody>
                {statements.map((s) => (
                  <tr key={s.statementId}>
                    <th scope="row">{s.accountId}</th>
                    <td>{period(s.period)}</td>
                    <td class="num">{count(s.version)}</td>
                    <td class="num">{count(s.lines.total)}</td>
                    <td><a href={`#/recon/${s.statementId}`} aria-label={t('recon.openOne', { account: s.accountId, period: period(s.period) })}>{t('recon.open')}</a></td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </section>
      ) : null}
    </>
  );
}

function ImportStatement(props: { accounts: readonly string[] }) {
  const [account, setAccount] = useState('');
  const [from, setFrom] = useState('');
  const [to, setTo] = useState('');
  const [format, setFormat] = useState('');
  const [goodLines, setGoodLines] = useState(false);
  const [file, setFile] = useState<File | null>(null);
  const [progress, setProgress] = useState<{ sent: number; total: number } | null>(null);
  const [phase, setPhase] = useState<'idle' | 'sending' | 'reconciling'>('idle');
  const [error, setError] = useState<{ text: string; lines: { line: number; column: string; problem: string }[] } | null>(null);

  const submit = async (e: Event) => {
    e.preventDefault();
    if (!file) return;
    setError(null);
    setPhase('sending');
    setProgress({ sent: 0, total: file.size });
    const query = new URLSearchParams({ account: account.trim(), from: from.trim(), to: to.trim() });
    if (format) query.set('format', format);
    if (goodLines) query.set('importGoodLines', 'true');
    const type = /\.xlsx$/i.test(file.name) ? 'application/octet-stream' : 'text/csv';
    try {
      const res = await upload<StatementView>(`/v1/reconciliations?${query.toString()}`, file, type, (sent, total) => {
        setProgress({ sent, total });
        if (sent >= total) setPhase('reconciling');
      });
      location.hash = `#/recon/${res.body.statementId}`;
    } catch (err) {
      const lines = err instanceof ApiError && Array.isArray(err.body?.lines) ? (err.body.lines as { line: number; column: string; problem: string }[]) : [];
      setError({ text: errorText(err), lines });
      setPhase('idle');
    }
  };

  const busy = phase !== 'idle';
  return (
    <form class="card" aria-labelledby="import-title" onSubmit={(e) => void submit(e)}>
      <h2 id="import-title">{t('recon.import.title')}</h2>
      <div class="row">
        <div>
          <label for="recon-account">{t('recon.account')}</label>
          <input id="recon-account" required pattern={accountPattern} list="recon-accounts" autoComplete="off" value={account} onInput={(e) => setAccount((e.currentTarget as HTMLInputElement).value)} />
          <datalist id="recon-accounts">{props.accounts.map((a) => <option key={a} value={a} />)}</datalist>
        </div>
        <div>
          <label for="recon-from">{t('recon.from')}</label>
          <input id="recon-from" required size={26} autoComplete="off" aria-describedby="recon-period-hint" value={from} onInput={(e) => setFrom((e.currentTarget as HTMLInputElement).value)} />
        </div>
        <div>
          <label for="recon-to">{t('recon.to')}</label>
          <input id="recon-to" required size={26} autoComplete="off" aria-describedby="recon-period-hint" value={to} onInput={(e) => setTo((e.currentTarget as HTMLInputElement).value)} />
        </div>
      </div>
      <p class="hint" id="recon-period-hint">{t('recon.period.hint')}</p>
      <label for="recon-format">{t('recon.format')}</label>
      <select id="recon-format" value={format} onChange={(e) => setFormat((e.currentTarget as HTMLSelectElement).value)}>
        <option value="">{t('recon.format.default')}</option>
        {formats.map((f) => <option key={f} value={f}>{f}</option>)}
      </select>
      <label for="recon-file">{t('recon.file')}</label>
      <input id="recon-file" type="file" required accept=".csv,.xlsx,.txt,.xml,.sta,text/csv" onChange={(e) => setFile((e.currentTarget as HTMLInputElement).files?.[0] ?? null)} />
      <p>
        <label class="inline">
          <input type="checkbox" checked={goodLines} onChange={(e) => setGoodLines((e.currentTarget as HTMLInputElement).checked)} /> {t('recon.goodLines')}
        </label>
      </p>
      <p>
        <button type="submit" class="primary" disabled={busy}>{t('recon.import.submit')}</button>
      </p>
      {progress && busy ? (
        <div data-testid="upload-progress">
          <label for="recon-progress">{phase === 'sending' ? t('recon.sending', { sent: bytes(progress.sent), total: bytes(progress.total) }) : t('recon.reconciling')}</label>
          <progress id="recon-progress" max={progress.total || 1} value={progress.sent} />
        </div>
      ) : null}
      {error ? <Status kind="error">{error.text}</Status> : null}
      {error && error.lines.length > 0 ? (
        <table>
          <caption>{t('recon.refusedLines')}</caption>
          <thead>
            <tr><th scope="col">{t('batch.problems.line')}</th><th scope="col">{t('batch.problems.column')}</th><th scope="col">{t('batch.problems.problem')}</th></tr>
          </thead>
          <tbody>
            {error.lines.map((l, i) => <tr key={i}><td>{l.line}</td><td>{l.column}</td><td>{l.problem}</td></tr>)}
          </tbody>
        </table>
      ) : null}
    </form>
  );
}

// ---------------------------------------------------------------- one statement

export function Reconciliation(props: { statementId: string }) {
  const id = encodeURIComponent(props.statementId);
  const [view, setView] = useState<ReconciliationView | null>(null);
  const [items, setItems] = useState<ReconciliationItemView[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [decisions, setDecisions] = useState<DecisionView[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [deciding, setDeciding] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const mayDecide = hasRole('finance') || hasRole('admin');

  const load = async () => {
    try {
      const [v, page, d] = await Promise.all([
        api<ReconciliationView>('GET', `/v1/reconciliations/${id}`),
        api<{ items: ReconciliationItemView[]; next: string | null }>('GET', `/v1/reconciliations/${id}/items?limit=200`),
        api<{ decisions: DecisionView[] }>('GET', `/v1/reconciliations/${id}/decisions`),
      ]);
      setView(v);
      setItems(page.items);
      setNext(page.next);
      setDecisions(d.decisions);
      setError(null);
    } catch (e) {
      setError(errorText(e));
    }
  };
  useEffect(() => {
    void load();
  }, [id]);

  const more = async () => {
    if (!next) return;
    try {
      const page = await api<{ items: ReconciliationItemView[]; next: string | null }>('GET', `/v1/reconciliations/${id}/items?limit=200&after=${encodeURIComponent(next)}`);
      setItems([...items, ...page.items]);
      setNext(page.next);
    } catch (e) {
      setError(errorText(e));
    }
  };

  const after = (text: string) => {
    setDeciding(null);
    setDone(text);
    void load();
  };

  if (!view) {
    return (
      <>
        <h1 tabIndex={-1}>{t('recon.one.title')}</h1>
        {error ? <Status kind="error">{error}</Status> : <p role="status">{t('common.loading')}</p>}
      </>
    );
  }
  const cur = view.currency;
  const awaiting = decisions.filter((d) => d.state === 'awaiting_approval');
  const checks = view.checks.filter((c) => !c.acknowledged);
  const exceptionClasses = view.classReport.filter((c) => c.exception);
  return (
    <>
      <h1 tabIndex={-1}>{t('recon.one.title')}</h1>
      <p><a href="#/recon">{t('recon.back')}</a></p>
      <section class="card" aria-labelledby="recon-summary">
        <h2 id="recon-summary">{t('recon.one.heading', { account: view.accountId, period: period(view.period) })}</h2>
        <dl class="facts">
          <dt>{t('recon.state')}</dt>
          <dd data-testid="recon-state">{t(view.closed ? 'recon.closed' : 'recon.openState')}</dd>
          <dt>{t('recon.exceptionsOpen')}</dt>
          <dd data-testid="exceptions-open">{count(view.exceptions.open + checks.length)}{view.exceptions.urgent > 0 ? ` — ${t('recon.urgent', { count: view.exceptions.urgent })}` : ''}</dd>
          <dt>{t('recon.atRisk')}</dt>
          <dd data-testid="at-risk">{money(view.exceptions.atRisk, cur)}</dd>
          <dt>{t('recon.lines')}</dt>
          <dd>{t('recon.linesCounts', { total: count(view.lines.total), imported: count(view.lines.imported), refused: count(view.lines.refused) })}</dd>
          <dt>{t('recon.balances')}</dt>
          <dd>{view.openingBalance !== null && view.closingBalance !== null ? t('recon.openingClosing', { opening: money(view.openingBalance, cur), closing: money(view.closingBalance, cur) }) : t('recon.noBalances')}</dd>
          <dt>{t('recon.float')}</dt>
          <dd>{view.float === null ? t('recon.float.none') : view.float.state === 'not_comparable' ? view.float.note : t(view.float.state === 'ok' ? 'recon.float.ok' : 'recon.float.mismatch', { ledger: money(view.float.ledgerFloat, cur), closing: money(view.float.closing, cur) })}</dd>
          <dt>{t('recon.file')}</dt>
          <dd>{t('recon.fileFacts', { format: view.format, version: view.version, size: bytes(view.sizeBytes) })} <code class="code">{view.sha256.slice(0, 16)}…</code></dd>
        </dl>
        {done ? <Status kind="ok">{done}</Status> : null}
        {error ? <Status kind="error">{error}</Status> : null}
      </section>

      <section class="card" aria-labelledby="classes-title">
        <h2 id="classes-title">{t('recon.classes.title')}</h2>
        {exceptionClasses.length === 0 ? <p>{t('recon.classes.none')}</p> : (
          <div class="scroll" tabIndex={0} role="region" aria-labelledby="classes-title">
            <table data-testid="class-report">
              <caption class="hint">{t('recon.classes.caption')}</caption>
              <thead>
                <tr>
                  <th scope="col">{t('recon.class')}</th>
                  <th scope="col" class="num">{t('recon.openCount')}</th>
                  <th scope="col" class="num">{t('recon.atRisk')}</th>
                  {ageingBuckets.map((b) => <th key={b} scope="col" class="num">{t('recon.ageing', { bucket: b })}</th>)}
                </tr>
              </thead>
              <tbody>
                {exceptionClasses.map((c) => (
                  <tr key={c.class}>
                    <th scope="row">{className(c.class)}</th>
                    <td class="num">{t('recon.openOf', { open: count(c.open), count: count(c.count) })}</td>
                    <td class="num">{money(c.atRisk, cur)}</td>
                    {ageingBuckets.map((b) => {
                      const a = c.ageing[b];
                      return <td key={b} class="num">{a && a.count > 0 ? <>{count(a.count)}<br /><span class="hint">{money(a.atRisk, cur)}</span></> : '—'}</td>;
                    })}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        <p class="hint">{t('recon.matched', { count: count(view.classReport.filter((c) => !c.exception).reduce((n, c) => n + c.count, 0)) })}</p>
      </section>

      {awaiting.length > 0 ? (
        <section class="card" aria-labelledby="awaiting-title">
          <h2 id="awaiting-title">{t('recon.awaiting.title')}</h2>
          {awaiting.map((d) => <Approval key={d.decisionId} decision={d} currency={cur} mayDecide={mayDecide} onDone={after} />)}
        </section>
      ) : null}

      <section class="card" aria-labelledby="items-title">
        <h2 id="items-title">{t('recon.items.title')}</h2>
        {checks.length === 0 && items.length === 0 ? <p>{t('recon.items.none')}</p> : (
          <div class="scroll" tabIndex={0} role="region" aria-labelledby="items-title">
            <table data-testid="exceptions">
              <caption class="hint">{t('recon.items.caption')}</caption>
              <thead>
                <tr>
                  <th scope="col">{t('recon.item')}</th>
                  <th scope="col">{t('recon.class')}</th>
                  <th scope="col">{t('recon.reference')}</th>
                  <th scope="col" class="num">{t('recon.statementAmount')}</th>
                  <th scope="col" class="num">{t('recon.ledgerAmount')}</th>
                  <th scope="col" class="num">{t('recon.atRisk')}</th>
                  <th scope="col" class="num">{t('recon.age')}</th>
                  <th scope="col">{t('recon.decision')}</th>
                </tr>
              </thead>
              <tbody>
                {checks.map((c) => (
                  <tr key={c.itemId}>
                    <th scope="row">{c.line === null ? t('recon.wholeFile') : t('recon.line', { line: c.line })}</th>
                    <td>{label('recon.check', c.kind)}</td>
                    <td />
                    <td class="num">{money(c.actual, cur)}</td>
                    <td class="num">{money(c.expected, cur)}</td>
                    <td class="num" />
                    <td class="num" />
                    <td>{mayDecide ? <button type="button" class="nowrap" aria-expanded={deciding === c.itemId} onClick={() => setDeciding(deciding === c.itemId ? null : c.itemId)}>{t('recon.decide')}</button> : null}</td>
                  </tr>
                ))}
                {items.map((i) => (
                  <tr key={i.itemId} data-item={i.itemId}>
                    <th scope="row">{i.line === null ? t('recon.payoutOnly', { id: shortId(i.payoutId ?? '') }) : t('recon.line', { line: i.line })}</th>
                    <td>{className(i.class)}</td>
                    <td class="key">{i.providerTransactionId ?? ''}{i.payoutId && i.line !== null ? <span class="hint"> {t('recon.payout', { id: shortId(i.payoutId) })}</span> : null}</td>
                    <td class="num">{i.statementAmount === null ? '—' : money(i.statementAmount, cur)}</td>
                    <td class="num">{i.ledgerAmount === null ? '—' : money(i.ledgerAmount, cur)}</td>
                    <td class="num">{money(i.atRisk, cur)}</td>
                    <td class="num">{i.ageDays === null ? '—' : t('recon.days', { count: i.ageDays })}</td>
                    <td>
                      {i.decision ? t('recon.decisionIs', { action: actionName(i.decision.action), state: decisionState(i.decision.state) }) : i.open && mayDecide ? (
                        <button type="button" class="nowrap" aria-expanded={deciding === i.itemId} onClick={() => setDeciding(deciding === i.itemId ? null : i.itemId)}>{t('recon.decide')}</button>
                      ) : i.open ? t('recon.openState') : t('recon.closed')}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        {next ? <button type="button" onClick={() => void more()}>{t('common.more')}</button> : null}
        {deciding ? (
          <Decide
            key={deciding}
            statementId={props.statementId}
            itemId={deciding}
            item={items.find((i) => i.itemId === deciding) ?? null}
            currency={cur}
            onCancel={() => setDeciding(null)}
            onDone={after}
          />
        ) : null}
      </section>

      {decisions.length > 0 ? (
        <section class="card" aria-labelledby="decisions-title">
          <h2 id="decisions-title">{t('recon.decisions.title')}</h2>
          <table data-testid="decisions">
            <caption class="hint">{t('recon.decisions.caption')}</caption>
            <thead>
              <tr>
                <th scope="col">{t('recon.item')}</th>
                <th scope="col">{t('recon.action')}</th>
                <th scope="col" class="num">{t('batch.amount')}</th>
                <th scope="col">{t('recon.decisionStateHeading')}</th>
                <th scope="col">{t('recon.decidedBy')}</th>
                <th scope="col">{t('recon.checkedBy')}</th>
                <th scope="col">{t('recon.comment')}</th>
              </tr>
            </thead>
            <tbody>
              {decisions.map((d) => (
                <tr key={d.decisionId}>
                  <th scope="row">{itemName(d.itemId)}</th>
                  <td>{actionName(d.action)}</td>
                  <td class="num">{money(d.amount, cur)}</td>
                  <td>{decisionState(d.state)}</td>
                  <td>{d.decidedBy}<br /><span class="hint">{dateTime(d.decidedAt)}</span></td>
                  <td>{d.checkedBy ?? '—'}{d.checkedAt ? <><br /><span class="hint">{dateTime(d.checkedAt)}</span></> : null}</td>
                  <td>{d.comment}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      ) : null}
    </>
  );
}

/** One exception resolved on the record: an action its class allows, and a comment finance can read later. */
function Decide(props: { statementId: string; itemId: string; item: ReconciliationItemView | null; currency: string; onCancel: () => void; onDone: (text: string) => void }) {
  const cls = props.item ? props.item.class : 'balance_check';
  const actions = (actionsByClass as Record<string, readonly string[] | undefined>)[cls] ?? [];
  const [action, setAction] = useState(actions[0] ?? '');
  const [comment, setComment] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const helpKey = `recon.action.help.${action}`;
  // Opened from its row's button: the keyboard continues from the form's heading.
  const heading = useRef<HTMLHeadingElement>(null);
  // Focused in the same frame the form appears, so a key pressed as soon as it is seen lands in it.
  useLayoutEffect(() => heading.current?.focus(), []);
  // Closed, the focus goes back to the row's button, or to the page's heading once the row is decided.
  useReturnFocus(() => document.querySelector<HTMLElement>('main h1'));
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const d = await api<DecisionView>('POST', `/v1/reconciliations/${encodeURIComponent(props.statementId)}/items/${encodeURIComponent(props.itemId)}/decisions`, json({ action, comment: comment.trim() }));
      props.onDone(t(d.state === 'applied' ? 'recon.decided.applied' : 'recon.decided.awaiting', { action: actionName(d.action), amount: money(d.amount, props.currency) }));
    } catch (err) {
      setError(errorText(err));
      setBusy(false);
    }
  };
  return (
    <form class="card decide" aria-labelledby="decide-title" onSubmit={(e) => void submit(e)} onKeyDown={escapeCloses(props.onCancel)}>
      <h3 id="decide-title" tabIndex={-1} ref={heading}>{t('recon.decide.title', { item: props.item?.line ? t('recon.line', { line: props.item.line }) : props.itemId, class: className(cls) })}</h3>
      <fieldset>
        <legend>{t('recon.action')}</legend>
        {actions.map((a) => (
          <label key={a} class="inline">
            <input type="radio" name="action" value={a} checked={action === a} onChange={() => setAction(a)} /> {actionName(a)}
          </label>
        ))}
      </fieldset>
      <p class="hint">{t(helpKey in catalogues.en ? (helpKey as MessageKey) : 'recon.action.help')}</p>
      <label for="decide-comment">{t('recon.comment')}</label>
      <textarea id="decide-comment" required maxLength={500} rows={2} value={comment} onInput={(e) => setComment((e.currentTarget as HTMLTextAreaElement).value)} />
      <p class="row">
        <button type="submit" class="primary" disabled={busy || !action}>{t('recon.decide.submit')}</button>
        <button type="button" onClick={props.onCancel}>{t('common.cancel')}</button>
      </p>
      {error ? <Status kind="error">{error}</Status> : null}
    </form>
  );
}

/** A decision awaiting a second finance user: approve or reject with a comment; its maker is told why they cannot. */
function Approval(props: { decision: DecisionView; currency: string; mayDecide: boolean; onDone: (text: string) => void }) {
  const d = props.decision;
  const [comment, setComment] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const mine = d.decidedBy === session.value?.subject;
  const send = async (approve: boolean) => {
    if (!comment.trim()) {
      setError(t('recon.approval.needComment'));
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const r = await api<DecisionView>('POST', `/v1/reconciliations/decisions/${encodeURIComponent(d.decisionId)}/approval`, json({ approve, comment: comment.trim() }));
      props.onDone(t(r.state === 'applied' ? 'recon.approval.applied' : 'recon.approval.rejected', { action: actionName(r.action), amount: money(r.amount, props.currency) }));
    } catch (err) {
      setError(errorText(err));
      setBusy(false);
    }
  };
  const idBase = `approval-${d.decisionId}`;
  return (
    <div class="approval" data-testid="awaiting" role="group" aria-labelledby={`${idBase}-title`}>
      <p id={`${idBase}-title`}><strong>{t('recon.awaiting.item', { item: itemName(d.itemId), action: actionName(d.action), amount: money(d.amount, props.currency), by: d.decidedBy })}</strong></p>
      <p>{t('recon.awaiting.comment', { comment: d.comment })}</p>
      {!props.mayDecide ? null : mine ? (
        <Status kind="info">{t('recon.approval.mine')}</Status>
      ) : (
        <>
          <label for={`${idBase}-comment`}>{t('recon.comment')}</label>
          <textarea id={`${idBase}-comment`} required maxLength={500} rows={2} value={comment} onInput={(e) => setComment((e.currentTarget as HTMLTextAreaElement).value)} />
          <p class="row">
            <button type="button" class="primary" disabled={busy} onClick={() => void send(true)}>{t('recon.approval.approve')}</button>
            <button type="button" disabled={busy} onClick={() => void send(false)}>{t('recon.approval.reject')}</button>
          </p>
        </>
      )}
      {error ? <Status kind="error">{error}</Status> : null}
    </div>
  );
}
