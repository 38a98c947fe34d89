import type { Knex } from 'knex';

/**
 * A PostgreSQL schema's tables as its catalog describes them: columns with their types,
 * keys, unique constraints and indexes, foreign keys, CHECK constraints and size. Read from
 * the system catalogs (`pg_class`, `pg_attribute`, `pg_constraint`, `pg_index`, `pg_enum`),
 * not `information_schema`: it hides what the current role does not own (a read-only role
 * would see no constraints) and has no enum labels, index predicates or sizes.
 *
 * Names only, never a row: safe through the source's read-only role, inside its read-only
 * transaction.
 */

export interface CatalogColumn {
  name: string;
  /** `format_type(atttypid, atttypmod)`: `character varying(64)`, `numeric(10,2)`, `person_status`. */
  type: string;
  notNull: boolean;
  /** a default, identity or generated column: an INSERT that omits it still gets a value */
  hasDefault: boolean;
  /** A generated (computed) column: an INSERT cannot give it a value. */
  generated: boolean;
  /** labels of an enum type, in order */
  enumLabels?: string[];
}

export interface CatalogCheck {
  name: string;
  /** pg_get_constraintdef, e.g. 'CHECK ((score >= 0))' */
  definition: string;
  /** the boolean expression alone, e.g. '(score >= 0)' */
  expression: string;
  columns: string[];
}

export interface CatalogForeignKey {
  name: string;
  columns: string[];
  refSchema: string;
  refTable: string;
  refColumns: string[];
}

export interface CatalogTable {
  schema: string;
  name: string;
  /** In table order (`attnum`). */
  columns: CatalogColumn[];
  /** The primary key's columns in key order; empty without one. */
  primaryKey: string[];
  /** unique constraints and unique indexes without predicate or expressions, PK excluded */
  uniques: { name: string; columns: string[] }[];
  foreignKeys: CatalogForeignKey[];
  /** CHECK constraints only, not NOT NULL */
  checks: CatalogCheck[];
  /** pg_class.reltuples, or 0 when never analyzed (-1); a partitioned table's: the sum of its partitions' */
  estimatedRows: number;
  /** pg_total_relation_size; a partitioned table's: the sum of its partitions' */
  totalBytes: number;
}

/** One row of CATALOG_SQL: a table with its parts as JSON. */
interface CatalogRow {
  schema: string;
  name: string;
  estimated_rows: number | string;
  total_bytes: number | string;
  columns: { name: string; type: string; notNull: boolean; hasDefault: boolean; generated: boolean; enumLabels: string[] | null }[];
  constraints: { name: string; kind: 'p' | 'u' | 'f' | 'c'; definition: string; expression: string | null; columns: string[] | null; refSchema: string | null; refTable: string | null; refColumns: string[] | null }[];
  unique_indexes: { name: string; columns: string[] }[];
}

/**
 * Every table of the schema with its parts, in one round trip. Column lists keep key order
 * (`with ordinality` over `conkey` / `indkey`), not table order: a unique (b, a) is (b, a).
 * A unique index that backs a constraint of the table (unique, primary key, exclusion) is
 * the constraint already; one with a predicate or expressions cannot be an upsert's key.
 * `__FILTER__` is the table filter, with placeholders only.
 */
