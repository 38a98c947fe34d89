import { SourceRoleFacts, writeCapabilities } from '../../src/doctor/read-only';

const readOnly: SourceRoleFacts = {
  role: 'reader',
  superuser: false,
  createRole: false,
  createDb: false,
  writableTables: 0,
  creatableSchemas: [],
  defaultReadOnly: true,
};

describe('source role write capabilities', () => {
  it('accepts a select-only role', () => {
    expect(writeCapabilities(readOnly)).toEqual([]);
  });

  it('names every way a role could write', () => {
    expect(writeCapabilities({ ...readOnly, superuser: true, writableTables: 3, creatableSchemas: ['public'], createDb: true })).toEqual([
      'is a superuser',
      'may create databases',
      'may write to 3 table(s)',
      'may create objects in schema public',
    ]);
  });
});
