// The kinds of personal data the assessment finds, what one finding says, and which kinds a
// column's PostgreSQL type can hold at all.

export const SENSITIVE_KINDS = ['email', 'phone', 'person_name', 'person_identifier', 'ip_address', 'date_of_birth', 'national_id', 'free_text', 'json_personal'] as const;
export type SensitiveKind = (typeof SENSITIVE_KINDS)[number];

export interface PiiFinding {
  kind: SensitiveKind;
  /** How it was found: the column's name, or the content of sampled values. */
  method: 'name' | 'content';
  /** 0..1 */
  confidence: number;
  /** For content: sampled non-empty values that matched, and how many were sampled. */
  matched?: number;
  sampled?: number;
  /** free_text: the kinds found inside the text (emails, phones, ...). json_personal: the personal paths, dotted ('actor.mbox'), each with its kind. */
  inside?: SensitiveKind[];
  paths?: { path: string; kind: SensitiveKind }[];
}

export interface ColumnSample {
  /**
   * The source table's name (for a plan's query, its entity's name): its last word says
   * whether its rows are people (`mdl_user`, `legacy_users`, `learners`), which an `idnumber`
   * needs to be a person's, and which makes a login surer.
   */
  table?: string;
  /** Source column name. */
  column: string;
  /** PostgreSQL format_type(), e.g. 'character varying(200)', 'text', 'jsonb', 'date', 'inet', 'bigint'. */
  type: string;
  /** Sampled NON-NULL values as node-postgres returns them (strings, numbers, Date, objects for json). */
  values: unknown[];
}

// ---------------------------------------------------------------------------------------------
// Column types

/**
 * What a PostgreSQL type can hold, as far as personal data goes. Unknown types (enums,
 * domains, `xml`) count as text: their values arrive as strings and a domain over text is
 * where an `email_address` type would hide.
 */
export type TypeClass = 'text' | 'json' | 'inet' | 'date' | 'number' | 'none';

export function typeClassOf(formatType: string): TypeClass {
  const t = formatType
    .trim()
    .toLowerCase()
    .replace(/\[\]$/, '')
    .replace(/\s*\([^)]*\)/g, '')
    .trim();
  if (/^(text|character varying|varchar|character|char|bpchar|"char"|citext|name)$/.test(t)) return 'text';
  if (t === 'json' || t === 'jsonb') return 'json';
  if (t === 'inet' || t === 'cidr') return 'inet';
  if (t === 'date' || t.startsWith('timestamp')) return 'date';
  if (/^(smallint|integer|int|int2|int4|int8|bigint|numeric|decimal|real|double precision|float4|float8|oid|smallserial|serial|bigserial)$/.test(t)) return 'number';
  if (/^(boolean|bool|bytea|uuid|interval|money|macaddr|macaddr8|tsvector|tsquery|point|line|box|polygon|circle)$/.test(t) || t.startsWith('time') || t.startsWith('bit')) return 'none';
  return 'text';
}

/** Kinds a column of this type can hold at all: a name is believed only for these. */
export const KINDS_BY_TYPE: Record<TypeClass, ReadonlySet<SensitiveKind>> = {
  text: new Set(SENSITIVE_KINDS),
  json: new Set(SENSITIVE_KINDS),
  inet: new Set(['ip_address']),
  // Phone numbers, national ids, IPv4 addresses and a person's institution number are stored as numbers in some schemas; a birth date as an epoch.
  number: new Set(['phone', 'ip_address', 'date_of_birth', 'national_id', 'person_identifier']),
  date: new Set(['date_of_birth']),
  none: new Set(),
};

export const TEXT_LIKE: ReadonlySet<TypeClass> = new Set(['text', 'json']);
