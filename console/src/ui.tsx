// Small shared pieces: how an error is said, a live status line, a table of amounts.
import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, NetworkError } from './api';
import { apiErrorText, catalogues, count, detailedErrorCodes, formatLocale, money, serverDetailCharsMax, t, type MessageKey } from './i18n';
import { SignInError } from './session';

export function errorText(error: unknown): string {
  if (error instanceof NetworkError) return t('error.network');
  if (error instanceof ApiError) return apiErrorText(error.code, error.serverMessage, error.detail);
  return error instanceof Error ? error.message : String(error);
}

/**
 * For a part of the page opened by a button (a form shown in place): when it closes, the focus goes
 * back to what had it when it opened, or to `fallback()` when that is gone, not to the page's start.
 */
export function useReturnFocus(fallback?: () => HTMLElement | null): void {
  const later = useRef(fallback);
  later.current = fallback;
  // Read while the part first renders, before any effect of its own moves the focus into it.
  const [opener] = useState(() => (document.activeElement instanceof HTMLElement ? document.activeElement : null));
  useEffect(() => {
    return () => {
      setTimeout(() => (opener?.isConnected ? opener : later.current?.() ?? null)?.focus(), 0);
    };
  }, []);
}

/** Escape closes a form shown in place, as it closes a dialog. */
export const escapeCloses = (close: () => void) => (e: KeyboardEvent) => {
  if (e.key !== 'Escape') return;
  e.preventDefault();
  close();
};

const focusable = 'a[href], button:not([disabled]), input:not([disabled]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';

/**
 * A modal dialog (the native <dialog>, shown with showModal: the page behind is inert). The focus
 * goes to its first field, Tab and Shift+Tab cycle inside it, Escape closes it (onClose), and when
 * it closes the focus goes back to what opened it, or to `fallback()` when that is gone.
 */
export function Modal(props: { titleId: string; onClose: () => void; fallback?: () => HTMLElement | null; children: ComponentChildren }) {
  const ref = useRef<HTMLDialogElement>(null);
  const fallback = useRef(props.fallback);
  fallback.current = props.fallback;
  useEffect(() => {
    const opener = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    const dialog = ref.current!;
    if (!dialog.open) dialog.showModal();
    dialog.querySelector<HTMLElement>(focusable)?.focus();
    return () => {
      if (dialog.open) dialog.close();
      setTimeout(() => (opener?.isConnected ? opener : fallback.current?.() ?? null)?.focus(), 0);
    };
  }, []);
  const trap = (e: KeyboardEvent) => {
    if (e.key !== 'Tab') return;
    const items = [...ref.current!.querySelectorAll<HTMLElement>(focusable)];
    if (items.length === 0) return;
    const first = items[0]!;
    const last = items[items.length - 1]!;
    if (e.shiftKey && document.activeElement === first) {
      e.preventDefault();
      last.focus();
    } else if (!e.shiftKey && document.activeElement === last) {
      e.preventDefault();
      first.focus();
    }
  };
  return (
    <dialog ref={ref} class="card modal" aria-labelledby={props.titleId} onKeyDown={trap} onCancel={(e) => { e.preventDefault(); props.onClose(); }}>
      {props.children}
    </dialog>
  );
}

/**
 * The catalogue's sentence for a refusal and, after it, the server's own detail (what exactly
 * stood in the way, and what moves it instead): text, never markup. The codes that need their
 * detail (i18n.ts detailedErrorCodes) carry it in errorText already.
 */
export function errorWithDetail(error: unknown): string {
  const text = errorText(error);
  if (!(error instanceof ApiError) || !error.detail || !(`error.${error.code}` in catalogues.en) || detailedErrorCodes.has(error.code)) return text;
  const detail = error.detail.length > serverDetailCharsMax ? `${error.detail.slice(0, serverDetailCharsMax)}…` : error.detail;
  return t('error.serverDetail', { message: text, detail });
}

/** Why a sign-in through the organisation's issuer failed, from the catalogue: never the issuer's own words. */
export function signInFailure(error: unknown): string {
  let reason: MessageKey = 'oidc.error.other';
  if (error instanceof SignInError) {
    if (error.reason !== 'issuer') reason = `oidc.${error.reason}`;
    else if (error.oauthCode) reason = `oidc.error.${error.oauthCode}`;
  } else if (!(error instanceof Error && error.name === 'TypeError')) reason = 'oidc.error.other';
  else reason = 'oidc.discovery';
  return t('signIn.oidcFailed', { reason: t(reason) });
}

/** A message read out by screen readers when it changes; `alert` for failures. */
export function Status(props: { kind: 'info' | 'ok' | 'error'; children: ComponentChildren }) {
  return (
    <p class={`status status-${props.kind}`} role={props.kind === 'error' ? 'alert' : 'status'}>
      {props.children}
    </p>
  );
}

/** A value the API names by a code (a state, a provider, an account kind) as the catalogue says it; the code itself when the catalogue has none. */
export function label(prefix: string, value: string): string {
  const key = `${prefix}.${value}` as MessageKey;
  return key in catalogues.en ? t(key) : value;
}

export const stateName = (state: string): string => label('state', state);

export function AmountsTable(props: { caption: string; rows: readonly { provider: string; count: number; amount: string }[]; currency: string }) {
  return (
    <table>
      <caption>{props.caption}</caption>
      <thead>
        <tr>
          <th scope="col">{t('batch.provider')}</th>
          <th scope="col" class="num">{t('batch.count')}</th>
          <th scope="col" class="num">{t('batch.amount')}</th>
        </tr>
      </thead>
      <tbody>
        {props.rows.map((r) => (
          <tr key={r.provider}>
            <th scope="row">{label('provider', r.provider)}</th>
            <td class="num">{count(r.count)}</td>
            <td class="num">{money(r.amount, props.currency)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** A file chosen with the keyboard (the input) or dropped on the zone; `onFile` gets its bytes. */
export function FileDrop(props: { id: string; label: string; hint: string; accept: string; onFile: (name: string, bytes: Uint8Array) => void }) {
  const read = (file: File | undefined | null) => {
    if (!file) return;
    void file.arrayBuffer().then((b) => props.onFile(file.name, new Uint8Array(b)));
  };
  return (
    <div
      class="drop"
      onDragOver={(e) => {
        e.preventDefault();
        (e.currentTarget as HTMLElement).classList.add('drop-over');
      }}
      onDragLeave={(e) => (e.currentTarget as HTMLElement).classList.remove('drop-over')}
      onDrop={(e) => {
        e.preventDefault();
        (e.currentTarget as HTMLElement).classList.remove('drop-over');
        read(e.dataTransfer?.files[0]);
      }}
    >
      <label for={props.id}>{props.label}</label>
      <p class="hint" id={`${props.id}-hint`}>{props.hint}</p>
      <input id={props.id} type="file" accept={props.accept} aria-describedby={`${props.id}-hint`} onChange={(e) => read((e.currentTarget as HTMLInputElement).files?.[0])} />
    </div>
  );
}

/** Hands a downloaded file to the browser, as a link the person clicked would. */
export function saveFile(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** Bytes for people: 12.3 kB, in the reader's locale. */
export function bytes(n: number): string {
  return new Intl.NumberFormat(formatLocale(), { style: 'unit', unit: n >= 1_000_000 ? 'megabyte' : 'kilobyte', maximumFractionDigits: 1 }).format(n >= 1_000_000 ? n / 1_000_000 : n / 1_000);
}
