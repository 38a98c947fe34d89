import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { Knex } from 'knex';
import type { CatalogColumn, CatalogTable } from '../../catalog/pg-catalog';
import type { DraftInput } from '../../plan/draft';
import { migrationId, planHash } from '../../plan/hash';
import { loadPlanFile } from '../../plan/load';
import { Command, EXIT, UsageError } from '../command';

/** What `personal` tells the draft of one source column. */
type Personal = ReturnType<NonNullable<DraftInput['personal']>>;

/** A source column's sample, as personal-data discovery reads it. */
export interface ColumnValues {
  table: string;
  column: string;
  /** `format_type()` of the column. */
  type: string;
  /** Non-NULL sampled values, as node-postgres returns them. */
  values: unknown[];
}

/** Finds the personal data in a sampled column, for the draft's `pii` and `pii_paths`. */
export type PersonalOf = (sample: ColumnValues) => Personal;

export interface DraftOptions {
  sourceUrlEnv: string;
  targetUrlEnv: string;
  sourceSchema: string;
  targetSchema: string;
  /** The plan's name; default: the source database's name, made a plan name. */
  name?: string;
}

/** Rows sampled per source table, in physical order (the first this many: cheap on any size). */
const SAMPLE_ROWS = 2000;
/** A column with more distinct sampled values than this is no set of codes. */
const MAX_DISTINCT = 20;
/** Non-NULL values per column handed to personal-data discovery. */
const DISCOVERY_VALUES = 500;
/** Findings weaker than this are not marked (discovery's own scale reads below 0.5 as weak). */
const MIN_CONFIDENCE = 0.5;
const ENV_NAME = /^[A-Z_][A-Z0-9_]*$/;
const IDENT = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

const DRAFT_USAGE = `cutover plan draft [--source-url-env NAME] [--target-url-env NAME] [--source-schema S] [--target-schema S]
                   [--name NAME] [--out FILE]

Proposes a plan from the two databases' catalogs, to edit before running it: pairs source and
target tables, keys, business keys, references, column mappings and transforms, with comments
marking each guess and each TODO. Connection URLs are read from the environment variables named
(default CUTOVER_SOURCE_URL and CUTOVER_TARGET_URL; never printed), and the plan names those
variables. Both databases are only read, in read-only transactions: the catalogs, and the first
${SAMPLE_ROWS} rows of each source table for codes, boolean words and personal data (no value is
written but the codes of enum maps). Schemas default to public; --name defaults to the source
database's name. The YAML goes to --out (or stdout); notes on what matched nothing, to stderr.`;

export const planCommand: Command = {
  usage: `cutover plan validate <plan.yaml> [--json]

Lists every problem with the path of the field (exit 2), or prints the plan's canonical
hash and the migration id it starts.

${DRAFT_USAGE}`,
  async run(args) {
    if (args[0] === 'draft') return draft(args.slice(1));
    const { values, positionals } = parseArgs({ args, options: { json: { type: 'boolean', default: false } }, allowPositionals: true });
    const [action, file] = positionals;
    if (action !== 'validate' || !file) throw new UsageError('expected: cutover plan validate <plan.yaml>, or cutover plan draft [options]');
    const plan = loadPlanFile(file);
    const summary = { valid: true, name: plan.name, migrationId: migrationId(plan), planHash: planHash(plan), entities: plan.entities.map((e) => e.name) };
    if (values.json) console.log(JSON.stringify(summary, null, 2));
    else console.log(`${file}: valid\n  migration id: ${summary.migrationId}\n  plan hash:    ${summary.planHash}\n  entities:     ${summary.entities.join(', ')}`);
    return EXIT.ok;
  },
};

