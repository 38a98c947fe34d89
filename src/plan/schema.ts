/**
 * The plan format, defined once. `PlanFileSchema` is the YAML file as written (snake_case):
 * every field, its type, its default and its description, plus the rules that span fields.
 * From it come the validator (`PlanSchema`: parses a file into the normalized `Plan` of
 * ./types) and the JSON Schema editors use (`planJsonSchemaText`, written to
 * schema/plan.schema.json by `npm run plan-schema`).
 *
 * Every message says what was expected and what the plan has (`expected an SQL identifier,
 * got "x y"`); ./validate turns zod's issues into dotted paths
 * (`entities.users.columns.email.pii`). A rule that spans fields reads only fields that
 * parsed, so one mistake does not cause a cascade of others, and every problem is found in
 * one run.
 *
 * The normalized Plan is hashed (its hash names the migration), so normalization keeps the
 * shape plans had before a field existed: no `skip` or `query` key when a plan has none, and a
 * transform of one step stays an object.
 */
import { z } from 'zod';
import { phaseLevels } from './order';
import { SHAPED_KINDS } from '../core/shaped-tokens';
import { caseResultColumn, PII_KINDS, PROTECTIONS, TOKEN_SCHEMES } from './types';
import type { CaseArm, CaseResult, ColumnSpec, EntitySpec, PhaseSpec, PiiPath, Plan, Scalar, SourceSpec, Transform } from './types';

// ---------------------------------------------------------------- messages and building blocks

/** A value as a message shows it. */
export const show = (v: unknown): string => (v === undefined ? 'nothing' : JSON.stringify(v));

/** The start of a long text (a query), for a message. */
const brief = (v: unknown): string => (typeof v === 'string' && v.length > 60 ? JSON.stringify(`${v.slice(0, 57)}...`) : show(v));

type RawIssue = z.core.$ZodRawIssue;
type ErrorParams = { error: (issue: RawIssue) => string };

/** The error of a field: "expected <what>, got <value>". */
const expected = (what: string, showValue: (v: unknown) => string = show): ErrorParams => ({ error: (iss) => `expected ${what}, got ${showValue(iss.input)}` });

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const IDENT = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
const ENV = /^[A-Z_][A-Z0-9_]*$/;
const NAME = /^[a-z][a-z0-9-]{0,39}$/;
const ENTITY_NAME = /^[a-z][a-z0-9_-]{0,39}$/;
const SKIP_NAME = /^[a-z_][a-z0-9_]{0,62}$/;
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const PREFIX = /^[A-Za-z0-9._/-]+$/;
const KMS_KEY = /^(alias\/|arn:|[0-9a-f-]{36}$)/;
const REGION = /^[a-z]{2}(-[a-z]+)+-\d$/;
const JSON_PATH = /^[A-Za-z0-9_$-]+(\.[A-Za-z0-9_$-]+)*$/;
/** One SELECT (or WITH … SELECT), after leading whitespace and `--` comments; no semicolon anywhere. */
const QUERY = /^\s*(?:--[^\n;]*\n\s*)*(?:[Ss][Ee][Ll][Ee][Cc][Tt]|[Ww][Ii][Tt][Hh])\b[^;]*$/;
/** An SQL boolean expression: some text, no semicolon. */
const CONDITION = /^[^;]*[^;\s][^;]*$/;
/** Text with at least one `{column}` placeholder and no other braces. */
const TEMPLATE = /^[^{}]*(?:\{[A-Za-z_][A-Za-z0-9_]{0,62}\}[^{}]*)+$/;
const PLACEHOLDER = /\{([^{}]*)\}/g;

const string = (what: string, pattern?: RegExp) => {
  const e = expected(what);
  const s = z.string(e).min(1, e);
  return pattern ? s.regex(pattern, e) : s;
};
const identifier = (what = 'an SQL identifier') => string(what, IDENT);
const integer = (min: number, max: number) => {
  const e = expected(`an integer from ${min} to ${max}`);
  return z.number(e).int(e).min(min, e).max(max, e);
};
const oneOf = <T extends readonly [string, ...string[]]>(values: T) => z.enum(values, expected(`one of ${values.join(', ')}`));
const scalar = (what = 'a scalar') => z.union([z.string(), z.number(), z.boolean(), z.null()], expected(what));

/** A mapping with exactly these fields; an unknown field is named with the fields allowed. */
function strict<S extends z.core.$ZodLooseShape>(shape: S, what = 'a mapping') {
  const allowed = Object.keys(shape).join(', ');
  return z.strictObject(shape, {
    error: (iss) => (iss.code === 'unrecognized_keys' ? `unknown field (expected one of ${allowed})` : `expected ${what}, got ${show(iss.input)}`),
  });
}

/** A mapping of names the plan chooses (entities, columns, filters) to values of one schema. */
function mapOf<V extends z.ZodType>(value: V, o: { key?: RegExp; keyMessage?: string; error?: ErrorParams; nonEmpty?: string } = {}) {
  return z
    .record(z.string(), value, o.error ?? expected('a mapping'))
    .superRefine(
      (map, ctx) => {
        const keys = Object.keys(map);
        if (o.nonEmpty && keys.length === 0) ctx.addIssue({ code: 'custom', message: o.nonEmpty, input: map });
        if (o.key) for (const k of keys) if (!o.key.test(k)) ctx.addIssue({ code: 'custom', path: [k], message: o.keyMessage ?? `expected a name matching ${o.key}`, input: k });
      },
      { when: (payload) => isObject(payload.value) },
    )
    .meta({ ...(o.key ? { propertyNames: { pattern: o.key.source } } : {}), ...(o.nonEmpty ? { minProperties: 1 } : {}) });
}

/** What a rule spanning several fields may ask: did this field parse? and where to report. */
interface Rule {
  /** The value at this path (relative to the checked mapping) parsed, or is absent. */
  ok(...path: PropertyKey[]): boolean;
  fail(path: PropertyKey[], message: string): void;
}

