import type { Knex } from 'knex';
import { ConfigError, CutoverConfig } from '../config';
import { KeyRing } from '../crypto/key-ring';
import { createKeyRing } from '../crypto/key-ring-factory';
import { createKmsClient } from './aws';
import { createDb } from './postgres';

/**
 * Runs `fn` with a connection to the control database and, on first use of `keys()`, its key
 * ring (a KMS client); closes both after. For CLI commands that read or append control data.
 */
export async function withControl<T>(config: CutoverConfig, fn: (control: Knex, keys: () => KeyRing) => Promise<T>, applicationName = 'cutover-cli'): Promise<T> {
  if (!config.databases.controlUrl) throw new ConfigError('no control database: set CUTOVER_CONTROL_URL or run `cutover stack up`');
  const control = createDb(config.databases.controlUrl, { max: 2, applicationName });
  let kms: ReturnType<typeof createKmsClient> | undefined;
  let ring: KeyRing | undefined;
  const keys = () => {
    kms ??= createKmsClient(config.kms);
    ring ??= createKeyRing(config, control, kms);
    return ring;
  };
  try {
    return await fn(control, keys);
  } finally {
    kms?.destroy();
    await control.destroy();
  }
}
