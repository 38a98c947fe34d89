-- The legacy LMS: one wide table of users, names in one field, status codes, epoch seconds.
drop table if exists legacy_users;
create table legacy_users (
  user_id          integer primary key,
  login            varchar(64) not null,
  full_name        varchar(200),
  email            varchar(200),
  phone            varchar(40),
  status_code      char(1) not null,
  created_epoch    bigint not null,
  last_login_epoch bigint,
  org_code         varchar(20)
);