/** Issues that leave the value they sit on usable: a rule's finding, an unknown field beside it. */
const keepsValue = (iss: RawIssue) => iss.code === 'custom' || iss.code === 'unrecognized_keys';

/**
 * A rule over a mapping's fields. It runs even when some fields have problems (so all problems
 * are found at once) and must read a field only after `ok` says it parsed: until then it holds
 * whatever the plan wrote.
 */
function withRule<S extends z.ZodType>(schema: S, check: (value: z.output<S>, r: Rule) => void): S {
  return schema.superRefine(
    (value, ctx) => {
      const prior = [...ctx.issues];
      check(value, {
        ok: (...path) =>
          !prior.some((iss) => {
            const at = iss.path ?? [];
            const inside = path.every((k, i) => at[i] === k);
            const above = at.length < path.length && at.every((k, i) => path[i] === k) && !keepsValue(iss);
            return inside || above;
          }),
        fail: (path, message) => ctx.addIssue({ code: 'custom', path, message, input: value }),
      });
    },
    { when: (payload) => isObject(payload.value) },
  );
}

// ---------------------------------------------------------------- transforms

/** Steps that take all of the column's `from` values; they can only come first. */
export const MULTI_INPUT_STEPS = ['combine', 'coalesce', 'template', 'case'] as const;

const noOptions = (description: string) => z.null({ error: (iss) => `takes no options, got ${show(iss.input)}` }).optional().describe(description);
const epochOptions = strict({ unit: oneOf(['s', 'ms'] as const).default('s').describe('s: seconds since 1970 (default); ms: milliseconds') }).nullable();

const CAST_TYPES = [
  'text', 'varchar(n)', 'character varying(n)', 'char(n)', 'character(n)', 'smallint', 'integer', 'int', 'bigint',
  'numeric', 'numeric(n)', 'numeric(n,n)', 'decimal(n,n)', 'boolean', 'date', 'timestamptz', 'timestamp with time zone',
  'timestamp', 'timestamp without time zone', 'inet', 'uuid', 'json', 'jsonb', 'real', 'double precision',
];
/** The cast types as one pattern a JSON Schema can carry: any letter case, any spacing. */
const CAST = new RegExp(
  `^\\s*(?:${CAST_TYPES.map((t) =>
    t.replace(/\(n\)|\(n,n\)|[a-z]| /g, (m) =>
      m === '(n)' ? '\\s*\\(\\s*[1-9][0-9]{0,3}\\s*\\)' : m === '(n,n)' ? '\\s*\\(\\s*[1-9][0-9]{0,3}\\s*,\\s*[0-9]{1,4}\\s*\\)' : m === ' ' ? '\\s+' : `[${m}${m.toUpperCase()}]`,
    ),
  ).join('|')})\\s*$`,
);
/** `Numeric( 10, 2 )` -> `numeric(10,2)`, `DOUBLE  PRECISION` -> `double precision`. */
const normalizeType = (t: string) => t.trim().toLowerCase().replace(/\s+/g, ' ').replace(/\s*([(),])\s*/g, '$1');
const CAST_MESSAGE =
  'a PostgreSQL type Cutover can cast to (text, varchar(n), char(n), integer, bigint, smallint, numeric(p,s), boolean, date, timestamptz, timestamp, inet, uuid, json, jsonb, real, double precision)';

const templateMessage = (iss: RawIssue) => {
  const t = iss.input;
  if (typeof t !== 'string' || t === '') return `expected text with {column} placeholders, like "src:{mnethostid}:{username}", got ${show(t)}`;
  for (const [, inner] of t.matchAll(PLACEHOLDER)) if (!IDENT.test(inner!)) return `{${inner}} is not a placeholder: expected {column} with a source column name`;
  if (/[{}]/.test(t.replace(PLACEHOLDER, ''))) return `expected every { to close a {column} placeholder, got ${show(t)}`;
  return `expected text with at least one {column} placeholder, like "src:{mnethostid}:{username}", got ${show(t)}`;
};

/** One value, or a list of them (any of which matches). */
const valueOrList = () => z.union([scalar(), z.array(scalar()).min(1, expected('a value or a list of values'))], expected('a value or a list of values'));
const aPart = expected('first, last, rest or a 0-based index');

const anArm = 'an arm needs both `when` and `then`';
/** A field an arm needs: its absence says so; a wrong value says what was expected. */
const armField = (what: string): ErrorParams => ({ error: (iss) => (iss.input === undefined ? anArm : `expected ${what}, got ${show(iss.input)}`) });
/** A case result taken from a source column of the column's `from`: `{ column: email }`. */
const columnResult = strict({ column: identifier('a source column name (an SQL identifier)').describe('a source column of `from`: the result is its value') }).describe(
  'the value of a source column of `from`, instead of a constant',
);
const RESULT = 'a scalar or { column: name }';
const whenArm = strict({
  when: mapOf(valueOrList(), {
    key: IDENT,
    keyMessage: 'expected a source column name (an SQL identifier)',
    error: armField('a mapping of source columns to values'),
    nonEmpty: 'expected at least one condition, like { role: admin }',
  }).describe('source column: value (or a list of values); the arm holds when every column matches'),
  then: z
    .union([z.string(), z.number(), z.boolean(), z.null(), columnResult], armField(RESULT))
    .describe('the result when the arm holds: a constant, or { column: name } for the value of a source column of `from`'),
});
const elseArm = strict({
  else: z
    .union([z.string(), z.number(), z.boolean(), z.null(), columnResult], expected(RESULT))
    .describe('the result when no arm holds (default: NULL): a constant, or { column: name }'),
});
/** A `{name}` in a case's text result or a constant: the plan meant a placeholder, which neither fills. */
const CASE_PLACEHOLDER = /\{([A-Za-z_][A-Za-z0-9_]{0,62})\}/;
const caseArms = z
  .array(z.union([whenArm, elseArm], expected('an arm { when: { column: value }, then: result }, or a last { else: result }')), expected('a list of arms'))
  .superRefine(
    (arms, ctx) => {
      arms.forEach((arm, i) => {
        if (isObject(arm) && 'else' in arm && i !== arms.length - 1) ctx.addIssue({ code: 'custom', path: [i], message: '`else` must be the last arm', input: arm });
        for (const field of ['then', 'else'] as const) {
          const text = isObject(arm) ? (arm as Record<string, unknown>)[field] : undefined;
          const placeholder = typeof text === 'string' ? CASE_PLACEHOLDER.exec(text)?.[1] : undefined;
          if (placeholder === undefined) continue;
          ctx.addIssue({
            code: 'custom',
            path: [i, field],
            message: `${show(text)} would be loaded as this text: a case result is not a template; to take the value of a source column write { column: ${placeholder} }`,
            input: text,
          });
        }
      });
      if (!ctx.issues.length && !arms.some((arm) => isObject(arm) && 'when' in arm)) ctx.addIssue({ code: 'custom', message: 'expected at least one { when, then } arm', input: arms });
    },
    { when: (payload) => Array.isArray(payload.value) },
  )
  .transform((arms): { arms: CaseArm[]; otherwise: CaseResult } => {
    const last = arms[arms.length - 1];
    return {
      arms: arms.flatMap((arm) => ('when' in arm ? [{ when: arm.when!, then: arm.then! }] : [])),
      otherwise: last && 'else' in last ? last.else : null,
    };
  });

