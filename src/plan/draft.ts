/**
 * A first plan, drafted from two catalogs: which source table feeds which target table, by
 * which key, column by column, with the transforms the types call for. The user edits it: the
 * YAML says, line by line, what was guessed and what to check (`# guessed: …`, `# TODO: …`),
 * and every table or column nothing matched is named.
 *
 * Pure: catalogs in, text out. What only the data can tell (codes of a status column, whether
 * a text column holds booleans, personal data) comes from the caller's samples through
 * `distinct` and `personal`; no sampled value is written except the codes of an `enum` map,
 * which a plan holds anyway.
 *
 * The heuristics, all general (no schema is known here):
 *
 * **Tables** are paired in passes, each over the tables still unpaired, a pair taken only when
 * it is the one candidate on both sides:
 * 1. the same name;
 * 2. the same name once legacy prefixes are stripped (`legacy_`, `old_`, `src_`, `source_`,
 *    `tbl_`, `tb_`, `mdl_`, `orig_`) and plural words made singular (`legacy_courses` → `courses`);
 * 3. one name is a whole-word start or end of the other (`legacy_results` →
 *    `assessment_results`, `legacy_xapi` → `xapi_statements`);
 * 4. the target has a unique column that names the source's key as a legacy key:
 *    `legacy_<key>`, `old_<key>`, `source_<key>`, `src_<key>`, `<key>_legacy`,
 *    `<key without _id>_legacy_id` (`legacy_users(user_id)` → `people(legacy_user_id)`);
 * 5. both names are words for the same kind of row (`user`, `person`, `people`, `learner`,
 *    `member`, …; `org`, `org_unit`, `department`, …), marked as a guess;
 * 6. last, when exactly one source and one target table are left and the target has a business
 *    key, they are paired, and the draft says so.
 * A source table needs a single-column key to be read in keyset batches: its primary key, else
 * a single-column unique constraint on a NOT NULL column; without one it is skipped and noted.
 *
 * **Entities** are named after their target table. The target key is its single-column
 * primary key; the business key is a unique constraint of the target without the primary key
 * whose columns are all mapped and not personal, preferring one fed by the source key, else a
 * mapped primary key of the target's own (no default), else a TODO on the column fed by the
 * source key (the plan validates; `prepare` will ask for a unique index).
 *
 * **Columns**: every target column but generated ones and a primary key with a default:
 * - a single-column FOREIGN KEY to the target key of another entity's table is a `reference`
 *   to it, fed by the source column the source table's own foreign key to that entity's source
 *   table names, else one of the target column's name, else one named as that entity's source
 *   key, else one of the target column's stem (`parent_id` ← `parent`), else `<its table>_id` /
 *   `<its table>id` / `<its table>` (`learner_id` ← `userid`); never the source's own key, and
 *   not a column another reference of the entity took. A foreign key to another table, or to
 *   another column than its entity's target key, is not a reference (a TODO, or a plain copy);
 * - the same name; the source key for a legacy-key name (`legacy_<key>`, `legacy_id`, …);
 * - then, over the source columns still unused: the same letters without underscores
 *   (`last_ip` ← `lastip`), the same stem (suffixes `_at`, `_on`, `_epoch`, `_time`, `_ts`,
 *   `_date`, `_code`, `_name`, …, a leading `time`/`date`, the table's own prefix, and verb
 *   endings off: `org_code` → `code` in an org-unit table, `created_epoch` → `created_at`,
 *   `timecreated` → `created_on`, `timestart` → `started_at`), then
 *   synonyms (`username` ← `login`, `title` ← `name`, `given_name` ← the first word of
 *   `full_name`, `family_name` ← the rest, …). Two candidates at one level are a TODO, not a
 *   guess.
 * - A NOT NULL column without a default that nothing feeds gets a constant (the plan's name for
 *   text, the first label of an enum, `false`, `0`), marked as a guess.
 *
 * **Transforms** by the types: an integer into a timestamp is `epoch_to_timestamp` (a date:
 * `epoch_to_date`; `{ unit: ms }` for a name in milliseconds); text or an integer into a
 * boolean is `boolean` when the sampled values are boolean words; text into json/jsonb is
 * `json`; codes into an enum are an `enum` map when each sampled code is one label by
 * case-insensitive equality or prefix (`A` → `active`), otherwise a TODO; text into inet or
 * uuid is a `cast`; a nullable reference whose sampled values hold `0` (a legacy "none") gets
 * `null_if: [0]`.
 *
 * **Personal data** comes from `personal`: `pii` of its kind, `pii_paths` for a JSON document
 * (with the `json` step). Only where the target holds text or a document (a code mapped to an
 * enum label, a number, a date is no longer the person's), never on a reference, and a
 * business key is never chosen among personal columns.
 *
 * **Phases**: one, `all`, its entities parents first; a cycle of references is broken by
 * leaving one of them out, as a TODO.
 */
import { mapColumns } from './draft-columns';
import { chooseBusinessKey, dependencyOrder } from './draft-keys';
import type { Draft, DraftInput } from './draft-model';
import { nameEntities, pairTables } from './draft-tables';
import { planObject, planYaml } from './draft-yaml';
export type { Draft, DraftInput } from './draft-model';
export { singular } from './draft-names';

// ---------------------------------------------------------------- the draft

/** Drafts a plan from the source's and the target's catalogs (see the module's comment). */
export function draftPlan(input: DraftInput): Draft {
  const notes: string[] = [];
  const { pairs, unpairedSource, unpairedTarget } = pairTables(input, notes);
  const entities = nameEntities(pairs);
  const byTarget = new Map(entities.map((e) => [`${e.target.schema}.${e.target.name}`, e]));
  for (const e of entities) {
    mapColumns(e, byTarget, input, notes);
    chooseBusinessKey(e, notes);
  }
  const drafted = entities.filter((e) => {
    if (e.columns.some((c) => c.rule) && e.businessKey.length) return true;
    notes.push(`${e.source.name} → ${e.target.name}: no column could be mapped: not drafted`);
    return false;
  });
  const ordered = dependencyOrder(drafted, notes);
  for (const e of ordered) {
    for (const c of e.columns) {
      const todo = c.comment?.match(/TODO: (.*)$/)?.[1];
      if (todo && !notes.some((n) => n.startsWith(`${e.name}.${c.name}:`))) notes.push(`${e.name}.${c.name}: ${todo}`);
    }
    if (e.businessKeyComment?.startsWith('TODO') && !notes.some((n) => n.startsWith(`${e.name}:`))) notes.push(`${e.name}: ${e.businessKeyComment}`);
  }
  for (const t of unpairedSource) notes.push(`source table ${t.name}: no target table matched it: not migrated`);
  for (const t of unpairedTarget) notes.push(`target table ${t.name}: no source table matched it: nothing feeds it`);
  const plan = planObject(input, ordered);
  const yaml = planYaml(input, ordered, unpairedSource, unpairedTarget);
  return { yaml, plan, notes };
}
