-- The legacy LMS: wide tables, names in one field, status codes, epoch seconds, JSON blobs.
drop table if exists legacy_attachments, legacy_certificates, legacy_course_packages, legacy_xapi, legacy_results, legacy_enrollments, legacy_courses, legacy_users, legacy_org_units;
create table legacy_org_units (
  org_id    integer primary key,
  org_code  varchar(20) not null,
  org_name  varchar(120) not null
);
create table legacy_users (
  user_id          integer primary key,
  login            varchar(64) not null,
  full_name        varchar(200),
  email            varchar(200),
  phone            varchar(40),
  status_code      char(1) not null,
  created_epoch    bigint not null,
  last_login_epoch bigint,
  org_code         varchar(20),
  org_id           integer          -- no foreign key in the legacy system: orphans happen
);
create table legacy_courses (
  course_id     integer primary key,
  course_code   varchar(30) not null,
  title         varchar(200) not null,
  created_epoch bigint not null
);
create table legacy_enrollments (
  enrollment_id   integer primary key,
  user_id         integer not null,
  course_id       integer not null,
  status_code     char(1) not null,   -- E enrolled, C completed, W withdrawn
  enrolled_epoch  bigint not null,
  completed_epoch bigint
);
create table legacy_results (
  result_id     integer primary key,
  enrollment_id integer not null,
  score         integer not null,
  passed        char(1) not null,     -- Y / N
  taken_epoch   bigint not null
);
create table legacy_xapi (
  statement_id  integer primary key,
  statement     text not null,        -- an xAPI statement as JSON text; the actor is a person
  stored_epoch  bigint not null
);
create table legacy_course_packages (
  package_id  integer primary key,
  course_id   integer not null,
  file_key    varchar(200) not null   -- a SCORM zip in the legacy object store
);
create table legacy_certificates (
  certificate_id integer primary key,
  enrollment_id  integer not null,
  file_key       varchar(200) not null -- a PDF in the legacy object store
);
create table legacy_attachments (
  attachment_id integer primary key,
  course_id     integer not null,
  file_key      varchar(200) not null -- a handout in the legacy object store
);