/** Every step, by name, with its options. The YAML names a step `name` or `{ name: options }`. */
const stepOptions = {
  copy: noOptions('the value as it is (the default)'),
  trim: noOptions('removes leading and trailing whitespace'),
  lowercase: noOptions('lower-cases text'),
  uppercase: noOptions('upper-cases text'),
  split: strict({
    separator: string('a string').describe('the text between parts, like " "'),
    part: z
      .union([z.enum(['first', 'last', 'rest'], aPart), z.number(aPart).int(aPart).min(0, aPart)], aPart)
      .describe('first, last, rest (all but the first) or a 0-based index'),
  })
    .optional()
    .describe('one part of text split by a separator'),
  combine: strict({ separator: string('a string').default(' ').describe('the text between values (default " ")') })
    .nullable()
    .optional()
    .describe('the `from` values joined (several source columns; first step only)'),
  coalesce: noOptions('the first `from` value neither NULL nor empty text (several source columns; first step only)'),
  template: z
    .string(expected('text with {column} placeholders'))
    .regex(TEMPLATE, { error: templateMessage })
    .optional()
    .describe('text with {column} placeholders filled from the `from` columns, like "src:{mnethostid}:{username}" (first step only)'),
  case: caseArms.optional().describe('arms [{ when: { column: value }, then: result }, ..., { else: result }]: the first arm that holds decides (first step only)'),
  enum: mapOf(scalar(), { nonEmpty: 'expected at least one mapping, like { A: active }' }).optional().describe(
    'CODE: value; an unmapped code quarantines the row',
  ),
  null_if: valueOrList()
    .transform((v) => (Array.isArray(v) ? v : [v]))
    .optional()
    .describe('values standing for "none" (compared as text, like "" or 0) become NULL'),
  epoch_to_timestamp: epochOptions.optional().describe('seconds (or ms) since 1970 to a timestamp'),
  epoch_to_date: epochOptions.optional().describe('seconds (or ms) since 1970 to a date (UTC)'),
  integer: noOptions('text or number to an integer'),
  boolean: noOptions('Y/N, 1/0, true/false, ... to a boolean'),
  json: noOptions('a JSON document (pii_paths: personal values inside it)'),
  cast: z
    .string(expected(CAST_MESSAGE))
    .regex(CAST, expected(CAST_MESSAGE))
    .transform(normalizeType)
    .optional()
    .describe('the value as a column of this PostgreSQL type stores it: inet, numeric(10,2), char(2), date, ...'),
};
type StepName = keyof typeof stepOptions;
export const STEP_NAMES = Object.keys(stepOptions) as StepName[];

/** Steps written by name alone; the others need options. */
const BARE_STEPS = ['copy', 'trim', 'lowercase', 'uppercase', 'combine', 'coalesce', 'epoch_to_timestamp', 'epoch_to_date', 'integer', 'boolean', 'json'] as const;
const OPTIONS_EXAMPLE: Record<string, string> = {
  split: '{ split: { separator: " ", part: first } }',
  template: '{ template: "{a}-{b}" }',
  case: '{ case: [{ when: { column: value }, then: result }, { else: other }] }',
  enum: '{ enum: { A: active } }',
  null_if: '{ null_if: ["", 0] }',
  cast: '{ cast: inet }',
};
const anyStep = 'a transform name or { name: options }, or a list of them';

const bareStep = z
  .enum(BARE_STEPS, {
    error: (iss) => {
      const v = iss.input;
      if (typeof v !== 'string') return `expected ${anyStep}, got ${show(v)}`;
      if (OPTIONS_EXAMPLE[v]) return `${v} needs options, like ${OPTIONS_EXAMPLE[v]}`;
      return `expected one of ${STEP_NAMES.join(', ')}, got ${show(v)}`;
    },
  })
  .describe('a step without options');

const stepWithOptions = z
  .strictObject(stepOptions, {
    error: (iss) =>
      iss.code === 'unrecognized_keys' ? `expected one of ${STEP_NAMES.join(', ')}, got ${iss.keys.map((k) => show(k)).join(', ')}` : `expected ${anyStep}, got ${show(iss.input)}`,
  })
  .superRefine(
    (step, ctx) => {
      const names = Object.keys(step);
      const unknown = ctx.issues.some((iss) => iss.code === 'unrecognized_keys');
      if (names.length > 1) ctx.addIssue({ code: 'custom', message: `expected one step per { name: options }, got ${names.join(', ')} (a list runs several steps in order)`, input: step });
      else if (names.length === 0 && !unknown) ctx.addIssue({ code: 'custom', message: `expected ${anyStep}, got {}`, input: step });
    },
    { when: (payload) => isObject(payload.value) },
  )
  .meta({ minProperties: 1, maxProperties: 1 })
  .describe('{ name: options }: one step');

