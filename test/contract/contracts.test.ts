// The published contracts (contracts/) must say what the code does: the error catalogue, the
// OpenAPI error codes and the Kafka message schemas are checked against their sources here.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { dispatchMessageSchema, dlqMessageSchema, resultMessageSchema } from '../../src/application/messages.js';
import { errorCodes, rowErrorCodes } from '../../src/domain/errors.js';
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
    const item = /^\s+-\s+([A-Za-z0-9_]+)\s*$/.exec(line);
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
function appRoutes(): { method: string; path: string }[] {
  const source = readFileSync(join(process.cwd(), 'src/adapters/http/app.ts'), 'utf8');
  const routes: { method: string; path: string }[] = [];
  for (const m of source.matchAll(/app\.(get|post|put|patch|delete)\('([^']+)'/g)) routes.push({ method: m[1]!, path: m[2]!.replace(/:([A-Za-z]+)/g, '{$1}') });
  for (const m of source.matchAll(/kind === 'result' \? '([^']+)' : '([^']+)'/g)) {
    for (const p of [m[1]!, m[2]!]) routes.push({ method: 'post', path: p.replace(/:([A-Za-z]+)/g, '{$1}') });
  }
  return routes;
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
  const open = new Set(['/healthz', '/readyz', '/v1/callbacks/mpesa/{token}', '/v1/callbacks/mpesa/{token}/timeout']);

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
    expect(sorted(schema.required as string[])).toEqual(fields);
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
