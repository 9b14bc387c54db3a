// The published contracts (contracts/) must say what the code does: the error catalogue, the
// OpenAPI error codes and the Kafka message schemas are checked against their sources here.
import { routeKeys } from '../../src/adapters/http/permissions.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { callerRoles } from '../../src/adapters/http/auth.js';
import { dispatchMessageSchema, dlqMessageSchema, resultMessageSchema } from '../../src/application/messages.js';
import { allowedAlgorithms } from '../../src/application/verify-batch-signature.js';
import { parseBatchDocument, type RowPolicy } from '../../src/domain/batch-document.js';
import { errorCodes, rowErrorCodes, type ErrorCode, type RowError } from '../../src/domain/errors.js';
import { batchStates, payoutStates } from '../../src/domain/payout-state.js';
import { providerRules } from '../../src/domain/providers.js';

const contractsDir = join(process.cwd(), 'contracts');
const readText = (path: string): string => readFileSync(join(contractsDir, path), 'utf8');
const readJson = (path: string): Record<string, unknown> => JSON.parse(readText(path)) as Record<string, unknown>;

const sorted = (values: Iterable<string>): string[] => [...values].sort();

interface CatalogueEntry {
  readonly status?: number;
  readonly message: string;
  readonly when: string;
}

interface Catalogue {
  readonly errors: Record<string, CatalogueEntry>;
  readonly rowErrors: Record<string, CatalogueEntry>;
}

/** The items of the `enum:` list of a schema under components/schemas of the OpenAPI YAML. */
function yamlEnum(yaml: string, schemaName: string): string[] {
  const lines = yaml.split(/\r?\n/);
  const start = lines.findIndex((line) => new RegExp(`^(\\s*)${schemaName}:\\s*$`).test(line));
  if (start < 0) return [];
  const indent = lines[start]!.search(/\S/);
  const items: string[] = [];
  for (const line of lines.slice(start + 1)) {
    if (line.trim() === '') continue;
    if (line.search(/\S/) <= indent) break;
    const item = /^\s+-\s+([A-Za-z0-9_-]+)\s*$/.exec(line);
    if (item) items.push(item[1]!);
  }
  return items;
}

const schemaFiles = ['batch.v1.schema.json', 'messages/dispatch.v1.schema.json', 'messages/result.v1.schema.json', 'messages/dlq.v1.schema.json'];

describe('contracts/error-codes.json', () => {
  const catalogue = readJson('error-codes.json') as unknown as Catalogue;

  it('when read, then it lists exactly the error codes of errorCodes', () => {
    expect(sorted(Object.keys(catalogue.errors))).toEqual(sorted(Object.keys(errorCodes)));
  });

  it('when compared with errorCodes, then every code has the same status and message and says when it is returned', () => {
    for (const [code, { status, message }] of Object.entries(errorCodes)) {
      const entry = catalogue.errors[code];
      expect({ code, status: entry?.status, message: entry?.message }).toEqual({ code, status, message });
      expect(typeof entry?.when === 'string' && entry.when.length > 0).toBe(true);
    }
  });

  it('when read, then it lists exactly the row error codes of rowErrorCodes', () => {
    expect(sorted(Object.keys(catalogue.rowErrors))).toEqual(sorted(Object.keys(rowErrorCodes)));
  });

  it('when compared with rowErrorCodes, then every row code has the same message and says when it is reported', () => {
    for (const [code, message] of Object.entries(rowErrorCodes)) {
      const entry = catalogue.rowErrors[code];
      expect({ code, message: entry?.message }).toEqual({ code, message });
      expect(typeof entry?.when === 'string' && entry.when.length > 0).toBe(true);
    }
  });
});