function toTransform(step: z.output<typeof bareStep> | z.output<typeof stepWithOptions>): Transform {
  if (typeof step === 'string') {
    if (step === 'combine') return { kind: 'combine', separator: ' ' };
    if (step === 'epoch_to_timestamp' || step === 'epoch_to_date') return { kind: step, unit: 's' };
    return { kind: step };
  }
  const s = step;
  if (s.split) return { kind: 'split', separator: s.split.separator, part: s.split.part };
  if (s.combine !== undefined) return { kind: 'combine', separator: s.combine?.separator ?? ' ' };
  if (s.template !== undefined) return { kind: 'template', template: s.template };
  if (s.case) return { kind: 'case', ...s.case };
  if (s.enum) return { kind: 'enum', map: s.enum };
  if (s.null_if) return { kind: 'null_if', values: s.null_if };
  if (s.epoch_to_timestamp !== undefined) return { kind: 'epoch_to_timestamp', unit: s.epoch_to_timestamp?.unit ?? 's' };
  if (s.epoch_to_date !== undefined) return { kind: 'epoch_to_date', unit: s.epoch_to_date?.unit ?? 's' };
  if (s.cast !== undefined) return { kind: 'cast', type: s.cast };
  // A step without options; none at all only when the mapping had an unknown name (already an error).
  const name = (Object.keys(s)[0] ?? 'copy') as Exclude<Transform['kind'], 'split' | 'combine' | 'template' | 'case' | 'enum' | 'null_if' | 'epoch_to_timestamp' | 'epoch_to_date' | 'cast'>;
  return { kind: name };
}

const step = z.union([bareStep, stepWithOptions], expected(anyStep)).transform(toTransform);

/** A column's steps, and whether the plan wrote a list (for the paths of messages). */
const transformField = z
  .union([step, z.array(step, expected(anyStep)).min(1, expected(anyStep))], expected(anyStep))
  .transform((v) => ({ steps: Array.isArray(v) ? v : [v], listed: Array.isArray(v) }))
  .prefault('copy')
  .describe(
    `how the value changes: a step (${STEP_NAMES.join(', ')}) as a name or { name: options }, or a list of steps applied in order (default copy)`,
  );

// ---------------------------------------------------------------- columns

/**
 * The `{ column }` results of a case step, each with its path inside the step as the file
 * writes it (`case[1].else.column`: the else arm is the last, after every when arm).
 */
function caseColumnResults(step: Extract<Transform, { kind: 'case' }>): { path: PropertyKey[]; column: string }[] {
  const out: { path: PropertyKey[]; column: string }[] = [];
  step.arms.forEach((arm, i) => {
    const column = caseResultColumn(arm.then);
    if (column !== undefined) out.push({ path: ['case', i, 'then', 'column'], column });
  });
  const column = caseResultColumn(step.otherwise);
  if (column !== undefined) out.push({ path: ['case', step.arms.length, 'else', 'column'], column });
  return out;
}

const placeholdersOf = (template: string) => [...template.matchAll(PLACEHOLDER)].map((m) => m[1]!);

const columnNames = (what: string) =>
  z
    .union([identifier(), z.array(identifier()).min(1, expected(what))], expected(what))
    .transform((v) => (Array.isArray(v) ? v : [v]));

