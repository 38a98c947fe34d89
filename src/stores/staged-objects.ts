import { ApplicationFailure } from '@temporalio/activity';
import { IntegrityError } from '../core/envelope';

/** An IntegrityError becomes a non-retryable failure; anything else passes through. */
export function integrityFailure(err: unknown): never {
  if (err instanceof IntegrityError) throw ApplicationFailure.create({ message: err.message, type: 'IntegrityError', nonRetryable: true });
  throw err;
}
