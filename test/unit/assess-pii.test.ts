import { discoverColumn, planKindOf, SENSITIVE_KINDS, type ColumnSample, type PiiFinding, type SensitiveKind } from '../../src/assess/pii-detect';

const find = (column: string, type: string, values: unknown[]): PiiFinding[] => discoverColumn({ column, type, values });
const kinds = (fs: PiiFinding[]) => fs.map((f) => f.kind);
const only = (fs: PiiFinding[], kind: SensitiveKind) => fs.find((f) => f.kind === kind);

/** n distinct values from a template, for shares and sample sizes. */
const many = (n: number, f: (i: number) => string) => Array.from({ length: n }, (_, i) => f(i));

const xapi = (i: number) => ({
  actor: { objectType: 'Agent', mbox: `mailto:learner${i}@example.org`, name: `Ada${String.fromCharCode(97 + (i % 26))} Lovelace` },
  verb: { id: 'http://adlnet.gov/expapi/verbs/completed', display: { 'en-US': 'completed' } },
  object: { id: `http://lms.example.com/activities/${i}`, definition: { name: { 'en-US': 'Module Three Quiz' } } },
  context: { contextActivities: { parent: [{ id: 'http://lms.example.com/course/1' }, { id: 'http://lms.example.com/course/2' }] } },
  timestamp: '2024-01-02T03:04:05.000Z',
});

describe('personal data by column name', () => {
  it.each([
    ['email', 'email'],
    ['e_mail', 'email'],
    ['userEmail', 'email'],
    ['useremail', 'email'],
    ['mbox', 'email'],
    ['phone', 'phone'],
    ['phone1', 'phone'],
    ['phone2', 'phone'],
    ['mobile', 'phone'],
    ['telephone', 'phone'],
    ['home_tel', 'phone'],
    ['fax', 'phone'],
    ['msisdn', 'phone'],
    ['first_name', 'person_name'],
    ['firstName', 'person_name'],
    ['firstname', 'person_name'],
    ['given_name', 'person_name'],
    ['lastname', 'person_name'],
    ['surname', 'person_name'],
    ['family_name', 'person_name'],
    ['full_name', 'person_name'],
    ['middlename', 'person_name'],
    ['alternatename', 'person_name'],
    ['display_name', 'person_name'],
    ['lastnamephonetic', 'person_name'],
    ['ip', 'ip_address'],
    ['ip_address', 'ip_address'],
    ['lastip', 'ip_address'],
    ['last_ip', 'ip_address'],
    ['lastIP', 'ip_address'],
    ['remote_addr', 'ip_address'],
    ['client_ip', 'ip_address'],
    ['dob', 'date_of_birth'],
    ['birth_date', 'date_of_birth'],
    ['birthdate', 'date_of_birth'],
    ['date_of_birth', 'date_of_birth'],
    ['birthday', 'date_of_birth'],
    ['ssn', 'national_id'],
    ['national_id', 'national_id'],
    ['nin', 'national_id'],
    ['passport', 'national_id'],
    ['tax_id', 'national_id'],
    ['social_security', 'national_id'],
    ['personnummer', 'national_id'],
    ['notes', 'free_text'],
    ['note', 'free_text'],
    ['comments', 'free_text'],
    ['description', 'free_text'],
    ['bio', 'free_text'],
    ['about', 'free_text'],
    ['message', 'free_text'],
    ['body', 'free_text'],
    ['feedback', 'free_text'],
    ['remarks', 'free_text'],
  ])('%s is %s by its name', (column, kind) => {
    const fs = find(column, 'character varying(255)', []);
    expect(fs).toHaveLength(1);
    expect(fs[0]).toMatchObject({ kind, method: 'name' });
    expect(fs[0]!.confidence).toBeGreaterThanOrEqual(0.35);
    expect(fs[0]!.confidence).toBeLessThanOrEqual(0.8);
  });

  it('rates weak names lower: a description below a notes column', () => {
    expect(find('description', 'text', [])[0]!.confidence).toBeLessThan(0.5);
    expect(find('notes', 'text', [])[0]!.confidence).toBeGreaterThanOrEqual(0.6);
  });

  it.each(['name', 'Name', 'username', 'course_name', 'org_name', 'shortname', 'hotel', 'zip', 'phonetic', 'id', 'timecreated'])(
    'a %s column is nothing personal by its name alone',
    (column) => {
      expect(find(column, 'character varying(255)', [])).toEqual([]);
    },
  );

  it.each([
    ['email_verified', 'boolean'],
    ['emailstop', 'smallint'],
    ['mailformat', 'smallint'],
    ['maildisplay', 'smallint'],
    ['phone_count', 'integer'],
    ['email', 'bigint'],
    ['notes', 'integer'],
    ['firstname', 'uuid'],
    ['created', 'timestamp with time zone'],
  ])('%s (%s) is not personal: the type cannot hold it or the name qualifies it', (column, type) => {
    expect(find(column, type, [])).toEqual([]);
  });

  it('keeps names its type can hold: an IP in inet, a birth date in date, a phone stored as a number', () => {
    expect(kinds(find('lastip', 'inet', []))).toEqual(['ip_address']);
    expect(kinds(find('birthdate', 'date', []))).toEqual(['date_of_birth']);
    expect(kinds(find('phone', 'bigint', []))).toEqual(['phone']);
  });
});

