// The Tuma console: one page, hash routes, every call to the public API with the signed-in
// person's bearer token. Screens by role: programme manager (new batch), approver (approve),
// administrator (signer keys), everyone (follow a batch).
import { render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import './style.css';
import { locale, locales, onLocaleChange, setLocale, t, type Locale, type MessageKey } from './i18n';
import { hasRole, loadConsoleConfig, oidcFinish, onSessionChange, session, signOut, type ConsoleConfig } from './session';
import { Approve } from './screens/approve';
import { Audit } from './screens/audit';
import { Breakers, Queues } from './screens/operations';
import { AccountStatement, Balances } from './screens/finance';
import { Reconciliation, Reconciliations } from './screens/reconciliations';
import { Follow } from './screens/follow';
import { KeysAdmin } from './screens/keys-admin';
import { NewBatch } from './screens/new-batch';
import { SignIn } from './screens/sign-in';
import { signInFailure, Status } from './ui';

/** The ledger and reconciliations are read by finance, auditors and administrators (permissions.ts). */
const readsLedger = () => hasRole('finance') || hasRole('auditor') || hasRole('admin');
/** The audit log: auditors and administrators. */
const readsAudit = () => hasRole('auditor') || hasRole('admin');
/** Operations (breakers, queues): administrators act, auditors read. */
const readsOperations = readsAudit;

function useHash(): string {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const on = () => setHash(location.hash);
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return hash;
}

function App() {
  const [, setTick] = useState(0);
  const [config, setConfig] = useState<ConsoleConfig | null>(null);
  // Said at render time, in the reader's language of the moment.
  const [failure, setFailure] = useState<(() => string) | null>(null);
  const hash = useHash();
  const main = useRef<HTMLElement>(null);
  useEffect(() => {
    const again = () => setTick((n) => n + 1);
    const a = onLocaleChange(again);
    const b = onSessionChange(again);
    document.documentElement.lang = locale.value;
    loadConsoleConfig().then(setConfig, () => setFailure(() => () => t('error.network')));
    oidcFinish().catch((e: unknown) => setFailure(() => () => signInFailure(e)));
    return () => {
      a();
      b();
    };
  }, []);
  // A new screen: its heading gets the focus, so keyboard and screen-reader users start there.
  useEffect(() => {
    main.current?.querySelector<HTMLElement>('h1')?.focus();
    document.title = `${t('app.title')}`;
  }, [hash, session.value?.token]);

  const s = session.value;
  const route = hash.replace(/^#\/?/, '').split('/');
  let screen;
  if (!s) screen = config ? <SignIn config={config} /> : null;
  else if (route[0] === 'new' && hasRole('programme_manager')) screen = <NewBatch />;
  else if (route[0] === 'approve' && hasRole('approver')) screen = <Approve />;
  else if (route[0] === 'keys' && hasRole('admin')) screen = <KeysAdmin />;
  else if (route[0] === 'finance' && readsLedger()) screen = <Balances key={route[1] ?? ''} currency={route[1] ?? null} />;
  else if (route[0] === 'statement' && readsLedger() && route[1] && route[2]) screen = <AccountStatement key={hash} currency={route[1]} accountKey={decodeURIComponent(route.slice(2).join('/'))} />;
  else if (route[0] === 'recon' && readsLedger() && route[1]) screen = <Reconciliation key={route[1]} statementId={route[1]} />;
  else if (route[0] === 'recon' && readsLedger()) screen = <Reconciliations />;
  else if (route[0] === 'audit' && readsAudit()) screen = <Audit />;
  else if (route[0] === 'breakers' && readsOperations()) screen = <Breakers />;
  else if (route[0] === 'queues' && readsOperations()) screen = <Queues />;
  else if (route[0] === 'batch') screen = <Follow key={route[1] ?? ''} batchId={route[1] ?? null} />;
  else screen = <Home />;

  const links: [string, MessageKey, boolean][] = s
    ? [
        ['#/', 'nav.home', true],
        ['#/new', 'nav.newBatch', hasRole('programme_manager')],
        ['#/approve', 'nav.approve', hasRole('approver')],
        ['#/batch', 'nav.batch', true],
        ['#/keys', 'nav.keys', hasRole('admin')],
        ['#/finance', 'nav.finance', readsLedger()],
        ['#/recon', 'nav.recon', readsLedger()],
        ['#/audit', 'nav.audit', readsAudit()],
        ['#/breakers', 'nav.ops', readsOperations()],
        ['#/queues', 'nav.queues', readsOperations()],
      ]
    : [];
  return (
    <>
      <a class="skip" href="#main" onClick={(e) => { e.preventDefault(); main.current?.querySelector<HTMLElement>('h1')?.focus(); }}>{t('app.skip')}</a>
      <header>
        <p class="brand">{t('app.title')}</p>
        {s ? (
          <nav aria-label={t('app.title')}>
            <ul>
              {links.filter(([, , shown]) => shown).map(([href, label]) => (
                <li key={href}>
                  <a href={href} aria-current={hash === href || (href !== '#/' && hash.startsWith(href)) ? 'page' : undefined}>{t(label)}</a>
                </li>
              ))}
            </ul>
          </nav>
        ) : null}
        <div class="session">
          <label for="locale">{t('app.language')}</label>{' '}
          <select id="locale" value={locale.value} onChange={(e) => setLocale((e.currentTarget as HTMLSelectElement).value as Locale)}>
            {locales.map((l) => (
              <option key={l} value={l} lang={l}>{l === 'en' ? 'English' : 'Français'}</option>
            ))}
          </select>
          {s ? (
            <>
              <span data-testid="who">{t('session.as', { subject: s.subject, org: s.organisationId, roles: s.roles.map((r) => t(`role.${r}` as MessageKey)).join(', ') })}</span>{' '}
              <button type="button" onClick={() => { signOut(); location.hash = '#/'; }}>{t('nav.signOut')}</button>
            </>
          ) : null}
        </div>
      </header>
      <main id="main" ref={main}>
        {session.ended === 'expired' && !s ? <Status kind="info">{t('session.expired')}</Status> : null}
        {failure ? <Status kind="error">{failure()}</Status> : null}
        {screen}
      </main>
    </>
  );
}

function Home() {
  const items: [MessageKey, string, boolean][] = [
    ['home.pm', '#/new', hasRole('programme_manager')],
    ['home.approver', '#/approve', hasRole('approver')],
    ['home.admin', '#/keys', hasRole('admin')],
    ['home.follow', '#/batch', true],
    ['home.finance', '#/finance', readsLedger()],
    ['home.recon', '#/recon', readsLedger()],
    ['home.audit', '#/audit', readsAudit()],
    ['home.ops', '#/breakers', readsOperations()],
    ['home.queues', '#/queues', readsOperations()],
  ];
  return (
    <>
      <h1 tabIndex={-1}>{t('home.title')}</h1>
      <ul class="home">
        {items.filter(([, , shown]) => shown).map(([label, href]) => (
          <li key={href}><a href={href}>{t(label)}</a></li>
        ))}
      </ul>
    </>
  );
}

render(<App />, document.getElementById('app')!);
