import type { Knex } from 'knex';
import { withoutValues } from './errors';
import type { LoadedPlan } from './plan-store';

/** Reads the plan's source in one read-only, repeatable-read snapshot; an error leaves without values, as `what`. */
export const readOnly = <T>(loaded: Pick<LoadedPlan, 'source'>, what: string, work: (trx: Knex.Transaction) => Promise<T>): Promise<T> =>
  loaded.source.transaction(work, { isolationLevel: 'repeatable read', readOnly: true }).catch((err) => withoutValues(what, err));
