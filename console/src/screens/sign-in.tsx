// Sign-in: through the organisation's OpenID Connect issuer where one is configured; in dev mode,
// the local form (the server mints a dev token; the route does not exist outside dev mode).
import { useState } from 'preact/hooks';
import { t, type MessageKey } from '../i18n';
import { devSignIn, oidcStart, roles, type ConsoleConfig, type Role } from '../session';
import { signInFailure, Status } from '../ui';

export function SignIn(props: { config: ConsoleConfig }) {
  const { config } = props;
  const [org, setOrg] = useState('demo-org');
  const [subject, setSubject] = useState('');
  const [chosen, setChosen] = useState<Role[]>(['programme_manager']);
  const [error, setError] = useState<string | null>(null);
  const submit = (e: Event) => {
    e.preventDefault();
    setError(null);
    devSignIn(org.trim(), subject.trim(), chosen).then(() => (location.hash = '#/'), (err: unknown) => setError(err instanceof Error ? err.message : String(err)));
  };
  return (
    <>
      <h1 tabIndex={-1}>{t('signIn.title')}</h1>
      {config.oidc ? (
        <p>
          <button type="button" class="primary" onClick={() => void oidcStart(config.oidc!).catch((err: unknown) => setError(signInFailure(err)))}>
            {t('signIn.oidc')}
          </button>
        </p>
      ) : null}
      {config.devSignIn ? (
        <form class="card" onSubmit={submit} aria-labelledby="dev-title">
          <h2 id="dev-title">{t('signIn.dev.title')}</h2>
          <p class="hint">{t('signIn.dev.note')}</p>
          <label for="org">{t('signIn.org')}</label>
          <input id="org" required value={org} autoComplete="organization" onInput={(e) => setOrg((e.currentTarget as HTMLInputElement).value)} />
          <label for="subject">{t('signIn.subject')}</label>
          <input id="subject" required value={subject} autoComplete="username" onInput={(e) => setSubject((e.currentTarget as HTMLInputElement).value)} />
          <fieldset>
            <legend>{t('signIn.roles')}</legend>
            {roles.map((r) => (
              <label key={r} class="inline">
                <input
                  type="checkbox"
                  name="roles"
                  value={r}
                  checked={chosen.includes(r)}
                  onChange={(e) => setChosen((e.currentTarget as HTMLInputElement).checked ? [...chosen, r] : chosen.filter((c) => c !== r))}
                />{' '}
                {t(`role.${r}` as MessageKey)}
              </label>
            ))}
          </fieldset>
          <button type="submit" class="primary">{t('signIn.submit')}</button>
        </form>
      ) : null}
      {!config.oidc && !config.devSignIn ? <Status kind="info">{t('signIn.none')}</Status> : null}
      {error ? <Status kind="error">{error}</Status> : null}
    </>
  );
}
