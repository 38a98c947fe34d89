/**
 * Data residency, pure: where a plan says its data may be (`residency.region`, for the plan or an
 * entity) against where the migration would put it. Everything a migration writes outside the
 * two databases goes to the staging bucket, sealed under KMS keys, through the worker's S3 and
 * KMS clients; each of those has a region, read at `prepare` and by `cutover doctor` (the
 * bucket's location from S3, each key's from the ARN KMS gives for it, the clients' from the
 * worker's configuration). Any that differs from a region the plan requires is a violation,
 * named by the plan field that requires it and the thing that breaks it.
 */

/** Where the migration's data would go, as read from S3, KMS and the worker's configuration. */
export interface ResidencyFacts {
  /** The staging bucket and the region S3 says it is in. */
  bucket: { name: string; region: string };
  /** Each KMS key the migration seals data under: the plan field that names it, the key as named, and the region of its ARN (undefined: no ARN could be read). */
  keys: readonly { field: string; key: string; arn?: string; region?: string }[];
  /** The regions the worker's clients are configured for, and where from. */
  clients: readonly { service: 'S3' | 'KMS'; region: string; endpoint?: string }[];
}

/** Regions required: the plan's, and entities' own (an entity without one inherits the plan's). */
export interface ResidencyRequirement {
  /** The plan field that requires it: `residency.region` or `entities.<name>.residency.region`. */
  path: string;
  region: string;
}

export interface ResidencyViolation {
  path: string;
  message: string;
}

/** The region of an AWS ARN (`arn:aws:kms:eu-central-1:…`), or undefined. */
export function regionOfArn(arn: string | undefined): string | undefined {
  const parts = arn?.split(':');
  return parts && parts.length >= 6 && parts[0] === 'arn' && parts[3] ? parts[3] : undefined;
}

/** Every region the plan requires, once per field. */
export function residencyRequirements(plan: { residency?: { region: string }; entities: readonly { name: string; residency?: { region: string } }[] }): ResidencyRequirement[] {
  const out: ResidencyRequirement[] = [];
  if (plan.residency) out.push({ path: 'residency.region', region: plan.residency.region });
  for (const e of plan.entities) if (e.residency) out.push({ path: `entities.${e.name}.residency.region`, region: e.residency.region });
  return out;
}

/** What breaks each requirement: the bucket, a key, a client in another region (or a key whose region cannot be told). */
export function residencyViolations(required: readonly ResidencyRequirement[], facts: ResidencyFacts): ResidencyViolation[] {
  const out: ResidencyViolation[] = [];
  for (const r of required) {
    const says = `${r.path} is ${r.region}`;
    if (facts.bucket.region !== r.region) out.push({ path: r.path, message: `${says}, but the staging bucket ${facts.bucket.name} is in ${facts.bucket.region}` });
    for (const k of facts.keys) {
      if (k.region === undefined) out.push({ path: r.path, message: `${says}, but the region of the KMS key ${k.key} (${k.field}) cannot be told: KMS gave no ARN for it` });
      else if (k.region !== r.region) out.push({ path: r.path, message: `${says}, but the KMS key ${k.key} (${k.field}) is in ${k.region}${k.arn && k.arn !== k.key ? ` (${k.arn})` : ''}` });
    }
    for (const c of facts.clients) {
      if (c.region !== r.region) out.push({ path: r.path, message: `${says}, but the worker's ${c.service} client is configured for ${c.region}${c.endpoint ? ` (endpoint ${c.endpoint})` : ''}: AWS_REGION, or the stack's region` });
    }
  }
  return out;
}

/** The regions a migration used, for its report. */
export function regionsUsed(facts: ResidencyFacts): { bucket: string; keys: Record<string, string>; clients: Record<string, string> } {
  return {
    bucket: facts.bucket.region,
    keys: Object.fromEntries(facts.keys.map((k) => [k.field, k.region ?? 'unknown'])),
    clients: Object.fromEntries(facts.clients.map((c) => [c.service, c.region])),
  };
}