describe('personal data by content', () => {
  it('finds whole-value emails, mailto: included, and reports matched and sampled non-empty values', () => {
    const values = ['ada@example.org', 'mailto:grace@navy.example.mil', 'Bob.Smith+lms@mail.example.co.uk', 'not an address', ''];
    const f = only(find('contact', 'text', values), 'email')!;
    expect(f).toMatchObject({ kind: 'email', method: 'content', matched: 3, sampled: 4 });
    expect(f.confidence).toBeGreaterThanOrEqual(0.5);
  });

  it('needs a share of 0.3 of the sampled values for a whole-value kind', () => {
    const some = (k: number) => [...many(k, (i) => `person${i}@example.org`), ...many(10 - k, (i) => `plain value ${i}`)];
    expect(only(find('contact', 'text', some(2)), 'email')).toBeUndefined();
    expect(only(find('contact', 'text', some(3)), 'email')).toMatchObject({ matched: 3, sampled: 10 });
  });

  it('grows confidence with the share and the size of the sample', () => {
    const conf = (k: number, n: number) => only(find('contact', 'text', [...many(k, (i) => `p${i}@example.org`), ...many(n - k, (i) => `v${i}`)]), 'email')!.confidence;
    expect(conf(5, 10)).toBeGreaterThan(conf(3, 10));
    expect(conf(10, 10)).toBeGreaterThan(conf(5, 10));
    expect(conf(400, 400)).toBeGreaterThan(conf(4, 4));
    expect(conf(400, 400)).toBeLessThanOrEqual(0.99);
  });

  it('finds phone numbers in international and national formats', () => {
    const values = ['+44 20 7946 0958', '(555) 123-4567', '555.123.4567', '07700900123', '+14155552671', '020-7946-0958', '+44 (0)20 7946 0958'];
    expect(only(find('contact', 'character varying(40)', values), 'phone')).toMatchObject({ method: 'content', matched: 7, sampled: 7 });
  });

  it('does not take epochs, ids, dates, decimals, versions or IPs for phones', () => {
    const values = ['1700000000', '1700000123456', '12345678', '987654321', '2024-01-02', '02/01/2024', '123456.78', '1.234.567', '2019-2020', '192.168.100.200', '-12345678', '0000123456'];
    expect(only(find('legacy_ref', 'text', values), 'phone')).toBeUndefined();
  });

  it('does not take integer columns for phones, even with a leading-zero-free national number', () => {
    expect(find('timecreated', 'bigint', [1700000000, 1700000123, 1700000456])).toEqual([]);
    expect(find('id', 'integer', many(20, (i) => String(123456789 + i)))).toEqual([]);
  });

  it('finds IP addresses, v4 and v6, and inet values with a prefix', () => {
    expect(only(find('source', 'text', ['10.0.0.1', '2001:db8::1', '192.0.2.44']), 'ip_address')).toMatchObject({ matched: 3, sampled: 3 });
    expect(only(find('addr', 'inet', ['10.0.0.1', '10.0.0.0/8']), 'ip_address')).toMatchObject({ matched: 2, sampled: 2 });
    expect(only(find('source', 'text', ['300.1.1.1', '10.0.0', 'fe80']), 'ip_address')).toBeUndefined();
  });

  it('finds a date of birth only by a birth-date name with date-like content', () => {
    const dates = [new Date('1990-05-01T00:00:00Z'), new Date('1985-12-31T00:00:00Z'), new Date('2001-07-14T00:00:00Z')];
    expect(find('created_on', 'date', dates)).toEqual([]);
    expect(find('dob', 'date', dates)).toEqual([expect.objectContaining({ kind: 'date_of_birth', method: 'content', matched: 3, sampled: 3 })]);
    expect(only(find('birthdate', 'text', ['1990-05-01', '31/12/1985', '14.07.2001']), 'date_of_birth')).toMatchObject({ method: 'content', matched: 3 });
    expect(only(find('dob', 'bigint', [641520000, 504835200]), 'date_of_birth')).toMatchObject({ method: 'content', matched: 2 });
    expect(find('birthdate', 'text', ['unknown', 'n/a', 'ask'])).toEqual([expect.objectContaining({ kind: 'date_of_birth', method: 'name' })]);
  });

  it('finds national ids by pattern: US SSN and UK NINO, not malformed ones', () => {
    expect(only(find('ref', 'text', ['123-45-6789', '234-56-7890', 'JG 10 37 59 A', 'AB123456D']), 'national_id')).toMatchObject({ method: 'content', matched: 4, sampled: 4 });
    expect(only(find('ref', 'text', ['000-12-3456', '666-12-3456', '123-00-4567', 'GB123456A', 'AB123456E']), 'national_id')).toBeUndefined();
  });

  it('finds person names by content, modestly, in a bare name column', () => {
    const values = ['Ada Lovelace', 'Grace Hopper', "Seán O'Brien", 'Jean-Luc Picard', 'Ludwig van Beethoven', 'John F. Kennedy', 'MARY SHELLEY', 'Alan Turing'];
    const f = only(find('name', 'text', values), 'person_name')!;
    expect(f).toMatchObject({ method: 'content', matched: 8, sampled: 8 });
    expect(f.confidence).toBeGreaterThanOrEqual(0.5);
    expect(f.confidence).toBeLessThanOrEqual(0.7);
  });

  it('does not take course or organisation titles in a name column for people', () => {
    const courses = ['Introduction to Biology', 'Calculus II', 'Art History 101', 'Data Science Bootcamp', 'Physics For Engineers', 'Advanced Chemistry', 'Business Management Basics'];
    const orgs = ['Acme Corp', 'Blue River Ltd', 'Northwind Traders Inc', 'City Hospital', 'Springfield University', 'Sales Team'];
    expect(find('name', 'character varying(255)', courses)).toEqual([]);
    expect(find('name', 'text', orgs)).toEqual([]);
  });

  it('does not take codes, repeated labels or places for people', () => {
    expect(find('code', 'text', many(10, (i) => `Room B${i} West`))).toEqual([]);
    expect(find('label', 'text', many(20, () => 'Pending Review'))).toEqual([]);
    expect(find('city', 'text', ['Grand Rapids', 'Paris Nord', 'Kuala Lumpur', 'Buenos Aires'])).toEqual([]);
  });

  it('keeps a person-name column name whose values are titles as weak evidence only (a course fullname)', () => {
    const titles = many(12, (i) => `Module ${i}: Introduction to Statistics`);
    expect(find('fullname', 'character varying(254)', titles)).toEqual([{ kind: 'person_name', method: 'name', confidence: 0.4 }]);
  });
});

