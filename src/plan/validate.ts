import { phaseLevels } from './order';
import { ColumnSpec, EntitySpec, PhaseSpec, PII_KINDS, PiiKind, PiiPath, Plan, Protection, PROTECTIONS, Transform } from './types';

/** One problem in a plan, named by the path of the field: `entities.users.columns.email.pii`. */
export interface PlanIssue {
  path: string;
  message: string;
}

export class PlanError extends Error {
  constructor(
    readonly issues: PlanIssue[],
    readonly file?: string,
  ) {
    super(`${file ?? 'plan'} is invalid (${issues.length} problem${issues.length === 1 ? '' : 's'}):\n${issues.map((i) => `  ${i.path}: ${i.message}`).join('\n')}`);
    this.name = 'PlanError';
  }
}

type Obj = Record<string, unknown>;
const IDENT = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
const ENV = /^[A-Z_][A-Z0-9_]*$/;
const NAME = /^[a-z][a-z0-9-]{0,39}$/;

const show = (v: unknown) => (v === undefined ? 'nothing' : JSON.stringify(v));

/** Collects every problem instead of stopping at the first, so one run shows them all. */
class Checker {
  readonly issues: PlanIssue[] = [];

  fail(path: string, message: string): undefined {
    this.issues.push({ path, message });
    return undefined;
  }

  object(v: unknown, path: string, allowed: string[], required = true): Obj | undefined {
    if (v === undefined && !required) return {};
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return this.fail(path, `expected a mapping, got ${show(v)}`);
    for (const key of Object.keys(v)) if (!allowed.includes(key)) this.fail(join(path, key), `unknown field (expected one of ${allowed.join(', ')})`);
    return v as Obj;
  }

  string(v: unknown, path: string, pattern?: RegExp, what = 'a string'): string | undefined {
    if (typeof v !== 'string' || v === '') return this.fail(path, `expected ${what}, got ${show(v)}`);
    if (pattern && !pattern.test(v)) return this.fail(path, `expected ${what}, got ${show(v)}`);
    return v;
  }

  optionalString(v: unknown, path: string, pattern?: RegExp, what?: string): string | undefined {
    return v === undefined ? undefined : this.string(v, path, pattern, what);
  }

  int(v: unknown, path: string, min: number, max: number, fallback: number): number {
    if (v === undefined) return fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      this.fail(path, `expected an integer from ${min} to ${max}, got ${show(v)}`);
      return fallback;
    }
    return v;
  }

  ratio(v: unknown, path: string, fallback: number): number {
    if (v === undefined) return fallback;
    if (typeof v !== 'number' || !(v >= 0 && v <= 1)) {
      this.fail(path, `expected a ratio from 0 to 1 (0.02 is 2 %), got ${show(v)}`);
      return fallback;
    }
    return v;
  }

  oneOf<T extends string>(v: unknown, path: string, options: readonly T[]): T | undefined {
    if (typeof v !== 'string' || !options.includes(v as T)) return this.fail(path, `expected one of ${options.join(', ')}, got ${show(v)}`);
    return v as T;
  }

  identifiers(v: unknown, path: string): string[] | undefined {
    const list = typeof v === 'string' ? [v] : v;
    if (!Array.isArray(list) || list.length === 0) return this.fail(path, `expected a column name or a list of them, got ${show(v)}`);
    const out: string[] = [];
    list.forEach((item, i) => {
      const s = this.string(item, Array.isArray(v) ? `${path}[${i}]` : path, IDENT, 'an SQL identifier');
      if (s) out.push(s);
    });
    return out.length === list.length ? out : undefined;
  }
}