const column = withRule(
  strict({
    from: columnNames('a column name or a list of them').optional().describe('the source column, or a list of them (for combine, coalesce, template or case)'),
    constant: scalar().optional().describe('a value every row gets, instead of `from`'),
    transform: transformField,
    pii: oneOf(PII_KINDS).optional().describe('personal data: the value is tokenized (email, name, phone or text)'),
    pii_paths: mapOf(oneOf(PII_KINDS), { key: JSON_PATH, keyMessage: 'expected a dotted JSON path like actor.mbox' })
      .transform((paths) => Object.entries(paths).map(([p, kind]): PiiPath => ({ path: p.split('.'), kind })))
      .optional()
      .describe('personal values inside a JSON document (with the json transform): { actor.mbox: email }'),
    protect: oneOf(PROTECTIONS).optional().describe('what the target gets for personal data: detokenize (the clear value, default), keep_token or drop (NULL)'),
    token: oneOf(TOKEN_SCHEMES)
      .optional()
      .describe('with protect: keep_token on a phone column: vault (a random token stored in the vault, default) or format_preserving (FF1 over the digits, the shape kept, no vault entry)'),
    reference: z
      .union([string('an entity name'), strict({ entity: string('an entity name').describe('the referenced entity') })], expected('an entity name'))
      .transform((r) => (typeof r === 'string' ? { entity: r } : r))
      .optional()
      .describe('the value is a source key of this entity (or of its own: a tree), loaded as that row\'s target key'),
    file: strict({
      source_bucket: string('an S3 bucket name', BUCKET).describe('the bucket the objects are in'),
      target_bucket: string('an S3 bucket name', BUCKET).describe('the bucket they are copied to, under the same key'),
    })
      .transform((f) => ({ sourceBucket: f.source_bucket, targetBucket: f.target_bucket }))
      .optional()
      .describe('the value is an object key: the object is copied, through encrypted staging, to the target bucket'),
  }),
  (c, r) => {
    const hasConstant = 'constant' in c;
    if ((c.from !== undefined) === hasConstant) r.fail([], 'expected exactly one of `from` (source columns) or `constant`');
    if (hasConstant && c.pii !== undefined) r.fail(['pii'], 'a constant is not personal data');
    const placeholder = typeof c.constant === 'string' ? CASE_PLACEHOLDER.exec(c.constant)?.[1] : undefined;
    if (placeholder !== undefined) {
      r.fail(['constant'], `${show(c.constant)} would be loaded as this text in every row: a constant is not a template; for a source column's value write from: ${placeholder} (or a template transform with from)`);
    }
    const steps = r.ok('transform') ? c.transform.steps : undefined;
    if (c.pii_paths !== undefined) {
      if (c.pii !== undefined) r.fail(['pii_paths'], 'a column has either `pii` or `pii_paths`, not both');
      if (steps && !steps.some((s) => s.kind === 'json')) r.fail(['pii_paths'], 'needs the json transform');
    }
    if (c.protect !== undefined && r.ok('protect') && c.pii === undefined && c.pii_paths === undefined) r.fail(['protect'], 'only applies to a column marked `pii` or `pii_paths`');
    if (c.token === 'format_preserving' && r.ok('token')) {
      if (c.protect !== 'keep_token') r.fail(['token'], 'format_preserving tokens are for a column the target keeps as tokens: add protect: keep_token');
      else if (c.pii === undefined || !SHAPED_KINDS.includes(c.pii)) r.fail(['token'], `format_preserving tokens need values of digits (pii: ${SHAPED_KINDS.join(' or ')}): ${c.pii ? `${c.pii} values` : 'values inside a JSON document'} have no domain of 10^6 to keep their shape in`);
    }
    if (c.reference !== undefined && (c.pii !== undefined || c.pii_paths !== undefined)) r.fail(['reference'], 'a reference is a key, not personal data');
    if (c.file !== undefined && (c.pii !== undefined || c.reference !== undefined || steps?.some((s) => s.kind !== 'copy'))) {
      r.fail(['file'], 'a file column holds the object key as it is (no pii, reference or transform)');
    }
    if (!steps || !r.ok('from')) return;
    const from = c.from ?? [];
    const at = (i: number): PropertyKey[] => (c.transform.listed ? ['transform', i] : ['transform']);
    const multi = (s: Transform) => (MULTI_INPUT_STEPS as readonly string[]).includes(s.kind);
    steps.forEach((s, i) => {
      if (i > 0 && multi(s)) r.fail(at(i), `${s.kind} takes all of the source columns, so it can only be the first step`);
    });
    const first = steps[0]!;
    const sources = `(from: ${from.join(', ') || 'none'})`;
    if ((first.kind === 'combine' || first.kind === 'coalesce') && from.length < 2) r.fail(['from'], `${first.kind} needs a list of two or more source columns`);
    if (!multi(first) && from.length > 1) r.fail(['from'], `several source columns need a multi-input first step (combine, coalesce, template or case), not ${first.kind}`);
    if (first.kind === 'template') {
      for (const p of placeholdersOf(first.template)) if (!from.includes(p)) r.fail([...at(0), 'template'], `{${p}} is not one of the source columns ${sources}`);
    }
    if (first.kind === 'case') {
      first.arms.forEach((arm, i) => {
        for (const col of Object.keys(arm.when)) if (!from.includes(col)) r.fail([...at(0), 'case', i, 'when', col], `${col} is not one of the source columns ${sources}`);
      });
      for (const { path, column: col } of caseColumnResults(first)) {
        if (!from.includes(col)) r.fail([...at(0), ...path], `${col} is not one of the source columns ${sources}: list it in \`from\``);
      }
    }
  },
)
  .meta({ oneOf: [{ required: ['from'] }, { required: ['constant'] }] })
  .describe('a target column: where its value comes from (`from` or `constant`) and what happens to it');
type ColumnFile = z.output<typeof column>;

// ---------------------------------------------------------------- entities

const source = withRule(
  strict({
    schema: identifier().default('public').describe('the source schema (default public)'),
    table: identifier().optional().describe('the source table (or give `query`)'),
    query: z
      .string(expected('one SELECT (or WITH … SELECT) without a semicolon'))
      .regex(QUERY, expected('one SELECT (or WITH … SELECT) without a semicolon', brief))
      .optional()
      .describe('instead of `table`: one read-only SELECT (or WITH … SELECT), no semicolon; its result has the `key` column'),
    key: identifier().describe('the unique column batches walk in key order (with a query: a column of its result)'),
    skip: mapOf(
      string('an SQL boolean expression without a semicolon', CONDITION).describe('an SQL boolean over the source columns: rows where it is true are skipped'),
      { key: SKIP_NAME, keyMessage: 'expected a filter name: a lower-case SQL identifier' },
    )
      .transform((skip) => Object.entries(skip).map(([name, when]) => ({ name, when })))
      .optional()
      .describe('rows not to migrate, by filter name: { name: SQL condition }; each is counted by name'),
    change_column: identifier()
      .optional()
      .describe('for `sync.mode: poll`: the column a writer sets on every insert and update (an epoch number or a timestamp; NULL-able: such rows are found by comparing key sets)'),
    change_unit: oneOf(['s', 'ms'] as const).optional().describe('the unit of an epoch `change_column`: s (default) or ms'),
  }),
  (s, r) => {
    if ((s.table === undefined) === (s.query === undefined)) r.fail([], 'expected exactly one of `table` or `query`');
  },
)
  .meta({ oneOf: [{ required: ['table'] }, { required: ['query'] }] })
  .describe('where the rows come from: a table or one SELECT, read in keyset batches of `key`');

const target = strict({
  schema: identifier().default('public').describe('the target schema (default public)'),
  table: identifier().describe('the target table'),
  business_key: columnNames('a column name or a list of them').describe('the mapped column(s) rows are upserted by: needs a unique index; not personal data'),
  key: identifier().optional().describe("the target's own key column, which references to this entity receive"),
  soft_delete: mapOf(scalar('a constant'), { key: IDENT, keyMessage: 'expected a target column name', nonEmpty: 'expected at least one column: value' })
    .optional()
    .describe('during sync, a row deleted in the source is kept and these target columns set (e.g. { deleted: 1 }); absent: the row is deleted'),
}).describe('where the rows go');

/** How strongly each protection keeps a value from the target: a copy must be kept at least as well. */
const PROTECTION_RANK: Record<(typeof PROTECTIONS)[number], number> = { detokenize: 0, keep_token: 1, drop: 2 };