describe('person identifiers: logins built from names, institution numbers', () => {
  // Usernames as sites make them: given.family (Moodle's default), initial + family, given_family, with a number to tell namesakes apart.
  const given = ['john', 'maria', 'amelia', 'oliver', 'priya', 'kenji', 'fatima', 'lucas', 'sofia', 'noah', 'emma', 'omar'];
  const family = ['smith', 'garcia', 'jones', 'patel', 'tanaka', 'kowalski', 'nowak', 'brown', 'wilson', 'rossi', 'mensah', 'jensen'];
  const logins = many(48, (i) => {
    const g = given[i % given.length]!;
    const f = family[(i * 5) % family.length]!;
    return [`${g}.${f}`, `${g[0]}${f}`, `${g}_${f}${i}`, `${g[0]}.${f}${i}`][i % 4]!;
  });
  const productCodes = ['SKU-10023', 'WIDGET-BLUE-L', 'cable-usb-c-2m', 'ABC123', 'pro-max-256', 'blue.widget', 'hdmi-cable', 'x100', 'green-tea-500g', 'TSHIRT-RED-M', 'mug-white', 'desk-oak-140', 'rj45-cat6', 'lamp-e27-warm', 'pen-black-10'];

  it("finds a username made of people's names a person identifier by its content: jsmith, john.smith, maria_garcia2", () => {
    expect(find('username', 'character varying(100)', ['jsmith', 'john.smith', 'maria_garcia2'])).toEqual([
      expect.objectContaining({ kind: 'person_identifier', method: 'content', matched: 3, sampled: 3 }),
    ]);
    const f = find('username', 'character varying(100)', logins);
    expect(f).toHaveLength(1);
    expect(f[0]).toMatchObject({ kind: 'person_identifier', method: 'content', matched: 48, sampled: 48 });
    expect(f[0]!.confidence).toBeGreaterThanOrEqual(0.7);
    expect(f[0]!.confidence).toBeLessThanOrEqual(0.9);
    expect(planKindOf('person_identifier')).toBe('text');
  });

  it('recognises the forms, accents and apostrophes folded; a login column in a person table is surer than an unnamed column', () => {
    const forms = ['john.smith', 'smith.john', 'j.smith', 'jsmith', 'jsmith42', 'john.s', 'john-q-smith', 'JSmith', 'Lucía.García', "sean.o'brien", 'maria_garcia2', 'zoe.muller'];
    expect(only(find('login', 'text', forms), 'person_identifier')).toMatchObject({ matched: forms.length, sampled: forms.length });
    const inUsers = only(discoverColumn({ table: 'mdl_user', column: 'username', type: 'text', values: logins.slice(0, 12) }), 'person_identifier')!;
    const bare = only(find('ref', 'text', logins.slice(0, 12)), 'person_identifier')!;
    expect(inUsers.confidence).toBeGreaterThan(bare.confidence);
  });

  it('needs both parts of a name: a lone given name or surname, a role account or a student number is not one', () => {
    expect(find('username', 'text', ['admin', 'guest', 'maria', 'smith', 'noreply', 'teacher1', 's1234567', 'manager', 'root', 'webservice'])).toEqual([]);
    // Under the share a whole-value kind needs (0.3): two name logins among ten student numbers.
    expect(find('username', 'text', [...many(10, (i) => `s${2024000 + i}`), 'john.smith', 'mgarcia'])).toEqual([]);
  });

  it('does not take product codes, course short names or category codes for logins', () => {
    expect(find('sku', 'text', productCodes)).toEqual([]);
    expect(find('code', 'text', productCodes)).toEqual([]);
    expect(find('shortname', 'text', ['BIO102', 'HIS103', 'CHE104', 'MAT105', 'PHY106', 'ENG107', 'ART108', 'ECO109', 'NCL'])).toEqual([]);
    expect(find('idnumber', 'text', ['NURS-12', 'ENGI-7', 'BUSI-3', 'C-BIO102', 'C-HIS103', 'ARTS-21', 'MATH-5', 'LAW-9'])).toEqual([]);
  });

  it('does not make an idnumber a national id by its name: a course or category code is nothing personal', () => {
    const codes = ['C-BIO102', 'C-HIS103', 'C-MAT105', 'C-PHY106', 'C-ENG107', 'C-ART108'];
    expect(discoverColumn({ table: 'mdl_course', column: 'idnumber', type: 'character varying(100)', values: codes })).toEqual([]);
    expect(discoverColumn({ table: 'mdl_course_categories', column: 'idnumber', type: 'character varying(100)', values: ['SCIE-4', 'HUMA-9', 'NURS-12'] })).toEqual([]);
    expect(find('idnumber', 'text', [])).toEqual([]);
    expect(find('id_number', 'text', [])).toEqual([]);
    expect(find('statement', 'jsonb', [{ course: { idnumber: 'C-BIO102' } }, { course: { idnumber: 'C-HIS103' } }])).toEqual([]);
  });

  it('makes an idnumber a national id when its content is SSNs or NINOs, in any table', () => {
    const ids = ['123-45-6789', '234-56-7890', 'JG 10 37 59 A', 'AB123456D'];
    for (const table of ['mdl_course', 'mdl_user', undefined]) {
      expect(only(discoverColumn({ table, column: 'idnumber', type: 'text', values: ids }), 'national_id')).toMatchObject({ method: 'content', matched: 4, sampled: 4 });
    }
  });

  it("keeps an idnumber of a person table as a weak person identifier (an institution's student or staff number)", () => {
    const numbers = many(20, (i) => `S${2024000 + i}`);
    expect(discoverColumn({ table: 'mdl_user', column: 'idnumber', type: 'character varying(255)', values: numbers })).toEqual([{ kind: 'person_identifier', method: 'name', confidence: 0.45 }]);
    expect(discoverColumn({ table: 'legacy_users', column: 'idnumber', type: 'text', values: [] })).toEqual([{ kind: 'person_identifier', method: 'name', confidence: 0.45 }]);
    // A table of a person's rows (their enrolments) is not a person table.
    expect(discoverColumn({ table: 'mdl_user_enrolments', column: 'idnumber', type: 'text', values: numbers })).toEqual([]);
  });
});