describe('contracts/openapi.yaml', () => {
  const yaml = readText('openapi.yaml');

  it('when read, then every catalogue error code appears in it', () => {
    const missing = Object.keys(errorCodes).filter((code) => !new RegExp(`\\b${code}\\b`).test(yaml));
    expect(missing).toEqual([]);
  });

  it('when its ErrorCode enum is read, then it equals the error catalogue', () => {
    expect(sorted(yamlEnum(yaml, 'ErrorCode'))).toEqual(sorted(Object.keys(errorCodes)));
  });

  it('when its RowErrorCode enum is read, then it equals the row error catalogue', () => {
    expect(sorted(yamlEnum(yaml, 'RowErrorCode'))).toEqual(sorted(Object.keys(rowErrorCodes)));
  });
});

/** Every `app.<method>('<path>'` route the Express app declares, as OpenAPI paths ("{param}"). */
/** Every route the app serves: the permission table's keys (createApp refuses to build without each). */
function appRoutes(): { method: string; path: string }[] {
  return routeKeys.map((key) => {
    const [method = '', path = ''] = key.split(' ');
    return { method: method.toLowerCase(), path: path.replace(/:([A-Za-z]+)/g, '{$1}') };
  });
}

/** The lines of one path item of the OpenAPI YAML, by indentation. */
function pathBlock(yaml: string, path: string): string[] {
  const lines = yaml.split(/\r?\n/);
  const start = lines.indexOf(`  ${path}:`);
  if (start < 0) return [];
  const block: string[] = [];
  for (const line of lines.slice(start + 1)) {
    if (line.trim() !== '' && line.search(/\S/) <= 2) break;
    block.push(line);
  }
  return block;
}

describe('contracts/openapi.yaml paths', () => {
  const yaml = readText('openapi.yaml');
  const open = new Set(['/healthz', '/readyz', '/v1/callbacks/mpesa/{token}', '/v1/callbacks/mpesa/{token}/timeout', '/v1/callbacks/mpesa/{token}/status', '/v1/callbacks/mpesa/{token}/status/timeout', '/v1/callbacks/mtn-momo/{token}', '/v1/callbacks/gsma/{token}', '/v1/callbacks/gsma/batch/{batchKey}', '/v1/callbacks/airtel']);

  it.each(appRoutes())('when the app serves $method $path, then the contract documents it, with bearerAuth unless it is open', ({ method, path }) => {
    const block = pathBlock(yaml, path);
    expect({ path, documented: block.length > 0 }).toEqual({ path, documented: true });
    const opStart = block.findIndex((l) => l === `    ${method}:`);
    expect({ path, method, documented: opStart >= 0 }).toEqual({ path, method, documented: true });
    const op: string[] = [];
    for (const line of block.slice(opStart + 1)) {
      if (line.trim() !== '' && line.search(/\S/) <= 4) break;
      op.push(line);
    }
    const secured = op.some((l) => /^\s+- bearerAuth: \[\]$/.test(l));
    expect({ path, method, secured }).toEqual({ path, method, secured: !open.has(path) });
    if (!open.has(path)) expect(op.some((l) => /^\s+'401':$/.test(l))).toBe(true);
  });
});

describe('contracts JSON schemas', () => {
  it.each(schemaFiles)('when %s is parsed, then it is JSON Schema 2020-12 closed at the top level', (file) => {
    const schema = readJson(file);
    expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(schema.additionalProperties).toBe(false);
    expect(schema.type).toBe('object');
  });

  const messageSchemas = [
    ['messages/dispatch.v1.schema.json', dispatchMessageSchema],
    ['messages/result.v1.schema.json', resultMessageSchema],
    ['messages/dlq.v1.schema.json', dlqMessageSchema],
  ] as const;

  it.each(messageSchemas)('when the required fields of %s are read, then they equal the fields of the zod message schema', (file, zodSchema) => {
    const schema = readJson(file);
    const fields = sorted(Object.keys(zodSchema.shape));
    // A field the zod schema accepts absent (added within a version, e.g. a result's attemptNo) is not required.
    const shape = zodSchema.shape as Record<string, { safeParse(v: unknown): { success: boolean } }>;
    const required = fields.filter((f) => !shape[f]!.safeParse(undefined).success);
    expect(sorted(schema.required as string[])).toEqual(required);
    expect(sorted(Object.keys(schema.properties as object))).toEqual(fields);
  });

  it.each(messageSchemas)('when an example of %s is decoded by the zod message schema, then it is accepted', (file, zodSchema) => {
    const examples = readJson(file).examples as unknown[];
    expect(examples.length).toBeGreaterThan(0);
    for (const example of examples) expect(zodSchema.safeParse(example).success).toBe(true);
  });

  it('when the dispatch schema lists providers, then they are exactly the known providers', () => {
    const properties = readJson('messages/dispatch.v1.schema.json').properties as { provider: { enum: string[] } };
    expect(sorted(properties.provider.enum)).toEqual(sorted(Object.keys(providerRules)));
  });
});