/**
 * A case result `{ column: X }` copies X's value. When another column of the entity reads X as
 * personal data, the copy must be tokenized the same way (the same kind: tokens differ by kind)
 * and protected at least as well, or the case would put in the target, in clear, what the plan
 * keeps from it elsewhere. X inside a JSON document with personal paths is refused: a case
 * cannot say which paths of the copy are personal.
 */
function checkCaseColumnResults(columns: Record<string, ColumnFile>, r: Rule): void {
  const parsed = Object.entries(columns).filter(([name, c]) => isObject(c) && r.ok('columns', name));
  for (const [name, c] of parsed) {
    const steps = c.transform.steps;
    const first = steps[0];
    if (first?.kind !== 'case') continue;
    const at = (path: PropertyKey[]): PropertyKey[] => ['columns', name, ...(c.transform.listed ? ['transform', 0] : ['transform']), ...path];
    for (const { path, column: x } of caseColumnResults(first)) {
      for (const [other, d] of parsed) {
        if (other === name || !d.from?.includes(x)) continue;
        if (d.pii_paths?.length) {
          r.fail(at(path), `${x} holds personal values inside a JSON document (columns.${other} has pii_paths): a case cannot take it whole; map it with json and pii_paths in a column of its own`);
          break;
        }
        if (!d.pii) continue;
        const needed = d.protect ?? 'detokenize';
        const own = c.protect ?? 'detokenize';
        if (c.pii === d.pii && PROTECTION_RANK[own] >= PROTECTION_RANK[needed]) continue;
        const allowed = PROTECTIONS.filter((p) => PROTECTION_RANK[p] >= PROTECTION_RANK[needed]);
        const protect = allowed.length === PROTECTIONS.length ? '' : ` with protect: ${allowed.join(' or ')}`;
        r.fail(
          at(path),
          `${x} is personal data (columns.${other} has pii: ${d.pii}, protect: ${needed}): a value taken from it must be tokenized the same way: mark this column pii: ${d.pii}${protect}`,
        );
        break;
      }
    }
  }
}

/** Where a plan's (or an entity's) data may be: checked at prepare and by `cutover doctor`. */
const residency = strict({
  region: string('an AWS region such as eu-central-1', REGION).describe('the region the staging bucket, every KMS key the data is sealed under and the worker\'s S3 and KMS clients must be in'),
}).describe('where the data may be: the staging bucket, the KMS keys and the endpoints the worker uses must all be in this region (refused at prepare otherwise)');

const entity = withRule(
  strict({
    source,
    target,
    columns: mapOf(column, { key: IDENT, keyMessage: 'expected the target column name to be an SQL identifier', nonEmpty: 'expected at least one column mapping' }).describe(
      'target column: rule',
    ),
    batch_size: integer(1, 100_000).optional().describe("rows per keyset batch for this entity (overrides settings.batch_size)"),
    residency: residency.optional(),
  }),
  (e, r) => {
    if (isObject(e.columns)) checkCaseColumnResults(e.columns, r);
    if (!isObject(e.target) || !r.ok('target', 'business_key') || !isObject(e.columns)) return;
    for (const key of e.target.business_key) {
      if (!Object.hasOwn(e.columns, key)) r.fail(['target', 'business_key'], `${key} is not one of the mapped columns`);
      else if (r.ok('columns', key, 'pii') && e.columns[key]?.pii) {
        r.fail(['columns', key, 'pii'], 'a business key cannot be personal data: it appears in ledgers and reports (use a surrogate key)');
      }
    }
  },
)
  .describe('one kind of row: its source, target and columns');
type EntityFile = z.output<typeof entity>;

// ---------------------------------------------------------------- the plan

const phase = strict({
  name: string('a phase name of lower-case letters, digits and -', NAME).describe('the phase name (approve <id> <phase> names it)'),
  entities: z.array(string('an entity name'), expected('a list of entity names')).min(1, expected('a list of entity names')).describe('the entities of this phase'),
  gate: z
    .union([z.boolean(), strict({ distinct_approver: z.boolean(expected('true or false')).optional().describe('refuse an approval from whoever started the migration') })], expected('true, false or { distinct_approver: true }'))
    .optional()
    .describe('wait for `cutover approve` after this phase'),
}).describe('a group of entities loaded (and reconciled) before the next phase');

const kmsKey = (what: string) => string('a KMS alias, key id or ARN', KMS_KEY).optional().describe(what);