describe('free text that contains personal data', () => {
  const html = [
    '<p>Learner asked to be called on <b>+44 20 7946 0958</b>, or write to <a href="mailto:ada@example.org">her</a>.</p>',
    '<div>Second contact: grace&#64;example.com &nbsp; prefers email</div>',
    '<p>Moved to group B after the first assessment week.</p>',
    '<p>Nothing personal in this note, only course admin.</p>',
  ];

  it('strips HTML, and finds emails (entity-encoded too) and phones inside the text', () => {
    const f = find('notes', 'text', html);
    expect(f).toHaveLength(1);
    expect(f[0]).toMatchObject({ kind: 'free_text', method: 'content', matched: 2, sampled: 4, inside: ['email', 'phone'] });
    expect(f[0]!.confidence).toBeGreaterThanOrEqual(0.6);
  });

  it('finds IPs and national ids inside text, in any column whose values are text', () => {
    const values = ['Login from 203.0.113.7 was blocked twice', 'Applicant SSN 123-45-6789 on the form, verify', 'Routine enrolment, nothing to add here.'];
    expect(only(find('audit_text', 'text', values), 'free_text')).toMatchObject({ method: 'content', matched: 2, inside: ['ip_address', 'national_id'] });
  });

  it('needs two values, or 5 % of them, holding personal data', () => {
    const plain = many(99, (i) => `Ordinary comment number ${i} about the course content.`);
    expect(find('comment', 'text', [...plain, 'Reach me at ada@example.org please'])).toEqual([expect.objectContaining({ kind: 'free_text', method: 'name' })]);
    expect(only(find('comment', 'text', [...plain.slice(2), 'Reach me at ada@example.org please', 'or bob@example.org']), 'free_text')).toMatchObject({ method: 'content', matched: 2, sampled: 99 });
    expect(only(find('comment', 'text', [...plain.slice(0, 9), 'Reach me at ada@example.org please']), 'free_text')).toMatchObject({ method: 'content', matched: 1, sampled: 10 });
  });

  it('does not count text whose numbers are dates, years or prices as holding phones', () => {
    const values = many(10, (i) => `Term 2019-2020 started on 2024-01-0${i % 9} and cost $1,299.99 for ${1000 + i} learners.`);
    expect(find('summary', 'text', values)).toEqual([]);
  });

  it('counts a value that is wholly an email as an email, not as free text', () => {
    const f = find('remarks', 'text', many(10, (i) => `person${i}@example.org`));
    expect(kinds(f)).toEqual(['email', 'free_text']);
    expect(only(f, 'free_text')).toMatchObject({ method: 'name' });
  });
});

