import { buildBinary } from './src/stack/binaries';
import { BINARIES, TOOLS } from './src/stack/services';
(async () => {
  const env = { ...process.env, CUTOVER_CACHE_DIR: '/tmp/fresh-cache' };
  const t0 = Date.now();
  const results = await Promise.allSettled([BINARIES.kms, BINARIES.temporal, BINARIES.minio, TOOLS.compose].map(async (s) => {
    const t = Date.now(); const p = await buildBinary(s, env, (l) => console.log(l)); console.log(`${s.name}: ${p} in ${((Date.now()-t)/1000).toFixed(0)}s`);
  }));
  for (const r of results) if (r.status === 'rejected') console.log('FAILED', r.reason.message);
  console.log(`all: ${((Date.now()-t0)/1000).toFixed(0)}s`);
})();