export const PlanFileSchema = withRule(
  strict({
    version: z.literal(1, expected('1')).describe('the plan format version: 1'),
    name: string('a plan name of lower-case letters, digits and - (max 40)', NAME).describe('the plan name: with the plan hash, the migration id'),
    source: strict({
      url_env: string('an environment variable name', ENV).default('CUTOVER_SOURCE_URL').describe('the environment variable with the source URL (a read-only role)'),
    })
      .prefault({})
      .describe('the source database'),
    target: strict({
      url_env: string('an environment variable name', ENV).default('CUTOVER_TARGET_URL').describe('the environment variable with the target URL'),
      ledger_schema: identifier().default('cutover').describe('the target schema of the ledger of every row the migration writes'),
    })
      .prefault({})
      .describe('the target database'),
    staging: strict({
      bucket: string('an S3 bucket name', BUCKET).optional().describe('the staging bucket (default: from the environment)'),
      prefix: string('an S3 key prefix', PREFIX).default('migrations').describe('the key prefix of staged batches (default migrations)'),
      sse_kms_key_id: string('a string').optional().describe("the bucket's SSE-KMS key (default: from the environment)"),
    })
      .prefault({})
      .describe('the S3 staging area batches pass through, encrypted'),
    keys: strict({
      staging: kmsKey('the KMS key staged objects are encrypted under (default alias/cutover-staging)'),
      vault: kmsKey("the KMS key the token vault must be under (default: the worker's)"),
    })
      .prefault({})
      .describe('KMS keys'),
    residency: residency.optional(),
    settings: strict({
      batch_size: integer(1, 100_000).default(1000).describe('rows per keyset batch (default 1000)'),
      parallelism: integer(1, 64).default(2).describe('batches in flight (default 2)'),
      throttle_rows_per_second: integer(0, 10_000_000).default(0).describe('rows per second across the migration; 0 = unthrottled (default)'),
      abort: strict({
        max_quarantine_ratio: z
          .number(expected('a ratio from 0 to 1 (0.02 is 2 %)'))
          .min(0, expected('a ratio from 0 to 1 (0.02 is 2 %)'))
          .max(1, expected('a ratio from 0 to 1 (0.02 is 2 %)'))
          .default(0.02)
          .describe('abort once an entity\'s quarantined rows are sure to pass this share of its rows (default 0.02: 2 %)'),
      })
        .prefault({})
        .describe('when the migration stops by itself'),
    })
      .prefault({})
      .describe('how fast and in what batches'),
    sync: strict({
      mode: oneOf(['logical', 'poll'] as const).describe("how changes are captured: `logical` (the source's logical replication slot and publication, pgoutput) or `poll` (each entity's source.change_column, and key sets for deletes)"),
      interval_seconds: integer(1, 3600).default(5).describe('seconds from the start of one sync round to the start of the next (default 5; a round that takes longer is followed at once)'),
      quiet_seconds: integer(0, 3600).default(10).describe('migrations started before the cutover-verifies-tail patch: how long no change may arrive before the final delta is the last (default 10); newer cutovers end the final delta at the first round after the request that changes nothing'),
      conflict: oneOf(['source_wins', 'target_wins', 'quarantine'] as const)
        .default('quarantine')
        .describe('a target row changed by someone else since Cutover wrote it: overwrite it (source_wins), keep it (target_wins) or keep it and quarantine the source change with reason `conflict` (default)'),
      max_delete_ratio: z
        .number(expected('a ratio from 0 to 1'))
        .min(0, expected('a ratio from 0 to 1'))
        .max(1, expected('a ratio from 0 to 1'))
        .default(0.1)
        .describe("a round that would delete more than this share of an entity's rows stops and waits for an operator (`resume --confirm-deletes`): a partial read looks like a mass delete (default 0.1)"),
      overlap_seconds: integer(0, 86_400).default(60).describe('poll: each round re-reads rows changed since the last watermark minus this (late commits; default 60)'),
      key_set_interval_seconds: integer(0, 86_400)
        .optional()
        .describe("poll: how often a round compares the source's key sets with the key map, for deletes and rows without a change value (default 30; 0: every round). Rounds after `cutover cutover` always compare"),
      slot: identifier('a replication slot name').default('cutover').describe('logical: the replication slot (pgoutput) the source DBA created; Cutover creates it when absent and its role may, and drops it when the migration ends'),
      publication: identifier('a publication name').default('cutover').describe("logical: the publication of the entities' source tables"),
      max_retained_wal_mb: integer(1, 10_000_000).default(1024).describe('logical: WAL the slot holds back past this is an alarm in status and metrics (default 1024)'),
    })
      .optional()
      .describe('keep the target in step with a live source after the full load, until `cutover cutover`'),
    entities: mapOf(entity, { key: ENTITY_NAME, keyMessage: 'expected an entity name of lower-case letters, digits, - and _', nonEmpty: 'expected at least one entity' }).describe(
      'the entities, by name, in load order',
    ),
    phases: z
      .array(phase, expected('a list of phases'))
      .min(1, expected('a list of phases'))
      .optional()
      .describe('entities grouped in phases, run in order (default: one phase `all`)'),
  }),
  (p, r) => {
    const entityNames = isObject(p.entities) ? Object.keys(p.entities) : undefined;
    // Phase membership, from the phases whose entity list parsed.
    const membership: string[][] = [];
    let complete = true;
    if (Array.isArray(p.phases) && p.phases.length > 0) {
      const seen = new Map<string, string>();
      const phaseNames = new Set<string>();
      p.phases.forEach((ph, i) => {
        if (!isObject(ph)) {
          complete = false;
          return;
        }
        const name = typeof ph.name === 'string' ? ph.name : String(i);
        if (r.ok('phases', i, 'name') && phaseNames.has(name)) r.fail(['phases', i, 'name'], `there is already a phase ${name}`);
        phaseNames.add(name);
        if (!r.ok('phases', i, 'entities')) {
          complete = false;
          return;
        }
        membership[i] = ph.entities;
        for (const e of entityNames ? ph.entities : []) {
          if (!entityNames!.includes(e)) r.fail(['phases', i, 'entities'], `${e} is not an entity of this plan`);
          else if (seen.has(e)) r.fail(['phases', i, 'entities'], `${e} is already in phase ${seen.get(e)}`);
          else seen.set(e, name);
        }
      });
      if (entityNames && complete) for (const e of entityNames) if (!seen.has(e)) r.fail(['phases'], `entity ${e} is in no phase`);
    } else if (p.phases !== undefined) {
      complete = false;
    }
    if (!entityNames) return;
    if (isObject(p.sync) && r.ok('sync', 'mode')) {
      for (const [name, e] of Object.entries(p.entities)) {
        if (!isObject(e) || !isObject(e.source) || !r.ok('entities', name, 'source')) continue;
        if (p.sync.mode === 'poll' && !e.source.change_column) r.fail(['entities', name, 'source', 'change_column'], 'sync.mode poll finds updates by a change column: name it (an epoch or timestamp column)');
        if (p.sync.mode === 'logical' && e.source.table === undefined) r.fail(['entities', name, 'source'], 'sync.mode logical follows tables: give `table` (a query has no change stream of its own)');
      }
    }
    const phaseOf = (name: string) => (p.phases === undefined ? 0 : membership.findIndex((list) => list?.includes(name)));
    // References point at an entity with a target key that loads no later than the referencing one.
    for (const [name, e] of Object.entries(p.entities)) {
      if (!isObject(e) || !isObject(e.columns)) continue;
      for (const [col, c] of Object.entries(e.columns)) {
        if (!isObject(c) || c.reference === undefined || !r.ok('entities', name, 'columns', col, 'reference')) continue;
        const at = ['entities', name, 'columns', col, 'reference'];
        const parent = c.reference.entity;
        if (!entityNames.includes(parent)) r.fail(at, `${parent} is not an entity of this plan`);
        else if (!r.ok('entities', parent, 'target', 'key')) continue;
        else if (!p.entities[parent]?.target.key) r.fail(at, `${parent} has no target.key, so it cannot be referenced`);
        else if (complete && phaseOf(parent) > phaseOf(name)) r.fail(at, `${parent} loads in a later phase than ${name}`);
      }
    }
  },
)
  .meta({
    title: 'Cutover migration plan',
    description: 'A migration, described without secrets (connections are named by environment variable) or personal data. See README.md, "Migrating: the plan".',
  });
