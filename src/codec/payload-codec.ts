import type { Payload, PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { open, seal } from '../core/envelope';

const ENCODING = 'binary/encrypted';
const KEY_ID = 'cutover-codec-v1';

const text = (s: string) => new TextEncoder().encode(s);
const str = (b: Uint8Array | null | undefined) => (b ? new TextDecoder().decode(b) : '');

/**
 * Encrypts every payload Temporal stores (inputs, results, heartbeats, failure details) with
 * AES-256-GCM under the codec key, a KMS-wrapped data key. History then holds ciphertext only;
 * the codec server (for the Web UI) and the CLI decode it for people allowed to see it.
 */
export class EncryptionCodec implements PayloadCodec {
  constructor(private readonly key: Uint8Array) {}

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => ({
      metadata: { encoding: text(ENCODING), 'encryption-key-id': text(KEY_ID) },
      data: seal(Buffer.from(temporal.api.common.v1.Payload.encode(p).finish()), this.key, KEY_ID),
    }));
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => {
      if (str(p.metadata?.encoding) !== ENCODING) return p;
      const keyId = str(p.metadata?.['encryption-key-id']);
      if (keyId !== KEY_ID) throw new Error(`payload encrypted with unknown key ${keyId}`);
      return temporal.api.common.v1.Payload.decode(open(Buffer.from(p.data ?? []), this.key, keyId, 'payload'));
    });
  }
}