// ---------------------------------------------------------------- issue #4: the decided API shape

/** The lines of `  <section>:` → `    <name>:` under `components:` of the OpenAPI YAML, by indentation. */
function componentBlock(yaml: string, section: string, name: string): string[] {
  const lines = yaml.split(/\r?\n/);
  const components = lines.indexOf('components:');
  const sectionAt = lines.indexOf(`  ${section}:`, components);
  const start = sectionAt < 0 ? -1 : lines.indexOf(`    ${name}:`, sectionAt);
  if (components < 0 || start < 0) return [];
  return blockAfter(lines, start, 4);
}

/** The lines after `lines[start]` that are indented deeper than `indent` (blank lines included). */
function blockAfter(lines: readonly string[], start: number, indent: number): string[] {
  const block: string[] = [];
  for (const line of lines.slice(start + 1)) {
    if (line.trim() !== '' && line.search(/\S/) <= indent) break;
    block.push(line);
  }
  return block;
}

/** The lines of one operation (`    <method>:` under `  <path>:` of `paths:`), or null. */
function operationBlock(yaml: string, path: string, method: string): string[] | null {
  const lines = yaml.split(/\r?\n/);
  const pathsAt = lines.indexOf('paths:');
  const pathAt = lines.indexOf(`  ${path}:`, pathsAt);
  if (pathsAt < 0 || pathAt < 0) return null;
  const item = blockAfter(lines, pathAt, 2);
  const opAt = item.indexOf(`    ${method}:`);
  return opAt < 0 ? null : blockAfter(item, opAt, 4);
}

/** Every `paths:` operation as [path, method]. */
function operations(yaml: string): [string, string][] {
  const lines = yaml.split(/\r?\n/);
  const pathsAt = lines.indexOf('paths:');
  const ops: [string, string][] = [];
  let path: string | null = null;
  for (const line of blockAfter(lines, pathsAt, 0)) {
    const p = /^ {2}(\/\S*):$/.exec(line);
    if (p) path = p[1]!;
    const m = /^ {4}(get|put|post|patch|delete):$/.exec(line);
    if (m && path) ops.push([path, m[1]!]);
  }
  return ops;
}

const flowList = (raw: string | undefined): string[] | null =>
  raw === undefined ? null : raw.split(',').map((v) => v.trim()).filter((v) => v !== '');

/** `x-roles: [a, b]` of an operation. */
const xRoles = (op: readonly string[]): string[] | null => flowList(op.map((l) => /^ {6}x-roles: \[(.*)\]$/.exec(l)?.[1]).find((v) => v !== undefined));

const isSecured = (op: readonly string[]): boolean => {
  const at = op.indexOf('      security:');
  return at >= 0 && op[at + 1] === '        - bearerAuth: []';
};

/** The names of an operation's parameters, inline or through components/parameters. */
function parameterNames(yaml: string, op: readonly string[]): string[] {
  const names: string[] = [];
  const at = op.indexOf('      parameters:');
  if (at < 0) return names;
  for (const line of blockAfter(op, at, 6)) {
    const ref = /^ {8}- \$ref: '#\/components\/parameters\/([A-Za-z0-9_]+)'$/.exec(line);
    if (ref) {
      const name = componentBlock(yaml, 'parameters', ref[1]!).map((l) => /^ {6}name: (\S+)$/.exec(l)?.[1]).find((n) => n !== undefined);
      names.push(name ?? `(unresolved ${ref[1]})`);
    }
    const inline = /^ {8}- name: (\S+)$/.exec(line);
    if (inline) names.push(inline[1]!);
  }
  return names;
}