export type PlanFile = z.output<typeof PlanFileSchema>;

// ---------------------------------------------------------------- normalization

function toColumn(name: string, c: ColumnFile): ColumnSpec {
  const steps = c.transform.steps;
  const protect = c.protect ?? 'detokenize';
  return {
    name,
    from: c.from ?? [],
    ...('constant' in c ? { constant: c.constant as Scalar } : {}),
    transform: steps.length === 1 ? steps[0]! : steps,
    ...(c.pii ? { pii: c.pii, protect, ...(c.token === 'format_preserving' ? { shapedTokens: true as const } : {}) } : {}),
    ...(c.pii_paths?.length ? { piiPaths: c.pii_paths, protect } : {}),
    ...(c.reference ? { reference: c.reference } : {}),
    ...(c.file ? { file: c.file } : {}),
  };
}

function toEntity(name: string, e: EntityFile): EntitySpec {
  const s = e.source;
  const source: SourceSpec = {
    schema: s.schema,
    ...(s.table !== undefined ? { table: s.table } : { query: s.query! }),
    key: s.key,
    ...(s.skip?.length ? { skip: s.skip } : {}),
    ...(s.change_column ? { change: { column: s.change_column, unit: s.change_unit ?? 's' } } : {}),
  };
  const t = e.target;
  return {
    name,
    source,
    target: { schema: t.schema, table: t.table, businessKey: t.business_key, ...(t.key ? { key: t.key } : {}), ...(t.soft_delete ? { softDelete: t.soft_delete as Record<string, Scalar> } : {}) },
    columns: Object.entries(e.columns).map(([col, c]) => toColumn(col, c)),
    ...(e.batch_size ? { batchSize: e.batch_size } : {}),
    ...(e.residency ? { residency: { region: e.residency.region } } : {}),
  };
}

/** The normalized Plan of a parsed file: camelCase, defaults filled, the shape ./types documents. */
function toPlan(f: PlanFile): Plan {
  const entities = Object.entries(f.entities).map(([name, e]) => toEntity(name, e));
  const phases: PhaseSpec[] = f.phases
    ? f.phases.map((p) => {
        const gate = p.gate === true ? { distinctApprover: false } : isObject(p.gate) ? { distinctApprover: p.gate.distinct_approver === true } : undefined;
        return { name: p.name, entities: p.entities, ...(gate ? { gate } : {}) };
      })
    : [{ name: 'all', entities: entities.map((e) => e.name) }];
  return {
    version: 1,
    name: f.name,
    source: { urlEnv: f.source.url_env },
    target: { urlEnv: f.target.url_env, ledgerSchema: f.target.ledger_schema },
    staging: { bucket: f.staging.bucket, prefix: f.staging.prefix.replace(/\/+$/, ''), sseKmsKeyId: f.staging.sse_kms_key_id },
    keys: { staging: f.keys.staging, vault: f.keys.vault },
    settings: {
      batchSize: f.settings.batch_size,
      parallelism: f.settings.parallelism,
      throttleRowsPerSecond: f.settings.throttle_rows_per_second,
      abort: { maxQuarantineRatio: f.settings.abort.max_quarantine_ratio },
    },
    entities,
    phases,
    ...(f.residency ? { residency: { region: f.residency.region } } : {}),
    ...(f.sync
      ? {
          sync: {
            mode: f.sync.mode,
            intervalSeconds: f.sync.interval_seconds,
            quietSeconds: f.sync.quiet_seconds,
            conflict: f.sync.conflict,
            maxDeleteRatio: f.sync.max_delete_ratio,
            overlapSeconds: f.sync.overlap_seconds,
            ...(f.sync.key_set_interval_seconds !== undefined ? { keySetIntervalSeconds: f.sync.key_set_interval_seconds } : {}),
            slot: f.sync.slot,
            publication: f.sync.publication,
            maxRetainedWalMb: f.sync.max_retained_wal_mb,
          },
        }
      : {}),
  };
}

/** A parsed YAML plan to the normalized Plan; every problem is an issue. */
export const PlanSchema = PlanFileSchema.transform(toPlan).superRefine(
  (plan, ctx) => {
    for (const p of plan.phases) {
      try {
        phaseLevels(plan, p.name);
      } catch (err) {
        ctx.addIssue({ code: 'custom', path: ['phases', p.name], message: (err as Error).message.replace(/^phase [^:]+: /, ''), input: p });
      }
    }
  },
  { when: (payload) => payload.issues.length === 0 },
);

// ---------------------------------------------------------------- JSON Schema

/** The JSON Schema of the plan file, for editors (schema/plan.schema.json). */
export function planJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(PlanFileSchema, { target: 'draft-07', io: 'input', unrepresentable: 'throw' }) as Record<string, unknown>;
}

/** schema/plan.schema.json as `npm run plan-schema` writes it. */
export function planJsonSchemaText(): string {
  return `${JSON.stringify(planJsonSchema(), null, 2)}\n`;
}
