-- The new LMS: surrogate keys, real foreign keys, enums, timestamps with time zone, jsonb.
do $$ begin
  create type person_status as enum ('active', 'inactive', 'suspended');
exception when duplicate_object then null;
end $$;
do $$ begin
  create type enrollment_status as enum ('enrolled', 'completed', 'withdrawn');
exception when duplicate_object then null;
end $$;

create table if not exists org_units (
  id            bigserial primary key,
  legacy_org_id integer not null unique,
  code          varchar(20) not null,
  name          varchar(120) not null
);

create table if not exists people (
  id             bigserial primary key,
  legacy_user_id integer not null unique,
  username       varchar(64) not null,
  given_name     varchar(100) not null,
  family_name    varchar(100),
  email          varchar(254) not null check (position('@' in email) > 1),
  phone          varchar(40),
  status         person_status not null,
  created_at     timestamptz not null,
  last_login_at  timestamptz,
  org_code       varchar(20),
  source_system  text not null,
  org_unit_id    bigint references org_units (id)
);

create table if not exists courses (
  id               bigserial primary key,
  legacy_course_id integer not null unique,
  code             varchar(30) not null,
  title            varchar(200) not null,
  created_at       timestamptz not null
);

create table if not exists enrollments (
  id                   bigserial primary key,
  legacy_enrollment_id integer not null unique,
  person_id            bigint not null references people (id),
  course_id            bigint not null references courses (id),
  status               enrollment_status not null,
  enrolled_at          timestamptz not null,
  completed_at         timestamptz
);

create table if not exists assessment_results (
  id               bigserial primary key,
  legacy_result_id integer not null unique,
  enrollment_id    bigint not null references enrollments (id),
  score            integer not null check (score between 0 and 100),
  passed           boolean not null,
  taken_at         timestamptz not null
);

create table if not exists xapi_statements (
  id                  bigserial primary key,
  legacy_statement_id integer not null unique,
  statement           jsonb not null,
  stored_at           timestamptz not null
);

create table if not exists course_packages (
  id                bigserial primary key,
  legacy_package_id integer not null unique,
  course_id         bigint not null references courses (id),
  file_key          varchar(200) not null
);

create table if not exists certificates (
  id                    bigserial primary key,
  legacy_certificate_id integer not null unique,
  enrollment_id         bigint not null references enrollments (id),
  file_key              varchar(200) not null
);

create table if not exists attachments (
  id                   bigserial primary key,
  legacy_attachment_id integer not null unique,
  course_id            bigint not null references courses (id),
  file_key             varchar(200) not null
);

-- An index on every foreign key's referencing column, as a production schema has: without one,
-- each delete of a referenced row (a sync round applying the source's deletes, a rollback
-- deleting what the migration inserted) scans the whole referencing table to check the key. At
-- 1,000,000 people that was 4,000,000 enrollments read per deleted person: sync rounds of 90 s.
create index if not exists people_org_unit_id on people (org_unit_id);
create index if not exists enrollments_person_id on enrollments (person_id);
create index if not exists enrollments_course_id on enrollments (course_id);
create index if not exists assessment_results_enrollment_id on assessment_results (enrollment_id);
create index if not exists course_packages_course_id on course_packages (course_id);
create index if not exists certificates_enrollment_id on certificates (enrollment_id);
create index if not exists attachments_course_id on attachments (course_id);