/** The media types of an operation's request body. */
function requestMediaTypes(op: readonly string[]): string[] {
  const at = op.indexOf('      requestBody:');
  if (at < 0) return [];
  return blockAfter(op, at, 6).flatMap((l) => /^ {10}([a-z]+\/[A-Za-z0-9.+-]+):$/.exec(l)?.[1] ?? []);
}

/** Each response of an operation: its status and its text (a components/responses $ref resolved). */
function responses(yaml: string, op: readonly string[]): { status: string; text: string }[] {
  const at = op.indexOf('      responses:');
  if (at < 0) return [];
  const block = blockAfter(op, at, 6);
  const out: { status: string; text: string }[] = [];
  block.forEach((line, i) => {
    const status = /^ {8}'([0-9]{3})':$/.exec(line)?.[1];
    if (!status) return;
    const body = blockAfter(block, i, 8);
    const ref = body.map((l) => /^ {10}\$ref: '#\/components\/responses\/([A-Za-z0-9_]+)'$/.exec(l)?.[1]).find((r) => r !== undefined);
    out.push({ status, text: (ref ? componentBlock(yaml, 'responses', ref) : body).join('\n') });
  });
  return out;
}

const codesIn = (text: string): ErrorCode[] =>
  [...new Set(text.match(/\b[A-Z][A-Z0-9_]{2,}\b/g) ?? [])].filter((w): w is ErrorCode => Object.hasOwn(errorCodes, w));

const anyRole = ['programme_manager', 'approver', 'finance', 'admin', 'auditor'];
const jose = ['application/jose+json', 'application/json'];

/** The endpoints of the issue #4 spec: roles, parameters and request media types. */
const specOperations: { method: string; path: string; roles: string[]; params: string[]; media?: string[] }[] = [
  { method: 'post', path: '/v1/batches', roles: ['programme_manager'], params: [], media: jose },
  { method: 'post', path: '/v1/batches/{batchId}/approvals', roles: ['approver'], params: ['batchId'], media: jose },
  { method: 'get', path: '/v1/batches/{batchId}', roles: anyRole, params: ['batchId', 'If-None-Match'] },
  { method: 'get', path: '/v1/batches/{batchId}/payouts', roles: anyRole, params: ['batchId', 'state', 'limit', 'cursor'] },
  { method: 'post', path: '/v1/batches/{batchId}/cancel', roles: ['programme_manager', 'admin'], params: ['batchId'], media: ['application/json'] },
  { method: 'get', path: '/v1/payouts/{payoutId}', roles: anyRole, params: ['payoutId', 'If-None-Match'] },
  { method: 'post', path: '/v1/signer-keys', roles: ['admin'], params: [], media: ['application/json'] },
  { method: 'get', path: '/v1/signer-keys', roles: ['admin', 'auditor'], params: ['role', 'limit', 'cursor'] },
  { method: 'get', path: '/v1/signer-keys/{kid}', roles: ['admin', 'auditor'], params: ['kid'] },
  { method: 'post', path: '/v1/signer-keys/{kid}/revoke', roles: ['admin'], params: ['kid'], media: ['application/json'] },
  { method: 'get', path: '/v1/programmes/{programmeId}/policy', roles: anyRole, params: ['programmeId'] },
  { method: 'put', path: '/v1/programmes/{programmeId}/policy', roles: ['admin'], params: ['programmeId'], media: ['application/json'] },
];