function join(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

const TRANSFORM_NAMES = ['copy', 'trim', 'lowercase', 'uppercase', 'split', 'combine', 'enum', 'epoch_to_timestamp', 'integer', 'boolean', 'json'] as const;

function parseTransform(c: Checker, raw: unknown, path: string): Transform | undefined {
  if (raw === undefined) return { kind: 'copy' };
  let name: string;
  let options: unknown;
  if (typeof raw === 'string') {
    name = raw;
  } else if (typeof raw === 'object' && raw !== null && !Array.isArray(raw) && Object.keys(raw).length === 1) {
    [name, options] = Object.entries(raw)[0]!;
  } else {
    return c.fail(path, `expected a transform name or { name: options }, got ${show(raw)}`);
  }
  const kind = c.oneOf(name, path, TRANSFORM_NAMES);
  if (!kind) return undefined;
  const at = join(path, kind);
  switch (kind) {
    case 'split': {
      const o = c.object(options, at, ['separator', 'part']);
      if (!o) return undefined;
      const separator = c.string(o.separator, join(at, 'separator'));
      const part = o.part;
      const okPart = part === 'first' || part === 'last' || part === 'rest' || (typeof part === 'number' && Number.isInteger(part) && part >= 0);
      if (!okPart) c.fail(join(at, 'part'), `expected first, last, rest or a 0-based index, got ${show(part)}`);
      return separator !== undefined && okPart ? { kind, separator, part: part as 'first' } : undefined;
    }
    case 'combine': {
      const o = c.object(options ?? {}, at, ['separator']);
      if (!o) return undefined;
      const separator = o.separator === undefined ? ' ' : c.string(o.separator, join(at, 'separator'));
      return separator === undefined ? undefined : { kind, separator };
    }
    case 'enum': {
      const o = c.object(options, at, Object.keys((options as Obj) ?? {}));
      if (!o) return undefined;
      if (Object.keys(o).length === 0) return c.fail(at, 'expected at least one mapping, like { A: active }');
      for (const [k, v] of Object.entries(o)) {
        if (v !== null && !['string', 'number', 'boolean'].includes(typeof v)) c.fail(join(at, k), `expected a scalar, got ${show(v)}`);
      }
      return { kind, map: o as Record<string, string> };
    }
    case 'epoch_to_timestamp': {
      const o = c.object(options ?? {}, at, ['unit']);
      if (!o) return undefined;
      const unit = o.unit === undefined ? 's' : c.oneOf(o.unit, join(at, 'unit'), ['s', 'ms'] as const);
      return unit ? { kind, unit } : undefined;
    }
    default:
      if (options !== undefined && options !== null) c.fail(at, `takes no options, got ${show(options)}`);
      return { kind } as Transform;
  }
}

function parseColumn(c: Checker, name: string, raw: unknown, path: string): ColumnSpec | undefined {
  if (!IDENT.test(name)) c.fail(path, 'expected the target column name to be an SQL identifier');
  const o = c.object(raw, path, ['from', 'constant', 'transform', 'pii', 'pii_paths', 'protect', 'reference', 'file']);
  if (!o) return undefined;
  const hasFrom = o.from !== undefined;
  const hasConstant = 'constant' in o;
  if (hasFrom === hasConstant) return c.fail(path, 'expected exactly one of `from` (source columns) or `constant`');
  const from = hasFrom ? c.identifiers(o.from, join(path, 'from')) : [];
  if (hasConstant && o.constant !== null && !['string', 'number', 'boolean'].includes(typeof o.constant)) {
    c.fail(join(path, 'constant'), `expected a scalar, got ${show(o.constant)}`);
  }
  const transform = parseTransform(c, o.transform, join(path, 'transform'));
  const pii = o.pii === undefined ? undefined : c.oneOf(o.pii, join(path, 'pii'), PII_KINDS);
  const protect = o.protect === undefined ? undefined : c.oneOf(o.protect, join(path, 'protect'), PROTECTIONS);
  let piiPaths: PiiPath[] | undefined;
  if (o.pii_paths !== undefined) {
    const paths = c.object(o.pii_paths, join(path, 'pii_paths'), Object.keys((o.pii_paths as Obj) ?? {}));
    piiPaths = [];
    for (const [p, kind] of Object.entries(paths ?? {})) {
      if (!/^[A-Za-z0-9_$-]+(\.[A-Za-z0-9_$-]+)*$/.test(p)) c.fail(join(path, `pii_paths.${p}`), 'expected a dotted JSON path like actor.mbox');
      const k = c.oneOf(kind, join(path, `pii_paths.${p}`), PII_KINDS);
      if (k) piiPaths.push({ path: p.split('.'), kind: k });
    }
    if (o.pii !== undefined) c.fail(join(path, 'pii_paths'), 'a column has either `pii` or `pii_paths`, not both');
    if (transform && transform.kind !== 'json') c.fail(join(path, 'pii_paths'), 'needs the json transform');
  }
  if (protect && o.pii === undefined && o.pii_paths === undefined) c.fail(join(path, 'protect'), 'only applies to a column marked `pii` or `pii_paths`');
  let reference: { entity: string } | undefined;
  if (o.reference !== undefined) {
    const ref = typeof o.reference === 'string' ? { entity: o.reference } : c.object(o.reference, join(path, 'reference'), ['entity']);
    const entity = ref && c.string(ref.entity, join(path, typeof o.reference === 'string' ? 'reference' : 'reference.entity'), undefined, 'an entity name');
    if (entity) reference = { entity };
    if (o.pii !== undefined || o.pii_paths !== undefined) c.fail(join(path, 'reference'), 'a reference is a key, not personal data');
  }
  let file: ColumnSpec['file'];
  if (o.file !== undefined) {
    const f = c.object(o.file, join(path, 'file'), ['source_bucket', 'target_bucket']);
    const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
    const sourceBucket = f && c.string(f.source_bucket, join(path, 'file.source_bucket'), BUCKET, 'an S3 bucket name');
    const targetBucket = f && c.string(f.target_bucket, join(path, 'file.target_bucket'), BUCKET, 'an S3 bucket name');
    if (sourceBucket && targetBucket) file = { sourceBucket, targetBucket };
    if (o.pii !== undefined || o.reference !== undefined || (transform && transform.kind !== 'copy')) c.fail(join(path, 'file'), 'a file column holds the object key as it is (no pii, reference or transform)');
  }
  if (hasConstant && o.pii !== undefined) c.fail(join(path, 'pii'), 'a constant is not personal data');
  if (from && transform) {
    if (transform.kind === 'combine' && from.length < 2) c.fail(join(path, 'from'), 'combine needs a list of two or more source columns');
    if (transform.kind !== 'combine' && from.length > 1) c.fail(join(path, 'from'), `several source columns need the combine transform, not ${transform.kind}`);
  }
  if (!from || !transform) return undefined;
  return {
    name,
    from,
    ...(hasConstant ? { constant: o.constant as ColumnSpec['constant'] } : {}),
    transform,
    ...(pii ? { pii: pii as PiiKind, protect: (protect ?? 'detokenize') as Protection } : {}),
    ...(piiPaths?.length ? { piiPaths, protect: (protect ?? 'detokenize') as Protection } : {}),
    ...(reference ? { reference } : {}),
    ...(file ? { file } : {}),
  };
}

function parseEntity(c: Checker, name: string, raw: unknown, path: string): EntitySpec | undefined {
  if (!NAME.test(name.replace(/_/g, '-'))) c.fail(path, 'expected an entity name of lower-case letters, digits, - and _');
  const o = c.object(raw, path, ['source', 'target', 'columns', 'batch_size']);
  if (!o) return undefined;
  const s = c.object(o.source, join(path, 'source'), ['schema', 'table', 'key']);
  const t = c.object(o.target, join(path, 'target'), ['schema', 'table', 'business_key', 'key']);
  const source = s && {
    schema: c.optionalString(s.schema, join(path, 'source.schema'), IDENT, 'an SQL identifier') ?? 'public',
    table: c.string(s.table, join(path, 'source.table'), IDENT, 'an SQL identifier'),
    key: c.string(s.key, join(path, 'source.key'), IDENT, 'an SQL identifier'),
  };
  const target = t && {
    schema: c.optionalString(t.schema, join(path, 'target.schema'), IDENT, 'an SQL identifier') ?? 'public',
    table: c.string(t.table, join(path, 'target.table'), IDENT, 'an SQL identifier'),
    businessKey: c.identifiers(t.business_key, join(path, 'target.business_key')),
    key: c.optionalString(t.key, join(path, 'target.key'), IDENT, 'an SQL identifier'),
  };
  const cols = c.object(o.columns, join(path, 'columns'), Object.keys((o.columns as Obj) ?? {}));
  const columns: ColumnSpec[] = [];
  if (cols) {
    if (Object.keys(cols).length === 0) c.fail(join(path, 'columns'), 'expected at least one column mapping');
    for (const [col, spec] of Object.entries(cols)) {
      const parsed = parseColumn(c, col, spec, join(path, `columns.${col}`));
      if (parsed) columns.push(parsed);
    }
  }
  const batchSize = o.batch_size === undefined ? undefined : c.int(o.batch_size, join(path, 'batch_size'), 1, 100_000, 1);
  if (target?.businessKey && cols) {
    for (const key of target.businessKey) {
      const col = columns.find((x) => x.name === key);
      if (!(key in cols)) c.fail(join(path, 'target.business_key'), `${key} is not one of the mapped columns`);
      else if (col?.pii) c.fail(join(path, `columns.${key}.pii`), 'a business key cannot be personal data: it appears in ledgers and reports (use a surrogate key)');
    }
  }
  if (!source?.table || !source.key || !target?.table || !target.businessKey || !cols) return undefined;
  const targetSpec = { schema: target.schema, table: target.table!, businessKey: target.businessKey, ...(target.key ? { key: target.key } : {}) };
  return { name, source: source as EntitySpec['source'], target: targetSpec, columns, ...(batchSize ? { batchSize } : {}) };
}

/** Validates a parsed YAML document; throws a PlanError listing every problem. */
export function validatePlan(raw: unknown, file?: string): Plan {
  const c = new Checker();
  const o = c.object(raw, '', ['version', 'name', 'source', 'target', 'staging', 'keys', 'settings', 'phases', 'entities']) ?? {};
  if (o.version !== 1) c.fail('version', `expected 1, got ${show(o.version)}`);
  const name = c.string(o.name, 'name', NAME, 'a plan name of lower-case letters, digits and - (max 40)');
  const src = c.object(o.source, 'source', ['url_env'], false);
  const tgt = c.object(o.target, 'target', ['url_env', 'ledger_schema'], false);
  const stg = c.object(o.staging, 'staging', ['bucket', 'prefix', 'sse_kms_key_id'], false);
  const keys = c.object(o.keys, 'keys', ['staging', 'vault'], false);
  const set = c.object(o.settings, 'settings', ['batch_size', 'parallelism', 'throttle_rows_per_second', 'abort'], false);
  const abort = set && c.object(set.abort, 'settings.abort', ['max_quarantine_ratio'], false);
  const batchSize = c.int(set?.batch_size, 'settings.batch_size', 1, 100_000, 1000);
  const settings = {
    batchSize,
    parallelism: c.int(set?.parallelism, 'settings.parallelism', 1, 64, 2),
    throttleRowsPerSecond: c.int(set?.throttle_rows_per_second, 'settings.throttle_rows_per_second', 0, 10_000_000, 0),
    abort: { maxQuarantineRatio: c.ratio(abort?.max_quarantine_ratio, 'settings.abort.max_quarantine_ratio', 0.02) },
  };
  const ents = c.object(o.entities, 'entities', Object.keys((o.entities as Obj) ?? {}));
  const entities: EntitySpec[] = [];
  if (ents) {
    if (Object.keys(ents).length === 0) c.fail('entities', 'expected at least one entity');
    for (const [entityName, spec] of Object.entries(ents)) {
      const e = parseEntity(c, entityName, spec, `entities.${entityName}`);
      if (e) entities.push(e);
    }
  }
  const phases = parsePhases(c, o.phases, entities);
  checkReferences(c, entities, phases);
  const plan: Plan = {
    version: 1,
    name: name ?? '',
    source: { urlEnv: c.optionalString(src?.url_env, 'source.url_env', ENV, 'an environment variable name') ?? 'CUTOVER_SOURCE_URL' },
    target: {
      urlEnv: c.optionalString(tgt?.url_env, 'target.url_env', ENV, 'an environment variable name') ?? 'CUTOVER_TARGET_URL',
      ledgerSchema: c.optionalString(tgt?.ledger_schema, 'target.ledger_schema', IDENT, 'an SQL identifier') ?? 'cutover',
    },
    staging: {
      bucket: c.optionalString(stg?.bucket, 'staging.bucket', /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'an S3 bucket name'),
      prefix: (c.optionalString(stg?.prefix, 'staging.prefix', /^[A-Za-z0-9._/-]+$/, 'an S3 key prefix') ?? 'migrations').replace(/\/+$/, ''),
      sseKmsKeyId: c.optionalString(stg?.sse_kms_key_id, 'staging.sse_kms_key_id'),
    },
    keys: {
      staging: c.optionalString(keys?.staging, 'keys.staging', /^(alias\/|arn:|[0-9a-f-]{36}$)/, 'a KMS alias, key id or ARN'),
      vault: c.optionalString(keys?.vault, 'keys.vault', /^(alias\/|arn:|[0-9a-f-]{36}$)/, 'a KMS alias, key id or ARN'),
    },
    settings,
    entities,
    phases,
  };
  if (!c.issues.length) {
    for (const phase of phases) {
      try {
        phaseLevels(plan, phase.name);
      } catch (err) {
        c.fail(`phases.${phase.name}`, (err as Error).message.replace(/^phase [^:]+: /, ''));
      }
    }
  }
  if (c.issues.length) throw new PlanError(c.issues, file);
  return plan;
}

function parsePhases(c: Checker, raw: unknown, entities: EntitySpec[]): PhaseSpec[] {
  if (raw === undefined) return [{ name: 'all', entities: entities.map((e) => e.name) }];
  if (!Array.isArray(raw) || raw.length === 0) {
    c.fail('phases', `expected a list of phases, got ${show(raw)}`);
    return [];
  }
  const phases: PhaseSpec[] = [];
  const seen = new Map<string, string>();
  raw.forEach((item, i) => {
    const name = typeof (item as Obj)?.name === 'string' ? ((item as Obj).name as string) : String(i);
    const path = `phases.${name}`;
    const o = c.object(item, path, ['name', 'entities', 'gate']);
    if (!o) return;
    c.string(o.name, join(path, 'name'), NAME, 'a phase name of lower-case letters, digits and -');
    const names = Array.isArray(o.entities) && o.entities.every((e) => typeof e === 'string') ? (o.entities as string[]) : undefined;
    if (!names || !names.length) c.fail(join(path, 'entities'), `expected a list of entity names, got ${show(o.entities)}`);
    for (const e of names ?? []) {
      if (!entities.some((x) => x.name === e)) c.fail(join(path, 'entities'), `${e} is not an entity of this plan`);
      else if (seen.has(e)) c.fail(join(path, 'entities'), `${e} is already in phase ${seen.get(e)}`);
      else seen.set(e, name);
    }
    let gate: PhaseSpec['gate'];
    if (o.gate === true) gate = { distinctApprover: false };
    else if (o.gate !== undefined && o.gate !== false) {
      const g = c.object(o.gate, join(path, 'gate'), ['distinct_approver']);
      if (g && g.distinct_approver !== undefined && typeof g.distinct_approver !== 'boolean') c.fail(join(path, 'gate.distinct_approver'), `expected true or false, got ${show(g.distinct_approver)}`);
      gate = { distinctApprover: g?.distinct_approver === true };
    }
    phases.push({ name, entities: names ?? [], ...(gate ? { gate } : {}) });
  });
  for (const e of entities) if (!seen.has(e.name)) c.fail('phases', `entity ${e.name} is in no phase`);
  return phases;
}

/** References point at an entity with a target key that loads no later than the referencing one. */
function checkReferences(c: Checker, entities: EntitySpec[], phases: PhaseSpec[]): void {
  const phaseOf = (name: string) => phases.findIndex((p) => p.entities.includes(name));
  for (const e of entities) {
    for (const col of e.columns) {
      if (!col.reference) continue;
      const at = `entities.${e.name}.columns.${col.name}.reference`;
      const parent = entities.find((x) => x.name === col.reference!.entity);
      if (!parent) c.fail(at, `${col.reference.entity} is not an entity of this plan`);
      else if (!parent.target.key) c.fail(at, `${parent.name} has no target.key, so it cannot be referenced`);
      else if (phaseOf(parent.name) > phaseOf(e.name)) c.fail(at, `${parent.name} loads in a later phase than ${e.name}`);
    }
  }
}
