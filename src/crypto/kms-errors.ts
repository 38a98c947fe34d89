import { describeError } from '../stores/errors';

/**
 * What a failed KMS call means for the object being encrypted or decrypted:
 * - `outage`: KMS did not answer, or answered that it cannot now (network errors, timeouts,
 *   throttling, HTTP 5xx): retried until it answers;
 * - `refused`: KMS answered and refused the key (access denied, key disabled or pending
 *   deletion, unknown key or credentials): an operator fixes the key or the grant, and the
 *   retry goes on; not the object's fault either;
 * - `invalid-ciphertext`: KMS says the wrapped data key or its encryption context is not one
 *   it issued (InvalidCiphertextException): the object was altered or is not this batch's.
 */
export type KmsFailureKind = 'outage' | 'refused' | 'invalid-ciphertext';

/** Node's socket and DNS errors, and undici's: the service could not be reached. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'ESOCKETTIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'ERR_SOCKET_CONNECTION_TIMEOUT',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  // A stream of the transport closed before its end (a connection cut mid-body).
  'ERR_STREAM_PREMATURE_CLOSE',
]);

/** The AWS SDK's names for "not now": timeouts, throttling and KMS's own server-side faults. */
const OUTAGE_NAMES = new Set([
  'TimeoutError',
  'RequestTimeout',
  'RequestTimeoutException',
  'ThrottlingException',
  'Throttling',
  'ThrottledException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'InternalFailure',
  'InternalError',
  'KMSInternalException',
  'DependencyTimeoutException',
  'KeyUnavailableException',
]);

// IncorrectKeyException: the wrapped key names this key but was wrapped by another.
const INVALID_CIPHERTEXT = new Set(['InvalidCiphertextException', 'IncorrectKeyException']);

interface AwsShaped {
  name?: unknown;
  code?: unknown;
  errno?: unknown;
  $fault?: unknown;
  $metadata?: { httpStatusCode?: unknown };
  $retryable?: unknown;
}

/**
 * What a KMS client's error is, from its class, code and HTTP status (never its message).
 * `undefined` for something that is not an error of a call to KMS at all.
 */
export function kmsFailureKind(err: unknown): KmsFailureKind | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as AwsShaped;
  const name = typeof e.name === 'string' ? e.name : '';
  const code = typeof e.code === 'string' ? e.code : '';
  const status = typeof e.$metadata?.httpStatusCode === 'number' ? e.$metadata.httpStatusCode : undefined;
  if (INVALID_CIPHERTEXT.has(name)) return 'invalid-ciphertext';
  if (NETWORK_CODES.has(code) || OUTAGE_NAMES.has(name) || OUTAGE_NAMES.has(code)) return 'outage';
  if (e.$retryable || e.$fault === 'server' || (status !== undefined && (status >= 500 || status === 429))) return 'outage';
  if (e.$fault === 'client' || (status !== undefined && status >= 400)) return 'refused';
  // An error from the SDK's transport before any response (it has $metadata, no status).
  if (e.$metadata !== undefined) return 'outage';
  return undefined;
}

/**
 * An error of a network or an AWS service (it has a socket code, or the SDK's `$metadata` or
 * `$fault`), as opposed to one a library raised about the bytes it was given.
 */
export function isServiceError(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const e = err as AwsShaped;
  return (typeof e.code === 'string' && NETWORK_CODES.has(e.code)) || e.$metadata !== undefined || e.$fault !== undefined;
}

/**
 * KMS could not unwrap or generate a data key because it is unreachable, overloaded or refused
 * the key: an outage, not tampering. Retried (it is not among the non-retryable types); the
 * message names the object and the KMS error's class and code only, and reads as what it is in
 * `cutover status` and the Web UI (`retrying: loadBatch …, attempt N — loadBatch: KMS
 * unreachable …`).
 */
export class KmsUnavailableError extends Error {
  readonly kind: 'outage' | 'refused';

  constructor(what: string, cause: unknown, kind: 'outage' | 'refused' = kmsFailureKind(cause) === 'refused' ? 'refused' : 'outage') {
    super(
      kind === 'outage'
        ? `KMS unreachable: ${what}: no data key (${describeError(cause)})`
        : `KMS refused the key: ${what}: no data key (${describeError(cause)}); check the key's state and the grants of the worker's credentials`,
    );
    this.name = 'KmsUnavailable';
    this.kind = kind;
  }
}

/**
 * What the errors of KMS calls made for one object say about it: an outage or a refusal (the
 * object is not at fault), altered (KMS does not recognise its wrapped key), or nothing (no
 * call failed: the failure, if any, was the object's own bytes).
 */
export function kmsVerdict(kmsErrors: readonly unknown[]): { kind: KmsFailureKind; error: unknown } | undefined {
  const kinds = kmsErrors.map((error) => ({ kind: kmsFailureKind(error) ?? 'outage', error }));
  // One key answered "not mine", another could not be reached: the unreachable one might have opened it.
  return kinds.find((k) => k.kind === 'outage') ?? kinds.find((k) => k.kind === 'refused') ?? kinds[0];
}