async function draft(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      'source-url-env': { type: 'string', default: 'CUTOVER_SOURCE_URL' },
      'target-url-env': { type: 'string', default: 'CUTOVER_TARGET_URL' },
      'source-schema': { type: 'string', default: 'public' },
      'target-schema': { type: 'string', default: 'public' },
      name: { type: 'string' },
      out: { type: 'string' },
    },
    allowPositionals: true,
  });
  if (positionals.length) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}: ${DRAFT_USAGE.split('\n')[0]}`);
  const options: DraftOptions = {
    sourceUrlEnv: values['source-url-env'],
    targetUrlEnv: values['target-url-env'],
    sourceSchema: values['source-schema'],
    targetSchema: values['target-schema'],
    ...(values.name !== undefined ? { name: values.name } : {}),
  };
  for (const [flag, v] of [['--source-url-env', options.sourceUrlEnv], ['--target-url-env', options.targetUrlEnv]] as const) {
    if (!ENV_NAME.test(v)) throw new UsageError(`${flag}: expected an environment variable name (A-Z, 0-9, _), got ${JSON.stringify(v)}`);
  }
  for (const [flag, v] of [['--source-schema', options.sourceSchema], ['--target-schema', options.targetSchema]] as const) {
    if (!IDENT.test(v)) throw new UsageError(`${flag}: expected an SQL identifier, got ${JSON.stringify(v)}`);
  }
  if (options.name !== undefined && !/^[a-z][a-z0-9-]{0,39}$/.test(options.name)) throw new UsageError(`--name: expected lower-case letters, digits and - (a letter first, at most 40), got ${JSON.stringify(options.name)}`);
  // Loaded here, as the draft's other modules are: `plan validate` loads only the plan code (test/unit/cli-main.test.ts).
  const { processEnv } = require('../../config') as typeof import('../../config');
  const result = await draftFromDatabases(options, processEnv(), discoveredPersonal());
  if (values.out) writeFileSync(values.out, result.yaml);
  else process.stdout.write(result.yaml);
  for (const note of result.notes) console.error(`note: ${note}`);
  if (values.out) console.error(`wrote ${values.out}: ${result.entities} entit${result.entities === 1 ? 'y' : 'ies'}, ${result.notes.length} note${result.notes.length === 1 ? '' : 's'}; check it, then: cutover plan validate ${values.out}`);
  return result.entities > 0 ? EXIT.ok : EXIT.failed;
}

/**
 * The draft of a plan from two live databases: each catalog read, and the source sampled, in
 * a read-only transaction (the pools are read-only too). `personalOf` finds personal data in
 * a sampled column; without it the draft marks none, and says so.
 */
export async function draftFromDatabases(options: DraftOptions, env: NodeJS.ProcessEnv, personalOf?: PersonalOf): Promise<{ yaml: string; notes: string[]; entities: number }> {
  const { createDb } = require('../../clients/postgres') as typeof import('../../clients/postgres');
  const { readCatalog } = require('../../catalog/pg-catalog') as typeof import('../../catalog/pg-catalog');
  const { draftPlan } = require('../../plan/draft') as typeof import('../../plan/draft');
  const urlOf = (name: string, what: string) => {
    const url = env[name];
    if (!url) throw new UsageError(`${name} is not set: it holds the ${what} database's connection URL (--${what}-url-env names another variable)`);
    return url;
  };
  const source = createDb(urlOf(options.sourceUrlEnv, 'source'), { readOnly: true, max: 1, applicationName: 'cutover-plan-draft' });
  const target = createDb(urlOf(options.targetUrlEnv, 'target'), { readOnly: true, max: 1, applicationName: 'cutover-plan-draft' });
  try {
    const read = await source.transaction(
      async (trx) => {
        const tables = await readCatalog(trx, options.sourceSchema);
        const samples = new Map<string, Map<string, unknown[]>>();
        for (const t of tables) samples.set(t.name, await sampleTable(trx, t));
        const database = (await trx.raw('select current_database() as name')).rows[0].name as string;
        return { tables, samples, database };
      },
      { readOnly: true },
    );
    const targetTables = await target.transaction((trx) => readCatalog(trx, options.targetSchema), { readOnly: true });
    if (!read.tables.length) throw new Error(`the source has no tables in schema ${options.sourceSchema}`);
    if (!targetTables.length) throw new Error(`the target has no tables in schema ${options.targetSchema}`);
    const columnOf = new Map(read.tables.map((t) => [t.name, new Map(t.columns.map((c) => [c.name, c]))]));
    const personal = new Map<string, Personal>();
    const d = draftPlan({
      source: read.tables,
      target: targetTables,
      sourceUrlEnv: options.sourceUrlEnv,
      targetUrlEnv: options.targetUrlEnv,
      name: options.name ?? planNameOf(read.database),
      distinct: (table, column) => {
        const values = read.samples.get(table)?.get(column);
        const c = columnOf.get(table)?.get(column);
        if (!values || !c || !codeLike(c)) return undefined;
        const set = [...new Set(values.map((v) => String(v)))];
        return set.length <= MAX_DISTINCT ? set : undefined;
      },
      ...(personalOf
        ? {
            personal: (table: string, column: string) => {
              const key = `${table}.${column}`;
              if (!personal.has(key)) {
                const c = columnOf.get(table)?.get(column);
                const values = read.samples.get(table)?.get(column) ?? [];
                personal.set(key, c ? personalOf({ table, column, type: c.type, values: values.slice(0, DISCOVERY_VALUES) }) : undefined);
              }
              return personal.get(key);
            },
          }
        : {}),
    });
    return { yaml: d.yaml, notes: d.notes, entities: Object.keys((d.plan as { entities: object }).entities).length };
  } finally {
    await Promise.all([source.destroy(), target.destroy()]);
  }
}