const CATALOG_SQL = `
select n.nspname::text as schema, c.relname::text as name,
  case when c.relkind = 'p' then coalesce(parts.rows, 0) else greatest(c.reltuples, 0) end::float8 as estimated_rows,
  case when c.relkind = 'p' then coalesce(parts.bytes, 0) else pg_total_relation_size(c.oid) end::int8 as total_bytes,
  (select coalesce(json_agg(json_build_object(
      'name', a.attname::text,
      'type', format_type(a.atttypid, a.atttypmod),
      'notNull', a.attnotnull,
      'hasDefault', a.atthasdef or a.attidentity <> '' or a.attgenerated <> '',
      'generated', a.attgenerated <> '',
      'enumLabels', (select array_agg(e.enumlabel::text order by e.enumsortorder) from pg_enum e
                     where e.enumtypid = case when t.typtype = 'd' then t.typbasetype else t.oid end)
    ) order by a.attnum), '[]'::json)
   from pg_attribute a join pg_type t on t.oid = a.atttypid
   where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped) as columns,
  (select coalesce(json_agg(json_build_object(
      'name', con.conname::text,
      'kind', con.contype,
      'definition', pg_get_constraintdef(con.oid),
      'expression', case when con.contype = 'c' then pg_get_expr(con.conbin, con.conrelid) end,
      'columns', (select array_agg(a.attname::text order by k.ord) from unnest(con.conkey) with ordinality k(attnum, ord)
                  join pg_attribute a on a.attrelid = con.conrelid and a.attnum = k.attnum),
      'refSchema', (select rn.nspname::text from pg_class rc join pg_namespace rn on rn.oid = rc.relnamespace where rc.oid = con.confrelid),
      'refTable', (select rc.relname::text from pg_class rc where rc.oid = con.confrelid),
      'refColumns', (select array_agg(a.attname::text order by k.ord) from unnest(con.confkey) with ordinality k(attnum, ord)
                     join pg_attribute a on a.attrelid = con.confrelid and a.attnum = k.attnum)
    ) order by con.conname::text collate "C"), '[]'::json)
   from pg_constraint con
   where con.conrelid = c.oid and con.contype in ('p', 'u', 'f', 'c')) as constraints,
  (select coalesce(json_agg(json_build_object(
      'name', ic.relname::text,
      'columns', (select array_agg(a.attname::text order by k.ord) from unnest(i.indkey) with ordinality k(attnum, ord)
                  join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum where k.ord <= i.indnkeyatts)
    ) order by ic.relname::text collate "C"), '[]'::json)
   from pg_index i join pg_class ic on ic.oid = i.indexrelid
   where i.indrelid = c.oid and i.indisunique and not i.indisprimary and i.indpred is null and i.indexprs is null
     and not exists (select 1 from pg_constraint x where x.conindid = i.indexrelid and x.conrelid = c.oid and x.contype in ('p', 'u', 'x'))) as unique_indexes
from pg_class c
join pg_namespace n on n.oid = c.relnamespace
left join lateral (
  select sum(greatest(pc.reltuples, 0)) as rows, sum(pg_total_relation_size(pc.oid)) as bytes
  from pg_partition_tree(c.oid) pt join pg_class pc on pc.oid = pt.relid
  where c.relkind = 'p' and pt.isleaf
) parts on true
where n.nspname = ? and c.relkind in ('r', 'p') and __FILTER__
order by c.relname::text collate "C"`;

/**
 * Tables (relkind r and p) of the schema, all or the named ones, in name order; views are
 * skipped. Listing them all leaves out partitions (their rows are their parent's); a
 * partition named in `tables` is read. A named table that is not there is simply absent.
 */
export async function readCatalog(db: Knex, schema: string, tables?: readonly string[]): Promise<CatalogTable[]> {
  if (tables && tables.length === 0) return [];
  const filter = tables ? `c.relname::text in (${tables.map(() => '?').join(', ')})` : 'not c.relispartition';
  const { rows } = (await db.raw(CATALOG_SQL.replace('__FILTER__', filter), [schema, ...(tables ?? [])])) as { rows: CatalogRow[] };
  return rows.map(toTable);
}

function toTable(r: CatalogRow): CatalogTable {
  const constraints = r.constraints;
  const primaryKey = constraints.find((c) => c.kind === 'p')?.columns ?? [];
  return {
    schema: r.schema,
    name: r.name,
    columns: r.columns.map((c) => ({
      name: c.name,
      type: c.type,
      notNull: c.notNull,
      hasDefault: c.hasDefault,
      generated: c.generated,
      ...(c.enumLabels ? { enumLabels: c.enumLabels } : {}),
    })),
    primaryKey,
    uniques: [
      ...constraints.filter((c) => c.kind === 'u').map((c) => ({ name: c.name, columns: c.columns ?? [] })),
      ...r.unique_indexes.map((i) => ({ name: i.name, columns: i.columns })),
    ],
    foreignKeys: constraints
      .filter((c) => c.kind === 'f')
      .map((c) => ({ name: c.name, columns: c.columns ?? [], refSchema: c.refSchema ?? '', refTable: c.refTable ?? '', refColumns: c.refColumns ?? [] })),
    checks: constraints.filter((c) => c.kind === 'c').map((c) => ({ name: c.name, definition: c.definition, expression: c.expression ?? '', columns: c.columns ?? [] })),
    estimatedRows: Number(r.estimated_rows),
    totalBytes: Number(r.total_bytes),
  };
}
