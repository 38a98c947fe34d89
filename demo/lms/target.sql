-- The new LMS: surrogate keys, split names, an enum status, timestamps with time zone.
do $$ begin
  create type person_status as enum ('active', 'inactive', 'suspended');
exception when duplicate_object then null;
end $$;

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
  source_system  text not null
);
