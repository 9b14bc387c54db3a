// Validates JSON bodies against an OpenAPI 3.1 document in contracts/ (its schemas are JSON Schema
// 2020-12): what an adapter sends must be a request the provider's contract accepts, and what the
// simulator answers must be a response the contract describes for that status.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { parse as parseYaml } from 'yaml';

type AddFormats = (ajv: Ajv2020) => Ajv2020;
// ajv-formats is CommonJS: its default export arrives wrapped under ESM interop.
const addFormats = ((addFormatsModule as unknown as { default?: AddFormats }).default ?? addFormatsModule) as unknown as AddFormats;

const pointer = (...parts: string[]) => parts.map((p) => p.replace(/~/g, '~0').replace(/\//g, '~1')).join('/');

export interface Contract {
  readonly document: Record<string, unknown>;
  /** Problems of `body` as the request body of `method path` (path as written in the contract); [] when valid. */
  requestProblems(method: string, path: string, body: unknown, contentType?: string): string[];
  /** Problems of `body` as the `status` response of `method path`; [] when valid. */
  responseProblems(method: string, path: string, status: number, body: unknown, contentType?: string): string[];
  /** Whether the contract documents `status` for `method path`. */
  documents(method: string, path: string, status: number): boolean;
  /** The contract's path template that `path` (a concrete request path) matches, if any. */
  templateOf(path: string): string | null;
  /** Problems of `body` against a named schema under components/schemas. */
  schemaProblems(name: string, body: unknown): string[];
  /**
   * Problems of a request's header and query parameters against those `method path` declares: a
   * required one missing, or a value its schema refuses (a Content-Type is compared without its
   * parameters). Headers are keyed in lower case, as Node gives them.
   */
  parameterProblems(method: string, path: string, sent: { readonly headers: Readonly<Record<string, unknown>>; readonly query?: Readonly<Record<string, unknown>> }): string[];
}

interface Parameter {
  readonly name: string;
  readonly in: string;
  readonly required?: boolean;
}

export function loadContract(file: string): Contract {
  const text = readFileSync(join(process.cwd(), 'contracts', file), 'utf8');
  const document = (file.endsWith('.json') ? JSON.parse(text) : parseYaml(text)) as Record<string, unknown>;
  const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: true });
  addFormats(ajv);
  const id = `https://tuma.invalid/contracts/${file}`;
  ajv.addSchema({ ...document, $id: id });

  const operation = (method: string, path: string): Record<string, unknown> => {
    const paths = document.paths as Record<string, Record<string, unknown>> | undefined;
    const op = paths?.[path]?.[method.toLowerCase()];
    if (!op || typeof op !== 'object') throw new Error(`${file}: no operation ${method.toUpperCase()} ${path}`);
    return op as Record<string, unknown>;
  };

  const check = (ref: string, body: unknown): string[] => {
    const validate = ajv.getSchema(`${id}#${ref}`);
    if (!validate) throw new Error(`${file}: no schema at ${ref}`);
    if (validate(body)) return [];
    return (validate.errors ?? []).map((e) => `${e.instancePath || '(body)'} ${e.message ?? 'is invalid'}${e.params ? ` ${JSON.stringify(e.params)}` : ''}`);
  };

  return {
    document,
    requestProblems(method, path, body, contentType = 'application/json') {
      const op = operation(method, path);
      const content = (op.requestBody as { content?: Record<string, unknown> } | undefined)?.content;
      if (!content?.[contentType]) throw new Error(`${file}: ${method.toUpperCase()} ${path} takes no ${contentType} body`);
      return check(`/${pointer('paths', path, method.toLowerCase(), 'requestBody', 'content', contentType, 'schema')}`, body);
    },
    responseProblems(method, path, status, body, contentType = 'application/json') {
      const op = operation(method, path);
      const responses = op.responses as Record<string, { $ref?: string; content?: Record<string, unknown> }> | undefined;
      let response = responses?.[String(status)] ?? responses?.default;
      let at = `/${pointer('paths', path, method.toLowerCase(), 'responses', responses?.[String(status)] ? String(status) : 'default')}`;
      if (!response) return [`${method.toUpperCase()} ${path} does not document HTTP ${status}`];
      // A shared response (components/responses) is followed to where its schema lives.
      if (typeof response.$ref === 'string' && response.$ref.startsWith('#/')) {
        at = response.$ref.slice(1);
        response = at.split('/').slice(1).reduce<unknown>((node, part) => (node as Record<string, unknown> | undefined)?.[part.replace(/~1/g, '/').replace(/~0/g, '~')], document) as typeof response;
        if (!response) return [`${method.toUpperCase()} ${path}: HTTP ${status} refers to a missing ${at}`];
      }
      if (!response.content) return body === undefined || body === null || body === '' ? [] : [`HTTP ${status} has no body in the contract`];
      if (!response.content[contentType]) return [`HTTP ${status} has no ${contentType} body in the contract`];
      return check(`${at}/${pointer('content', contentType, 'schema')}`, body);
    },
    templateOf(path) {
      const paths = Object.keys((document.paths ?? {}) as Record<string, unknown>);
      return paths.find((t) => new RegExp(`^${t.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\\?\{[^}]+\\?\}/g, '[^/]+')}$`).test(path)) ?? null;
    },
    documents(method, path, status) {
      const responses = operation(method, path).responses as Record<string, unknown> | undefined;
      return Boolean(responses?.[String(status)]);
    },
    schemaProblems(name, body) {
      return check(`/${pointer('components', 'schemas', name)}`, body);
    },
    parameterProblems(method, path, sent) {
      const declared = (operation(method, path).parameters ?? []) as (Parameter | { $ref: string })[];
      const problems: string[] = [];
      declared.forEach((entry, i) => {
        // A shared parameter (components/parameters) is checked where it is written.
        const at = '$ref' in entry ? entry.$ref.slice(1) : `/${pointer('paths', path, method.toLowerCase(), 'parameters', String(i))}`;
        const p = ('$ref' in entry ? at.split('/').slice(1).reduce<unknown>((node, part) => (node as Record<string, unknown> | undefined)?.[part], document) : entry) as Parameter;
        if (p.in !== 'header' && p.in !== 'query') return;
        const raw = p.in === 'header' ? sent.headers[p.name.toLowerCase()] : sent.query?.[p.name];
        if (raw === undefined) {
          if (p.required) problems.push(`${p.name} missing`);
          return;
        }
        const text = String(raw);
        const value = p.name.toLowerCase() === 'content-type' ? text.split(';')[0]!.trim() : text;
        problems.push(...check(`${at}/schema`, value).map((problem) => `${p.name}: ${problem}`));
      });
      return problems;
    },
  };
}
