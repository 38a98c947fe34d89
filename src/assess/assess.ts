import type { S3Client } from '@aws-sdk/client-s3';
import type { Knex } from 'knex';
import { readCatalog, type CatalogTable } from '../catalog/pg-catalog';
import { checkReadOnly, checkSync } from '../doctor/doctor';
import type { CheckResult } from '../doctor/table';
import { migrationId, planHash } from '../plan/hash';
import { sourceLabel, type EntitySpec, type Plan } from '../plan/types';
import { discoverColumn, type PiiFinding } from './pii-detect';
import { fileInventory, largestValues, nonNullCount, recentChanges, rowCount, sampleRows, type FileInventory, type Relation } from './inventory';
import { forecastQuarantine, wouldAbort, type EntityForecast } from './preflight';
import { DEFAULT_STRICT_THRESHOLD, scoreColumn, tableScore, type ColumnRisk, type Treatment } from './risk';
import { sourceColumnUses, useOf } from './treatment';

/** One source column as the assessment sees it. No value of it, ever: kinds, counts, names. */
export interface AssessedColumn {
  name: string;
  type: string;
  /** What the plan does with it (`not_migrated`: no target column reads it). */
  treatment: Treatment;
  /** Target columns it feeds. */
  targets: string[];
  findings: PiiFinding[];
  risk: ColumnRisk;
  /** Bytes of the largest value in the sample. */
  largestBytes: number;
}

export interface AssessedTable {
  /** `public.legacy_users`, or `query of <entity>`. */
  source: string;
  /** The plan's entity reading it; absent when the plan migrates nothing of it. */
  entity?: string;
  rows: number;
  /** False: the planner's estimate (a table too large to count quickly). */
  rowsExact: boolean;
  bytes: number;
  /** Rows the plan's change column says changed in the last 30 days. */
  growth?: { column: string; last30Days: number; perDay: number };
  columns: AssessedColumn[];
  files: FileInventory[];
  score: 1 | 2 | 3 | 4 | 5;
  sampled: number;
  /** Seconds to read, map and check every row at the rate the pre-flight measured here; writes, ledger and staging come on top. */
  estimatedSeconds?: number;
}

export interface Assessment {
  plan: { name: string; migrationId: string; hash: string };
  assessedAt: string;
  sampleRows: number;
  tables: AssessedTable[];
  preflight: {
    checks: CheckResult[];
    forecast: EntityForecast[];
    /** Forecast quarantined rows by reason, over every entity. */
    byReason: Record<string, number>;
    /** Why the run would abort on its quarantine threshold; absent when it would not. */
    abort?: string;
  };
  strict: { threshold: number; failing: { source: string; column: string; score: number; treatment: Treatment; control?: string }[] };
}

export interface AssessOptions {
  /** Rows sampled per table for personal-data discovery. @default 500 */
  sampleRows?: number;
  /** Rows read per entity by the pre-flight; undefined: every row. */
  preflightRows?: number;
  /** Columns scoring above this and left unprotected fail `--strict`. @default 3 */
  threshold?: number;
  /** Object keys looked up per file column. @default 100 */
  fileSample?: number;
  /** Assessed at (ISO); the caller's clock. */
  now: string;
  onProgress?: (what: string) => void;
}

export interface AssessConnections {
  source: Knex;
  target: Knex;
  s3: S3Client;
}

const relationOf = (e: EntitySpec): Relation => (e.source.query !== undefined ? { query: e.source.query } : { schema: e.source.schema, table: e.source.table! });

/** Columns a relation returns: a table's from its catalog, a query's from a row-less run of it. */
async function queryColumns(db: Knex, query: string): Promise<{ name: string; type: string }[]> {
  const r = await db.raw(`select * from (${query.replace(/\?/g, '\\?')}) as __cutover_q limit 0`);
  const types = new Map<number, string>();
  for (const f of r.fields as { dataTypeID: number }[]) if (!types.has(f.dataTypeID)) types.set(f.dataTypeID, (await db.raw('select format_type(?::oid, null) as t', [f.dataTypeID])).rows[0].t);
  return (r.fields as { name: string; dataTypeID: number }[]).map((f) => ({ name: f.name, type: types.get(f.dataTypeID)! }));
}

