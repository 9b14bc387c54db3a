// Small shared pieces: how an error is said, a live status line, a table of amounts.
import type { ComponentChildren } from 'preact';
import { ApiError, NetworkError } from './api';
import { catalogues, count, locale, money, t, type MessageKey } from './i18n';

export function errorText(error: unknown): string {
  if (error instanceof NetworkError) return t('error.network');
  if (error instanceof ApiError) {
    const key = `error.${error.code}` as MessageKey;
    if (key in catalogues.en) return t(key);
    return t('error.server', { message: error.detail ? `${error.serverMessage} ${error.detail}` : error.serverMessage, code: error.code });
  }
  return error instanceof Error ? error.message : String(error);
}

/** A message read out by screen readers when it changes; `alert` for failures. */
export function Status(props: { kind: 'info' | 'ok' | 'error'; children: ComponentChildren }) {
  return (
    <p class={`status status-${props.kind}`} role={props.kind === 'error' ? 'alert' : 'status'}>
      {props.children}
    </p>
  );
}

export function stateName(state: string): string {
  const key = `state.${state}` as MessageKey;
  return key in catalogues.en ? t(key) : state;
}

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
            <th scope="row">{r.provider}</th>
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
  return new Intl.NumberFormat(locale.value, { style: 'unit', unit: n >= 1_000_000 ? 'megabyte' : 'kilobyte', maximumFractionDigits: 1 }).format(n >= 1_000_000 ? n / 1_000_000 : n / 1_000);
}