describe('personal data inside JSON documents', () => {
  it('finds actor.mbox (email) and actor.name (person) in xAPI statements, not verb.id or object names', () => {
    const f = find('statement', 'jsonb', Array.from({ length: 20 }, (_, i) => xapi(i)));
    expect(f).toHaveLength(1);
    expect(f[0]).toMatchObject({ kind: 'json_personal', method: 'content', matched: 20, sampled: 20 });
    expect(f[0]!.paths).toEqual([
      { path: 'actor.mbox', kind: 'email' },
      { path: 'actor.name', kind: 'person_name' },
    ]);
  });

  it('reads JSON stored as text, and walks arrays as the same path', () => {
    const docs = [JSON.stringify({ members: [{ email: 'a1@example.org', role: 'owner' }, { email: 'a2@example.org', role: 'viewer' }] }), JSON.stringify([{ members: [{ phone: '+44 20 7946 0958' }] }])];
    const f = only(find('payload', 'text', docs), 'json_personal')!;
    expect(f.paths).toEqual([
      { path: 'members.email', kind: 'email' },
      { path: 'members.phone', kind: 'phone' },
    ]);
    expect(f).toMatchObject({ matched: 2, sampled: 2 });
  });

  it('finds personal values under keys that do not say so, by their content', () => {
    const f = only(find('data', 'json', [{ contact: { primary: 'ada@example.org', via: '10.1.2.3' }, count: 3 }]), 'json_personal')!;
    expect(f.paths).toEqual([
      { path: 'contact.primary', kind: 'email' },
      { path: 'contact.via', kind: 'ip_address' },
    ]);
  });

  it('does not take flags, hashes or activity names for personal data', () => {
    const docs = many(5, (i) => String(i)).map((i) => ({ notifications: { email: true, sms: false }, mbox_sha1sum: `ab${i}cdef0123456789`, course: { name: 'Data Science Basics' }, score: { raw: 87 } }));
    expect(find('prefs', 'jsonb', docs)).toEqual([]);
  });

  it('shows a key that is itself personal as *, never the key', () => {
    const f = only(find('payload', 'jsonb', [{ scores: { 'ada@example.org': 3, 'bob@example.org': 5 } }]), 'json_personal')!;
    expect(f.paths).toEqual([{ path: 'scores.*', kind: 'email' }]);
  });
});