/** Read-only checks of the pre-flight: the source role, the target's tables and columns, a sync source's readiness. */
async function preflightChecks(plan: Plan, c: AssessConnections, tables: ReadonlyMap<string, CatalogTable>): Promise<CheckResult[]> {
  const checks: CheckResult[] = [await checkReadOnly(c.source)];
  for (const e of plan.entities) {
    const t = tables.get(e.name);
    const label = `${e.target.schema}.${e.target.table}`;
    if (!t) {
      checks.push({ component: 'Target', check: `${e.name}: table ${label} exists`, ok: false, detail: 'no such table in the target', fix: 'create it, or correct target.table in the plan' });
      continue;
    }
    const names = new Set(t.columns.map((x) => x.name));
    const missing = [...e.columns.map((x) => x.name), ...e.target.businessKey].filter((x, i, all) => !names.has(x) && all.indexOf(x) === i);
    const generated = e.columns.filter((x) => t.columns.find((y) => y.name === x.name)?.generated).map((x) => x.name);
    const unique = [t.primaryKey, ...t.uniques.map((u) => u.columns)].some((cols) => cols.length === e.target.businessKey.length && cols.every((x) => e.target.businessKey.includes(x)));
    const required = t.columns.filter((x) => x.notNull && !x.hasDefault && !x.generated && !e.columns.some((y) => y.name === x.name)).map((x) => x.name);
    const problems = [
      ...(missing.length ? [`no column ${missing.join(', ')}`] : []),
      ...(generated.length ? [`generated column ${generated.join(', ')} cannot be written`] : []),
      ...(unique ? [] : [`no unique constraint on the business key (${e.target.businessKey.join(', ')}): the load's upsert needs one`]),
      ...(required.length ? [`NOT NULL column ${required.join(', ')} without a default is not filled by the plan: every row would be refused`] : []),
    ];
    checks.push({ component: 'Target', check: `${e.name}: ${label} takes the plan's columns`, ok: problems.length === 0, detail: problems.length ? problems.join('; ') : `${e.columns.length} column(s), business key (${e.target.businessKey.join(', ')}) unique`, fix: problems.length ? "change the target, or the plan's columns" : undefined });
  }
  if (plan.sync) checks.push(...(await checkSync(c.source, plan)));
  return checks;
}

/**
 * Assesses a plan before it runs, reading the source, the target and the object store, and
 * writing nothing: inventory, personal data found by name and content, a risk score per
 * column and table from what the plan does with it, and the pre-flight (checks and the
 * forecast of what would be quarantined, by reason). The result names columns, counts and
 * reasons; it holds no value of any row.
 */
