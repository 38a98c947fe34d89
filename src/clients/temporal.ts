import { Client, Connection } from '@temporalio/client';
import type { Duration } from '@temporalio/common';
import type { CutoverConfig } from '../config';

/** A client connection from the resolved configuration (address, TLS, API key). */
export async function connectClient(config: CutoverConfig, connectTimeout: Duration = '10s'): Promise<{ client: Client; connection: Connection }> {
  const { address, tls, apiKey, metadata } = config.temporal.connection;
  const connection = await Connection.connect({ address, tls, apiKey, metadata, connectTimeout });
  return { connection, client: new Client({ connection, namespace: config.temporal.namespace }) };
}