describe('findings', () => {
  it('are one per kind: name and content agreeing are one content finding, with the higher confidence', () => {
    const byName = find('email', 'text', [])[0]!;
    const fs = find('email', 'text', ['ada@example.org', 'bob@example.org']);
    expect(fs).toHaveLength(1);
    expect(fs[0]).toMatchObject({ kind: 'email', method: 'content', matched: 2, sampled: 2 });
    expect(fs[0]!.confidence).toBeGreaterThanOrEqual(byName.confidence);
    expect(fs[0]!.confidence).toBeGreaterThanOrEqual(find('contact', 'text', ['ada@example.org', 'bob@example.org'])[0]!.confidence);
  });

  it('come strongest first', () => {
    const fs = find('remarks', 'text', many(40, (i) => `person${i}@example.org`));
    expect(fs.map((f) => f.confidence)).toEqual([...fs.map((f) => f.confidence)].sort((a, b) => b - a));
    expect(fs[0]!.kind).toBe('email');
  });

  it('are [] for nothing personal, and survive odd values without throwing', () => {
    expect(find('status', 'text', ['active', 'suspended', 'active'])).toEqual([]);
    const deep: Record<string, unknown> = {};
    let node = deep;
    for (let i = 0; i < 200; i++) node = node.next = {} as Record<string, unknown>;
    const odd = [undefined, null, true, Buffer.from('ada@example.org'), new Date(NaN), Number.NaN, 12n, 'x'.repeat(100_000), '{not json', '[1,2', deep, [], {}];
    expect(() => find('whatever', 'text', odd)).not.toThrow();
    expect(() => find('whatever', 'jsonb', odd)).not.toThrow();
  });

  it('never hold a sampled value, a JSON leaf or a personal key', () => {
    const samples: ColumnSample[] = [
      { column: 'email', type: 'text', values: ['ada.lovelace@example.org', 'mailto:grace.hopper@example.org'] },
      { column: 'phone1', type: 'character varying(20)', values: ['+44 20 7946 0958', '(555) 123-4567'] },
      { column: 'name', type: 'text', values: ['Ada Lovelace', 'Grace Hopper', 'Alan Turing'] },
      { column: 'lastip', type: 'character varying(45)', values: ['203.0.113.77', '2001:db8::beef'] },
      { column: 'dob', type: 'date', values: [new Date('1990-05-01T00:00:00Z')] },
      { column: 'ssn', type: 'text', values: ['123-45-6789'] },
      { table: 'mdl_user', column: 'username', type: 'text', values: ['ada.lovelace', 'ghopper', 'alan_turing2'] },
      { table: 'mdl_user', column: 'idnumber', type: 'text', values: ['S2024001', '987-65-4320'] },
      { column: 'notes', type: 'text', values: ['<p>Call +44 20 7946 0999 or <a href="mailto:secret.person@example.org">x</a></p>', 'Backup: other.person@example.org'] },
      { column: 'statement', type: 'jsonb', values: [xapi(1), { scores: { 'key.person@example.org': 1, 'Ada Lovelace': 2 } }] },
    ];
    const out = JSON.stringify(samples.map(discoverColumn));
    const strings: string[] = [];
    const collect = (v: unknown): void => {
      if (typeof v === 'string') strings.push(v);
      else if (v instanceof Date) strings.push(v.toISOString(), v.toISOString().slice(0, 10));
      else if (v && typeof v === 'object') {
        for (const [k, x] of Object.entries(v)) {
          strings.push(k);
          collect(x);
        }
      }
    };
    samples.forEach((s) => collect(s.values));
    const personal = strings.filter((s) => /@|\d{3}|Lovelace|Hopper|Turing/.test(s));
    expect(personal.length).toBeGreaterThan(15);
    for (const s of personal) expect(out).not.toContain(s);
    for (const fragment of ['lovelace', 'hopper', '7946', '6789', '203.0.113', 'example.org', '1990']) expect(out.toLowerCase()).not.toContain(fragment);
  });
});

describe('planKindOf', () => {
  it('declares each kind as the plan can: email, name, phone, or text', () => {
    expect(Object.fromEntries(SENSITIVE_KINDS.map((k) => [k, planKindOf(k)]))).toEqual({
      email: 'email',
      phone: 'phone',
      person_name: 'name',
      person_identifier: 'text',
      ip_address: 'text',
      date_of_birth: 'text',
      national_id: 'text',
      free_text: 'text',
      json_personal: 'text',
    });
  });
});