/** A plan name from a database name: `cutover_source` → `cutover-source`. */
function planNameOf(database: string): string {
  const name = database
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^[^a-z]+/, '')
    .slice(0, 40)
    .replace(/-+$/, '');
  return name || 'draft';
}

/** Columns whose few distinct values can be codes, boolean words or a 0 for none: text, characters, integers. */
function codeLike(c: CatalogColumn): boolean {
  return /^(text|character varying|character|"char"|smallint|integer|bigint)(\(\d+\))?$/.test(c.type);
}

/** Types whose values say nothing of codes or personal data, or are too large to sample. */
const UNSAMPLED = /^(bytea|boolean|date|time|timestamp|interval|uuid|oid|tsvector|double precision|real|numeric)/;

/** The non-NULL values of the table's first rows, by column (not of binary, time or fractional number columns). */
async function sampleTable(trx: Knex.Transaction, t: CatalogTable): Promise<Map<string, unknown[]>> {
  const columns = t.columns.filter((c) => !UNSAMPLED.test(c.type) || c.enumLabels).map((c) => c.name);
  const out = new Map<string, unknown[]>(columns.map((c) => [c, []]));
  if (!columns.length) return out;
  const { rows } = (await trx.raw(`select ${columns.map(() => '??').join(', ')} from ??.?? limit ${SAMPLE_ROWS}`, [...columns, t.schema, t.name] as never)) as { rows: Record<string, unknown>[] };
  for (const row of rows) for (const c of columns) if (row[c] !== null && row[c] !== undefined) out.get(c)!.push(row[c]);
  return out;
}

/**
 * Personal-data discovery (src/assess/pii-detect.ts) as the draft needs it: the strongest
 * finding of at least MIN_CONFIDENCE, as the plan's kind; a JSON document's personal paths.
 */
function discoveredPersonal(): PersonalOf {
  const { discoverColumn, planKindOf } = require('../../assess/pii-detect') as typeof import('../../assess/pii-detect');
  return ({ column, type, values }) => {
    const findings = discoverColumn({ column, type, values }).filter((f) => f.confidence >= MIN_CONFIDENCE);
    const json = findings.find((f) => f.kind === 'json_personal' && f.paths?.length);
    if (json) return { kind: 'text', paths: json.paths!.map((p) => ({ path: p.path, kind: planKindOf(p.kind) })) };
    const first = findings[0];
    return first ? { kind: planKindOf(first.kind) } : undefined;
  };
}
