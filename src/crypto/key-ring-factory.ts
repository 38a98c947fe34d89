import type { KMS } from '@aws-sdk/client-kms';
import type { Knex } from 'knex';
import type { CutoverConfig } from '../config';
import { KeyRing } from './key-ring';

/** Token, digest, vault and audit keys are wrapped by the vault alias; the codec key by its own. */
export function createKeyRing(config: CutoverConfig, control: Knex, kms: KMS): KeyRing {
  const { vault, codec } = config.kms.aliases;
  return new KeyRing(control, kms, { token: vault, digest: vault, vault, codec, audit: vault });
}
