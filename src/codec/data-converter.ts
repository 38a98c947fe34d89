import type { DataConverter } from '@temporalio/common';
import type { KeyRing } from '../crypto/key-ring';
import { EncryptionCodec } from './payload-codec';

/** The data converter every client and worker uses: encrypted payloads and failures. */
export async function createDataConverter(keys: KeyRing): Promise<DataConverter> {
  return {
    payloadCodecs: [new EncryptionCodec(await keys.get('codec'))],
    failureConverterPath: require.resolve('./failure-converter'),
  };
}
