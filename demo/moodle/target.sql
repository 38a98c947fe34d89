-- A modern LMS, fed from the Moodle site of demo/moodle/source.sql: surrogate keys, enforced
-- foreign keys, enums, dates and timestamps with time zone, NULL for "none". Enrolments,
-- attempts, grades and badges keep no legacy id: their key is a business key made of references.
-- Safe to apply again (nothing is dropped). It shares the table name `courses` with demo/lms:
-- give this demo its own target database.
do $$ begin
  create type learner_status as enum ('active', 'suspended', 'deleted');
exception when duplicate_object then null;
end $$;
do $$ begin
  create type enrolment_method as enum ('manual', 'self', 'guest');
exception when duplicate_object then null;
end $$;
do $$ begin
  create type enrolment_status as enum ('active', 'suspended');
exception when duplicate_object then null;
end $$;
do $$ begin
  create type attempt_state as enum ('inprogress', 'finished', 'abandoned');
exception when duplicate_object then null;
end $$;

create table if not exists categories (
  id         bigserial primary key,
  legacy_id  bigint unique,                            -- NULL for categories made here (the pilot)
  parent_id  bigint references categories (id),        -- NULL at the top
  name       text not null,
  code       text
);

create table if not exists learners (
  id             bigserial primary key,
  legacy_id      bigint unique,                        -- NULL for learners made here (the pilot)
  username       text not null,
  given_name     text not null,
  family_name    text not null,
  email          text not null check (email ~ '^[^@\s]+@[^@\s]+\.[^@\s]+$'),
  phone          text,
  city           text,
  country        char(2) not null default '',
  last_ip        inet,
  status         learner_status not null,
  created_on     date not null,
  last_login_at  timestamptz,
  source_ref     text unique                           -- 'src:<mnet host>:<username>', 'pilot:<n>'
);

create table if not exists courses (
  id           bigserial primary key,
  legacy_id    bigint not null unique,
  category_id  bigint not null references categories (id),
  title        text not null,
  short_name   text not null,
  starts_on    date not null,
  ends_on      date,
  visible      boolean not null
);

create table if not exists enrolments (
  id          bigserial primary key,
  learner_id  bigint not null references learners (id),
  course_id   bigint not null references courses (id),
  method      enrolment_method not null,
  status      enrolment_status not null,
  started_at  timestamptz,
  ends_on     date,
  unique (learner_id, course_id, method)
);

create table if not exists quiz_attempts (
  id           bigserial primary key,
  learner_id   bigint not null references learners (id),
  course_id    bigint not null references courses (id),
  quiz_name    text not null,
  attempt      integer not null check (attempt >= 1),
  state        attempt_state not null,
  started_at   timestamptz not null,
  finished_at  timestamptz,
  score        numeric(10,5),
  unique (learner_id, course_id, quiz_name, attempt)
);

create table if not exists grades (
  id           bigserial primary key,
  learner_id   bigint not null references learners (id),
  course_id    bigint not null references courses (id),
  item_name    text not null,
  final_grade  numeric(10,5),
  graded_at    timestamptz not null,
  unique (learner_id, course_id, item_name)
);

create table if not exists badges_issued (
  id          bigserial primary key,
  learner_id  bigint not null references learners (id),
  course_id   bigint references courses (id),          -- NULL for a site badge
  badge_name  text not null,
  issued_on   date not null,
  expires_on  date,
  unique (learner_id, badge_name)
);

-- The pilot: rows made in the new LMS before the migration, with ids that overlap the Moodle ids
-- (learners 1..5 while Moodle's guest is 1 and admin 2) and no legacy id. A migration must leave
-- them as they are, and so must its rollback.
insert into categories (id, legacy_id, parent_id, name, code) values
  (1, null, null, 'Pilot programme', 'PILOT'),
  (2, null, 1, 'Pilot: onboarding', 'PILOT-ONB'),
  (3, null, 1, 'Pilot: compliance', null)
on conflict (id) do nothing;
insert into learners (id, legacy_id, username, given_name, family_name, email, phone, city, country, last_ip, status, created_on, last_login_at, source_ref) values
  (1, null, 'pilot.ana', 'Ana', 'Pereira', 'ana.pereira@pilot.example.org', null, 'Lisbon', 'PT', '10.20.0.11', 'active', '2024-03-01', '2024-03-04 09:12:00+00', 'pilot:1'),
  (2, null, 'pilot.ben', 'Ben', 'Okoro', 'ben.okoro@pilot.example.org', '+44 20 7946 0011', 'London', 'GB', null, 'active', '2024-03-01', null, 'pilot:2'),
  (3, null, 'pilot.chen', 'Chen', 'Wei', 'chen.wei@pilot.example.org', null, '', '', null, 'suspended', '2024-03-02', '2024-03-02 15:40:00+00', 'pilot:3'),
  (4, null, 'pilot.dana', 'Dana', 'Kowalska', 'dana.kowalska@pilot.example.org', null, null, 'PL', '2001:db8::4', 'active', '2024-03-05', null, 'pilot:4'),
  (5, null, 'admin', 'Pilot', 'Admin', 'lms-admin@pilot.example.org', null, null, '', null, 'active', '2024-02-28', '2024-03-06 08:00:00+00', 'pilot:5')
on conflict (id) do nothing;
select setval('categories_id_seq', greatest((select max(id) from categories), (select last_value from categories_id_seq)));
select setval('learners_id_seq', greatest((select max(id) from learners), (select last_value from learners_id_seq)));
