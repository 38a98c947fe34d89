import { Client, Connection } from '@temporalio/client';
import type { Duration } from '@temporalio/common';
import { createDataConverter } from '../codec/data-converter';
import type { CutoverConfig } from '../config';
import { createKeyRing } from '../crypto/key-ring-factory';
import { createKmsClient } from './aws';
import { createDb } from './postgres';

/**
 * A client connection from the resolved configuration (address, TLS, API key), with the same
 * encrypting data converter as the workers: it needs the control database and KMS to unwrap
 * the codec key.
 */
export async function connectClient(config: CutoverConfig, connectTimeout: Duration = '10s'): Promise<{ client: Client; connection: Connection }> {
  const { address, tls, apiKey, metadata } = config.temporal.connection;
  if (!config.databases.controlUrl) throw new Error('no control database (for the codec key): set CUTOVER_CONTROL_URL or run `cutover stack up`');
  const control = createDb(config.databases.controlUrl, { max: 1, applicationName: 'cutover-client' });
  const kms = createKmsClient(config.kms);
  let dataConverter;
  try {
    dataConverter = await createDataConverter(createKeyRing(config, control, kms));
  } finally {
    kms.destroy();
    await control.destroy();
  }
  const connection = await Connection.connect({ address, tls, apiKey, metadata, connectTimeout });
  return { connection, client: new Client({ connection, namespace: config.temporal.namespace, dataConverter }) };
}