/** Codes each spec endpoint must document (the spec's own refusals), by status. */
const specCodes: Record<string, ErrorCode[]> = {
  'post /v1/batches': ['JWS_MALFORMED', 'JWS_KEY_REUSED', 'JWS_KEY_WRONG_ROLE', 'BATCH_INVALID', 'BATCH_CONFLICT', 'LEDGER_INSUFFICIENT_FUNDS', 'REQUEST_UNSUPPORTED_MEDIA_TYPE'],
  'post /v1/batches/{batchId}/approvals': ['APPROVAL_DUPLICATE', 'APPROVAL_BY_MAKER', 'BATCH_NOT_AWAITING_APPROVAL', 'BATCH_EXPIRED', 'LEDGER_INSUFFICIENT_FUNDS', 'JWS_MALFORMED', 'JWS_SIGNATURE_INVALID', 'NOT_FOUND'],
  'get /v1/batches/{batchId}/payouts': ['QUERY_INVALID', 'NOT_FOUND'],
  'post /v1/batches/{batchId}/cancel': ['BATCH_NOT_CANCELLABLE', 'NOT_FOUND'],
  'post /v1/signer-keys': ['SIGNER_KEY_EXISTS', 'SIGNER_KEY_INVALID', 'JWS_ALG_NOT_ALLOWED'],
  'get /v1/signer-keys/{kid}': ['NOT_FOUND'],
  'post /v1/signer-keys/{kid}/revoke': ['NOT_FOUND', 'SIGNER_KEY_INVALID'],
  'get /v1/programmes/{programmeId}/policy': ['NOT_FOUND'],
  'put /v1/programmes/{programmeId}/policy': ['POLICY_INVALID', 'NOT_FOUND'],
};

