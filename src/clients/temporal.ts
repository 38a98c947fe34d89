import { Client, Connection } from '@temporalio/client';
import type { Duration } from '@temporalio/common';
import { createDataConverter } from '../codec/data-converter';
import type { CutoverConfig } from '../config';
import { createKeyRing } from '../crypto/key-ring-factory';
import { createKmsClient } from './aws';
import { createDb } from './postgres';

export class TemporalUnreachableError extends Error {
  constructor(address: string, namespace: string, cause: unknown) {
    super(`cannot reach Temporal at ${address} (namespace ${namespace}): ${((cause as Error)?.message ?? String(cause)).split('\n')[0]} — is it running? (\`cutover doctor\` checks)`);
    this.name = 'TemporalUnreachableError';
  }
}

/**
 * A client connection from the resolved configuration (address, TLS, API key), with the same
 * encrypting data converter as the workers: it needs the control database and KMS to unwrap
 * the codec key.
 */
export async function connectClient(config: CutoverConfig, connectTimeout: Duration = '10s', options: { codec?: boolean } = {}): Promise<{ client: Client; connection: Connection }> {
  const { address, tls, apiKey, metadata } = config.temporal.connection;
  let dataConverter;
  // Without the codec (`codec: false`): what Temporal keeps in clear only (search attributes,
  // activity names and attempts), for a view while KMS cannot be reached; payloads stay sealed.
  if (options.codec !== false) {
    if (!config.databases.controlUrl) throw new Error('no control database (for the codec key): set CUTOVER_CONTROL_URL or run `cutover stack up`');
    const control = createDb(config.databases.controlUrl, { max: 1, applicationName: 'cutover-client' });
    const kms = createKmsClient(config.kms);
    try {
      dataConverter = await createDataConverter(createKeyRing(config, control, kms));
    } finally {
      kms.destroy();
      await control.destroy();
    }
  }
  let connection: Connection;
  try {
    connection = await Connection.connect({ address, tls, apiKey, metadata, connectTimeout });
  } catch (err) {
    throw new TemporalUnreachableError(address ?? 'localhost:7233', config.temporal.namespace, err);
  }
  return { connection, client: new Client({ connection, namespace: config.temporal.namespace, dataConverter }) };
}
