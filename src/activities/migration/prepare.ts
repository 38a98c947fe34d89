import { HeadBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { ApplicationFailure } from '@temporalio/activity';
import type { Knex } from 'knex';
import { ensureLedgerSchema } from '../../control/ledger-schema';
import { openLoadFence } from '../../control/load-fence';
import { writeCapabilities } from '../../doctor/read-only';
import { readSourceRole } from '../../doctor/source-role';
import { detokenizedColumns, sameDatabase } from '../../plan/rehearsal';
import { sourceLabel, type EntitySpec, type Plan } from '../../plan/types';
import { columnsSql, countSql, keysSql } from '../../plan/source-sql';
import type { MigrationInput, PreparedMigration, ResidencyRecord } from '../../shared/migration';
import { regionsUsed, residencyRequirements, residencyViolations } from '../../core/residency';
import type { Stores } from '../../stores/stores';

async function columnsOf(db: Knex, schema: string, table: string): Promise<Set<string> | undefined> {
  const rows = await db('information_schema.columns').select('column_name').where({ table_schema: schema, table_name: table });
  return rows.length ? new Set(rows.map((r) => r.column_name as string)) : undefined;
}

/** True when some unique index covers exactly the business key (ON CONFLICT needs one). */
async function hasUniqueKey(db: Knex, schema: string, table: string, columns: string[]): Promise<boolean> {
  const rows = await db.raw(
    `select array_agg(a.attname::text order by a.attname) as cols
     from pg_index i join pg_class c on c.oid = i.indrelid join pg_namespace n on n.oid = c.relnamespace
     join pg_attribute a on a.attrelid = c.oid and a.attnum = any(i.indkey)
     where n.nspname = ? and c.relname = ? and i.indisunique and i.indpred is null
     group by i.indexrelid`,
    [schema, table],
  );
  const want = [...columns].sort().join(',');
  return rows.rows.some((r: { cols: string[] }) => [...r.cols].sort().join(',') === want);
}

/** The columns of an entity's source relation (a table, or the plan's query run for no rows); a query that fails is a problem named by its SQLSTATE. */
async function sourceColumnsOf(db: Knex, e: EntitySpec): Promise<Set<string> | string> {
  if (e.source.table !== undefined) return (await columnsOf(db, e.source.schema, e.source.table)) ?? `${e.source.schema}.${e.source.table} does not exist in the source (or the role cannot see it)`;
  const q = columnsSql(e);
  return db
    .transaction(async (trx) => (await trx.raw(q.sql, q.bindings as never)) as { fields: { name: string }[] }, { readOnly: true })
    .then(
      (r) => {
        // pg keeps only the last of two result columns with one name: the first would be read as the second.
        const names = r.fields.map((f) => f.name);
        const twice = [...new Set(names.filter((n, i) => names.indexOf(n) !== i))];
        return twice.length ? `the source query returns ${twice.map((n) => `"${n}"`).join(', ')} more than once: give each its own alias` : new Set(names);
      },
      (err: { code?: string }) => `the source query does not run (SQLSTATE ${err.code ?? 'unknown'}${err.code === '42501' ? ': permission denied' : ''})`,
    );
}

/** Each skip filter runs on the source relation: one that does not is named (its rows never are). */
async function checkSkips(db: Knex, e: EntitySpec, at: string): Promise<string[]> {
  const problems: string[] = [];
  for (const filter of e.source.skip ?? []) {
    const q = keysSql({ ...e, source: { ...e.source, skip: [filter] } }, null, 1);
    await db.transaction(async (trx) => trx.raw(q.sql, q.bindings as never), { readOnly: true }).catch((err: { code?: string }) => {
      problems.push(`${at}.source.skip.${filter.name}: does not run on ${sourceLabel(e)} (SQLSTATE ${err.code ?? 'unknown'})`);
    });
  }
  return problems;
}

async function checkEntity(e: EntitySpec, source: Knex, target: Knex, s3: S3Client): Promise<string[]> {
  const problems: string[] = [];
  const at = `entities.${e.name}`;
  const src = await sourceColumnsOf(source, e);
  if (typeof src === 'string') problems.push(`${at}.source.${e.source.table !== undefined ? 'table' : 'query'}: ${src}`);
  else {
    for (const col of [e.source.key, ...e.columns.flatMap((c) => c.from)]) {
      if (!src.has(col)) problems.push(`${at}: source column ${col} does not exist in ${sourceLabel(e)}`);
    }
    if (src.has(e.source.key)) problems.push(...(await checkSkips(source, e, at)));
  }
  const tgt = await columnsOf(target, e.target.schema, e.target.table);
  if (!tgt) problems.push(`${at}.target.table: ${e.target.schema}.${e.target.table} does not exist in the target`);
  else {
    for (const c of e.columns) if (!tgt.has(c.name)) problems.push(`${at}.columns.${c.name}: target column ${e.target.table}.${c.name} does not exist`);
    if (!(await hasUniqueKey(target, e.target.schema, e.target.table, e.target.businessKey))) {
      problems.push(`${at}.target.business_key: ${e.target.table} has no unique index on (${e.target.businessKey.join(', ')}); loads upsert on it`);
    }
  }
  for (const c of e.columns.filter((x) => x.file)) {
    for (const bucket of [c.file!.sourceBucket, c.file!.targetBucket]) {
      const found = await s3.send(new HeadBucketCommand({ Bucket: bucket })).then(
        () => true,
        () => false,
      );
      if (!found) problems.push(`${at}.columns.${c.name}.file: bucket ${bucket} does not exist (or is not reachable with the worker's credentials)`);
    }
  }
  return problems;
}

/**
 * A rehearsal loads only into a sandbox of its own, with nothing detokenized: checked here too,
 * where the worker resolves the connections (its environment may differ from the CLI's that
 * started it). A worker that does not know the real target's variable has nothing to compare.
 */
function checkRehearsal(stores: Pick<Stores, 'plans'>, plan: Plan): void {
  const r = plan.rehearsal;
  if (!r) return;
  const refuse = (why: string) => ApplicationFailure.nonRetryable(`rehearsal: ${why}; nothing loaded`, 'RehearsalTarget');
  const clear = detokenizedColumns(plan);
  if (clear.length) throw refuse(`the plan would detokenize ${clear.join(', ')} into the sandbox`);
  let real: string;
  try {
    real = stores.plans.connectionUrl(r.realTargetEnv, 'target');
  } catch {
    return;
  }
  const same = sameDatabase(stores.plans.connectionUrl(plan.target.urlEnv, 'target'), real);
  if (same !== false) throw refuse(`in the worker's environment ${plan.target.urlEnv} names ${same ? 'the same database as' : 'a database that cannot be told apart from'} the real target ${r.realTargetEnv}`);
}

/**
 * A plan with `residency` (for itself or an entity): the staging bucket, every KMS key its data is
 * sealed under and the worker's S3 and KMS clients must be in the region; otherwise refused before
 * anything is read or staged, each violation named by the field that requires the region.
 */
async function checkResidency(stores: Pick<Stores, 'residency'>, plan: Plan): Promise<ResidencyRecord | undefined> {
  const required = residencyRequirements(plan);
  if (!required.length) return undefined;
  const facts = await stores.residency.facts(plan);
  const violations = residencyViolations(required, facts);
  if (violations.length) throw ApplicationFailure.nonRetryable(`residency: ${violations.map((v) => v.message).join('; ')}`, 'ResidencyViolation', violations);
  return { required, used: regionsUsed(facts) };
}

export function createPrepareActivities(stores: Pick<Stores, 'plans' | 'keys' | 's3' | 'residency'>) {
  return {
    /**
     * Registers the plan, refuses a source role that can write, checks every table and column
     * the plan names, creates the ledger schema, opens the load fence to this run, and counts
     * source rows. Idempotent.
     */
    async prepareMigration(input: MigrationInput & { runId?: string }): Promise<PreparedMigration> {
      await stores.plans.register(input);
      const loaded = await stores.plans.plan(input.migrationId);
      if (loaded.planHash !== input.planHash) throw ApplicationFailure.nonRetryable(`migration ${input.migrationId} is registered with another plan hash`, 'PlanMismatch');
      checkRehearsal(stores, loaded.plan);
      const residency = await checkResidency(stores, loaded.plan);

      const role = await readSourceRole(loaded.source);
      const canWrite = writeCapabilities(role);
      if (canWrite.length) {
        throw ApplicationFailure.nonRetryable(`refusing the source connection: role ${role.role} ${canWrite.join('; ')}; use a read-only role`, 'SourceWritable');
      }
      const problems = (await Promise.all(input.plan.entities.map((e) => checkEntity(e, loaded.source, loaded.target, stores.s3)))).flat();
      if (problems.length) throw ApplicationFailure.nonRetryable(`the plan does not match the databases:\n${problems.join('\n')}`, 'PlanMismatch', problems);

      await ensureLedgerSchema(loaded.target, input.plan.target.ledgerSchema);
      // This run loads from now on; an older run's loads still in flight finish first, later ones are refused.
      if (input.runId) await openLoadFence(loaded.target, input.plan.target.ledgerSchema, input.migrationId, input.runId);
      // The migration's own key is generated here (under the plan's staging key), so a KMS key that is refused,
      // or a migration whose keys were shredded (MigrationKeysShredded, not retried), stops it before it reads a row.
      await Promise.all([stores.keys.get('token'), stores.keys.get('digest'), loaded.vaultKey(), loaded.sealing()]);
      const entities = [];
      for (const e of input.plan.entities) {
        const q = countSql(e);
        const count = await loaded.source.raw(q.sql, q.bindings as never);
        entities.push({ name: e.name, sourceRows: Number(count.rows[0].n) });
      }
      return { entities, ...(residency ? { residency } : {}) };
    },
  };
}