describe('contracts/openapi.yaml for batches, approvals, signer keys and programme policy', () => {
  const yaml = readText('openapi.yaml');

  it.each(specOperations)('when $method $path is read, then it takes bearerAuth, names its roles in x-roles and its description, and has its parameters', ({ method, path, roles, params, media }) => {
    const op = operationBlock(yaml, path, method);
    expect({ method, path, documented: op !== null }).toEqual({ method, path, documented: true });
    expect(isSecured(op!)).toBe(true);
    expect(sorted(xRoles(op!) ?? [])).toEqual(sorted(roles));
    const description = op!.join('\n');
    for (const role of roles) expect({ role, inDescription: description.includes(`\`${role}\``) }).toEqual({ role, inDescription: true });
    expect(sorted(parameterNames(yaml, op!))).toEqual(sorted(params));
    if (media) expect(sorted(requestMediaTypes(op!))).toEqual(sorted(media));
  });

  it.each(specOperations)('when the responses of $method $path are read, then 401 and 403 are declared and the spec refusals are documented', ({ method, path }) => {
    const declared = responses(yaml, operationBlock(yaml, path, method) ?? []);
    expect(declared.map((r) => r.status)).toEqual(expect.arrayContaining(['401', '403', '500', '503']));
    const documented = new Set(declared.flatMap((r) => codesIn(r.text)));
    const missing = (specCodes[`${method} ${path}`] ?? []).filter((code) => !documented.has(code));
    expect({ method, path, missing }).toEqual({ method, path, missing: [] });
  });

  it('when every operation is read, then an error code is only ever documented under its own HTTP status', () => {
    const wrong: string[] = [];
    for (const [path, method] of operations(yaml)) {
      for (const { status, text } of responses(yaml, operationBlock(yaml, path, method) ?? [])) {
        if (!/^[45]/.test(status)) continue;
        for (const code of codesIn(text)) if (String(errorCodes[code].status) !== status) wrong.push(`${method} ${path} ${status}: ${code} is ${errorCodes[code].status}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('when every operation is read, then every code an operation can return is documented under some response', () => {
    const documented = new Set<string>();
    for (const [path, method] of operations(yaml)) for (const r of responses(yaml, operationBlock(yaml, path, method) ?? [])) for (const c of codesIn(r.text)) documented.add(c);
    // LEDGER_ACCOUNT_NOT_FOUND is reserved: the ledger creates accounts on first use, so no request returns it yet.
    const undocumented = Object.keys(errorCodes).filter((code) => !documented.has(code) && code !== 'LEDGER_ACCOUNT_NOT_FOUND');
    expect(undocumented).toEqual([]);
  });

  it('when every operation is read, then the secured ones name x-roles among the token roles and the open ones are only health checks and callbacks', () => {
    const open: string[] = [];
    for (const [path, method] of operations(yaml)) {
      const op = operationBlock(yaml, path, method)!;
      if (!isSecured(op)) {
        open.push(path);
        continue;
      }
      const roles = xRoles(op);
      expect({ path, method, roles: roles !== null && roles.length > 0 && roles.every((r) => (callerRoles as readonly string[]).includes(r)) }).toEqual({ path, method, roles: true });
    }
    expect(sorted(open)).toEqual(sorted(['/healthz', '/readyz', '/v1/callbacks/mpesa/{token}', '/v1/callbacks/mpesa/{token}/timeout', '/v1/callbacks/mpesa/{token}/status', '/v1/callbacks/mpesa/{token}/status/timeout', '/v1/callbacks/mtn-momo/{token}', '/v1/callbacks/mtn-momo/{token}', '/v1/callbacks/gsma/{token}', '/v1/callbacks/gsma/batch/{batchKey}', '/v1/callbacks/airtel']));
  });

  it('when every $ref is read, then it names a component that exists', () => {
    const refs = new Set([...yaml.matchAll(/\$ref: '#\/components\/([a-zA-Z]+)\/([A-Za-z0-9_]+)'/g)].map((m) => `${m[1]}/${m[2]}`));
    expect(refs.size).toBeGreaterThan(0);
    const dangling = [...refs].filter((ref) => componentBlock(yaml, ref.split('/')[0]!, ref.split('/')[1]!).length === 0);
    expect(dangling).toEqual([]);
  });

  it.each([
    'BatchView', 'PayoutView', 'PayoutPage', 'GeneralJws', 'DetachedJws', 'SignerKeyRegistration', 'SignerKeyView', 'SignerKeyPage',
    'RevokeRequest', 'ProgrammePolicy', 'CancelRequest', 'RowError',
  ])('when components/schemas is read, then it defines %s', (name) => {
    expect(componentBlock(yaml, 'schemas', name).length).toBeGreaterThan(0);
  });

  it.each([
    ['CallerRole', callerRoles],
    ['BatchState', batchStates],
    ['PayoutState', payoutStates],
    ['SignatureAlgorithm', allowedAlgorithms],
    ['Provider', Object.keys(providerRules)],
    ['SignerRole', ['maker', 'approver']],
  ] as const)('when the %s enum is read, then it equals the values the code uses', (schema, values) => {
    expect(sorted(yamlEnum(yaml, schema))).toEqual(sorted(values));
  });

  it('when BatchView is read, then it has every member of the spec', () => {
    const view = componentBlock(yaml, 'schemas', 'BatchView').join('\n');
    for (const member of ['batchId', 'programmeId', 'state', 'currency', 'payoutCount', 'total', 'receivedAt', 'approvals', 'payouts', 'rejectedRows']) {
      expect({ member, present: new RegExp(`^ {8}${member}:$`, 'm').test(view) }).toEqual({ member, present: true });
    }
    const payout = componentBlock(yaml, 'schemas', 'PayoutView').join('\n');
    for (const member of ['payoutId', 'batchId', 'row', 'ref', 'provider', 'state', 'amount', 'currency', 'attempts', 'providerReference', 'failureCode', 'updatedAt']) {
      expect({ member, present: new RegExp(`^ {8}${member}:$`, 'm').test(payout) }).toEqual({ member, present: true });
    }
    expect(payout).not.toMatch(/msisdn|name:/);
  });
});

// ---------------------------------------------------------------- the batch document schema

type Doc = Record<string, unknown> & { payouts: Record<string, unknown>[]; declared: Record<string, unknown> };

describe('contracts/batch.v1.schema.json against documents', () => {
  const schemaJson = readJson('batch.v1.schema.json');
  const schema = z.fromJSONSchema(schemaJson as Parameters<typeof z.fromJSONSchema>[0]);
  const example = (schemaJson.examples as Doc[])[0]!;
  const doc = (change: (d: Doc) => void): Doc => {
    const d = structuredClone(example);
    change(d);
    return d;
  };
  const policy: RowPolicy = { providers: ['mpesa'], payoutMaxMinor: null, rowErrors: 'reject_batch' };

  it('when the example is checked, then the schema and the domain parser both accept it', () => {
    expect(schema.safeParse(example).success).toBe(true);
    const parsed = parseBatchDocument(example, policy);
    expect(parsed.ok).toBe(true);
  });

  it.each(['0B8F3A52-64D1-4C1E-9A7B-2E5F4D3C2B10', '2025-11-20T08:00:00+03:00'])('when a valid variant (%s) is checked, then both accept it', (value) => {
    const d = doc((x) => (value.includes('T') ? (x.createdAt = value) : (x.batchId = value)));
    expect(schema.safeParse(d).success).toBe(true);
    expect(parseBatchDocument(d, policy).ok).toBe(true);
  });

  // Each is refused by the schema and by the domain parser, which names the row, field and code.
  const invalid: [string, Doc, RowError][] = [
    ['a batchId that is not a UUID', doc((d) => (d.batchId = 'batch-42')), { row: null, field: 'batchId', code: 'FIELD_INVALID' }],
    ['a version-0 UUID', doc((d) => (d.batchId = '0b8f3a52-64d1-0c1e-9a7b-2e5f4d3c2b10')), { row: null, field: 'batchId', code: 'FIELD_INVALID' }],
    ['an unknown document member', doc((d) => (d.priority = 'high')), { row: null, field: 'priority', code: 'FIELD_UNKNOWN' }],
    ['a missing declared', doc((d) => delete (d as Record<string, unknown>).declared), { row: null, field: 'declared', code: 'FIELD_MISSING' }],
    ['a declared.count of 0', doc((d) => (d.declared.count = 0)), { row: null, field: 'declared.count', code: 'FIELD_INVALID' }],
    ['a lower-case currency', doc((d) => (d.currency = 'kes')), { row: null, field: 'currency', code: 'FIELD_INVALID' }],
    ['a createdAt without offset', doc((d) => (d.createdAt = '2025-11-20T08:00:00')), { row: null, field: 'createdAt', code: 'FIELD_INVALID' }],
    ['no payouts', doc((d) => (d.payouts = [])), { row: null, field: 'payouts', code: 'FIELD_INVALID' }],
    ['an amount as a JSON number', doc((d) => (d.payouts[0]!.amount = 2500)), { row: 0, field: 'amount', code: 'AMOUNT_NOT_STRING' }],
    ['an amount in exponent notation', doc((d) => (d.payouts[0]!.amount = '2.5e3')), { row: 0, field: 'amount', code: 'AMOUNT_INVALID' }],
    ['a zero amount', doc((d) => (d.payouts[0]!.amount = '0.00')), { row: 0, field: 'amount', code: 'AMOUNT_INVALID' }],
    ['a negative amount', doc((d) => (d.payouts[1]!.amount = '-2000')), { row: 1, field: 'amount', code: 'AMOUNT_INVALID' }],
    ['a national-format msisdn', doc((d) => (d.payouts[1]!.msisdn = '0722000111')), { row: 1, field: 'msisdn', code: 'MSISDN_INVALID' }],
    ['a ref with a space', doc((d) => (d.payouts[0]!.ref = 'HH 000001')), { row: 0, field: 'ref', code: 'FIELD_INVALID' }],
    ['an unknown row member', doc((d) => (d.payouts[1]!.nickname = 'Ama')), { row: 1, field: 'nickname', code: 'FIELD_UNKNOWN' }],
    ['an empty name', doc((d) => (d.payouts[0]!.name = '')), { row: 0, field: 'name', code: 'FIELD_INVALID' }],
  ];

  it.each(invalid)('when a document has %s, then the schema refuses it and so does the domain parser', (_name, d, expected) => {
    expect(schema.safeParse(d).success).toBe(false);
    const parsed = parseBatchDocument(d, policy);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.error).toContainEqual(expected);
  });

  // What the description says Tuma checks beyond the schema: valid to the schema, refused by the parser.
  const twoRows = (a: string, b: string, total: string, change: (d: Doc) => void = () => {}): Doc =>
    doc((d) => {
      d.payouts[0]!.amount = a;
      d.payouts[1]!.amount = b;
      d.declared.total = total;
      change(d);
    });
  const beyond: [string, Doc, RowPolicy, RowError][] = [
    ['the same phone number paid the same amount twice', twoRows('2000', '2000.00', '4000', (d) => (d.payouts[1]!.msisdn = d.payouts[0]!.msisdn)), policy, { row: 1, field: 'msisdn', code: 'BENEFICIARY_DUPLICATE' }],
    ["an amount above M-Pesa B2C's 250,000 KES per transaction", twoRows('250001', '2000', '252001'), policy, { row: 0, field: 'amount', code: 'AMOUNT_ABOVE_MAXIMUM' }],
    ["an amount above the programme's payoutMax", example, { ...policy, payoutMaxMinor: 2000_00n }, { row: 0, field: 'amount', code: 'AMOUNT_ABOVE_MAXIMUM' }],
    ['an amount below the provider minimum', twoRows('5', '2000', '2005'), policy, { row: 0, field: 'amount', code: 'AMOUNT_BELOW_MINIMUM' }],
    ['a provider not enabled for the programme', example, { ...policy, providers: [] }, { row: 0, field: 'provider', code: 'PROVIDER_NOT_ENABLED' }],
    ['an unknown provider', doc((d) => (d.payouts[1]!.provider = 'orange-money')), policy, { row: 1, field: 'provider', code: 'PROVIDER_UNKNOWN' }],
    ['cents for a whole-units provider', twoRows('2500.50', '2000', '4500.50'), policy, { row: 0, field: 'amount', code: 'AMOUNT_PROVIDER_SCALE' }],
    ['a repeated ref', doc((d) => (d.payouts[1]!.ref = d.payouts[0]!.ref)), policy, { row: 1, field: 'ref', code: 'REF_DUPLICATE' }],
    ['a declared total that is not the sum', doc((d) => (d.declared.total = '4500.01')), policy, { row: null, field: 'declared.total', code: 'DECLARED_TOTAL_MISMATCH' }],
    ['a declared count that is not the number of payouts', doc((d) => (d.declared.count = 3)), policy, { row: null, field: 'declared.count', code: 'DECLARED_COUNT_MISMATCH' }],
    ['an expiresAt before createdAt', doc((d) => (d.expiresAt = '2025-11-19T08:00:00Z')), policy, { row: null, field: 'expiresAt', code: 'DATES_INVALID' }],
  ];

  it.each(beyond)('when a document has %s, then the schema accepts it but the domain parser refuses the row', (_name, d, rowPolicy, expected) => {
    expect(schema.safeParse(d).success).toBe(true);
    const parsed = parseBatchDocument(d, rowPolicy);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.error).toContainEqual(expected);
  });

  it('when the programme accepts valid rows, then a bad row is left out and listed, and a document problem still refuses the batch', () => {
    const acceptValid: RowPolicy = { ...policy, rowErrors: 'accept_valid_rows' };
    const oneBad = twoRows('2500', '300000', '302500');
    const parsed = parseBatchDocument(oneBad, acceptValid);
    expect(parsed.ok).toBe(true);
    if (parsed.ok) {
      expect(parsed.value.rejectedRows).toEqual([{ row: 1, field: 'amount', code: 'AMOUNT_ABOVE_MAXIMUM' }]);
      expect(parsed.value.document.payouts.map((p) => p.ref)).toEqual(['HH-000001']);
      expect(parsed.value.document.totalMinor).toBe(2500_00n);
    }
    expect(parseBatchDocument(oneBad, policy).ok).toBe(false);
    expect(parseBatchDocument(doc((d) => (d.declared.count = 3)), acceptValid).ok).toBe(false);
  });
});