export async function assessPlan(plan: Plan, c: AssessConnections, options: AssessOptions): Promise<Assessment> {
  const sampleN = options.sampleRows ?? 500;
  const threshold = options.threshold ?? DEFAULT_STRICT_THRESHOLD;
  const say = options.onProgress ?? (() => undefined);

  // The target tables of the plan, and every table of the source schemas it reads (tables it leaves behind are in scope too).
  const targetTables = new Map<string, CatalogTable>();
  for (const schema of new Set(plan.entities.map((e) => e.target.schema))) {
    const wanted = plan.entities.filter((e) => e.target.schema === schema);
    const found = await readCatalog(c.target, schema, wanted.map((e) => e.target.table));
    for (const e of wanted) {
      const t = found.find((x) => x.name === e.target.table);
      if (t) targetTables.set(e.name, t);
    }
  }
  const sourceTables: CatalogTable[] = [];
  for (const schema of new Set(plan.entities.map((e) => e.source.schema))) sourceTables.push(...(await readCatalog(c.source, schema)));

  const checks = await preflightChecks(plan, c, targetTables);
  say('pre-flight: forecasting the quarantine');
  const forecast = await forecastQuarantine(plan, c.source, c.target, targetTables, { maxRows: options.preflightRows, onBatch: (e, n) => say(`pre-flight: ${e}, ${n} rows read`) });

  const tables: AssessedTable[] = [];
  const readers: { relation: Relation; source: string; columns: { name: string; type: string }[]; estimated: number; bytes: number; entity?: EntitySpec }[] = [];
  for (const t of sourceTables) {
    const entity = plan.entities.find((e) => e.source.table === t.name && e.source.schema === t.schema);
    readers.push({ relation: { schema: t.schema, table: t.name }, source: `${t.schema}.${t.name}`, columns: t.columns, estimated: t.estimatedRows, bytes: t.totalBytes, entity });
  }
  for (const e of plan.entities.filter((x) => x.source.query !== undefined)) {
    readers.push({ relation: relationOf(e), source: sourceLabel(e), columns: await queryColumns(c.source, e.source.query!), estimated: 0, bytes: 0, entity: e });
  }

  for (const r of readers) {
    say(`inventory: ${r.source}`);
    const count = await rowCount(c.source, r.relation, r.estimated);
    const rows = await sampleRows(c.source, r.relation, r.columns.map((x) => x.name), sampleN, count.rows);
    const largest = largestValues(rows, r.columns.map((x) => x.name));
    const uses = r.entity ? sourceColumnUses(r.entity) : new Map();
    const columns: AssessedColumn[] = r.columns.map((col) => {
      const values = rows.map((row) => row[col.name]).filter((v) => v !== null && v !== undefined);
      const findings = discoverColumn({ table: 'table' in r.relation ? r.relation.table : r.entity?.name, column: col.name, type: col.type, values });
      const use = useOf(uses, col.name);
      const where = { targetColumn: use.businessKey?.keyColumn ?? use.targets[0], ...(use.declaredPaths ? { declaredPaths: use.declaredPaths } : {}), ...(use.businessKey ? { businessKey: use.businessKey } : {}) };
      return { name: col.name, type: col.type, treatment: use.treatment, targets: use.targets, findings, risk: scoreColumn(findings, use.treatment, where), largestBytes: largest[col.name] ?? 0 };
    });
    rows.length = 0;
    const files: FileInventory[] = [];
    for (const fc of r.entity?.columns.filter((x) => x.file) ?? []) {
      const keyColumn = fc.from[0]!;
      const objects = await nonNullCount(c.source, r.relation, keyColumn);
      const keys = (await sampleRows(c.source, r.relation, [keyColumn], options.fileSample ?? 100, count.rows)).map((x) => x[keyColumn]).filter((k): k is string => typeof k === 'string' && k !== '');
      files.push(await fileInventory(c.s3, fc.file!.sourceBucket, fc.name, objects, keys));
    }
    let growth: AssessedTable['growth'];
    const change = r.entity?.source.change;
    if (change) {
      const type = r.columns.find((x) => x.name === change.column)?.type ?? '';
      const last30Days = await recentChanges(c.source, r.relation, change.column, /^(timestamp|date)/.test(type) ? 'timestamp' : change.unit);
      growth = { column: change.column, last30Days, perDay: Math.round(last30Days / 30) };
    }
    const f = r.entity ? forecast.find((x) => x.entity === r.entity!.name) : undefined;
    const rate = f && f.elapsedMs > 0 && f.rowsRead > 0 ? f.rowsRead / (f.elapsedMs / 1000) : undefined;
    tables.push({
      source: r.source,
      ...(r.entity ? { entity: r.entity.name } : {}),
      rows: count.rows,
      rowsExact: count.exact,
      bytes: r.bytes,
      ...(growth ? { growth } : {}),
      columns,
      files,
      score: tableScore(columns.map((x) => x.risk)),
      sampled: Math.min(sampleN, count.rows),
      ...(rate ? { estimatedSeconds: Math.round((count.rows / rate) * 10) / 10 } : {}),
    });
  }

  const byReason: Record<string, number> = {};
  for (const f of forecast) for (const r of f.reasons) byReason[r.reason] = (byReason[r.reason] ?? 0) + r.count;
  const failing = tables.flatMap((t) =>
    t.columns.filter((x) => x.risk.score > threshold && x.risk.treatment !== 'not_migrated').map((x) => ({ source: t.source, column: x.name, score: x.risk.score, treatment: x.risk.treatment, ...(x.risk.control ? { control: x.risk.control } : {}) })),
  );
  const abort = wouldAbort(plan, forecast);
  return {
    plan: { name: plan.name, migrationId: migrationId(plan), hash: planHash(plan) },
    assessedAt: options.now,
    sampleRows: sampleN,
    tables,
    preflight: { checks, forecast, byReason, ...(abort ? { abort } : {}) },
    strict: { threshold, failing },
  };
}
