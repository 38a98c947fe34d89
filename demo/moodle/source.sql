-- A mature Moodle site, as Moodle's installer creates its tables on PostgreSQL (a subset of the
-- columns): the mdl_ prefix, bigint ids from sequences, no foreign keys (Moodle declares none in
-- the database), epoch seconds in bigint columns with 0 for "unset", '' for missing text, flags
-- as smallint, NOT NULL DEFAULT nearly everywhere. Re-running this file starts the source afresh.
drop table if exists mdl_badge_issued, mdl_badge, mdl_grade_grades, mdl_grade_items, mdl_quiz_attempts, mdl_quiz,
  mdl_user_enrolments, mdl_enrol, mdl_course, mdl_user, mdl_course_categories;

-- A tree: parent = 0 at the top. Ids are not in tree order (categories get moved and re-parented).
create table mdl_course_categories (
  id            bigserial primary key,
  name          varchar(255) not null default '',
  idnumber      varchar(100) not null default '',
  parent        bigint not null default 0,
  sortorder     bigint not null default 0,
  depth         bigint not null default 0,
  path          varchar(255) not null default '',      -- '/3/17/9': the ids from the top down
  timemodified  bigint not null default 0
);
create index mdl_courcate_par_ix on mdl_course_categories (parent);

create table mdl_user (
  id           bigserial primary key,
  auth         varchar(20) not null default 'manual',
  deleted      smallint not null default 0,            -- soft delete: username and email are overwritten
  suspended    smallint not null default 0,
  mnethostid   bigint not null default 0,              -- 1: this site; others: MNet peers (usernames repeat across hosts)
  username     varchar(100) not null default '',
  firstname    varchar(100) not null default '',
  lastname     varchar(100) not null default '',
  email        varchar(100) not null default '',
  phone1       varchar(20) not null default '',
  city         varchar(120) not null default '',
  -- Moodle declares varchar(2). This site's HR sync once wrote ISO alpha-3 codes ('GBR') through a
  -- widened column; the demo widens it to varchar(3) to keep that dirt.
  country      varchar(3) not null default '',
  lastip       varchar(45) not null default '',
  timecreated  bigint not null default 0,
  lastlogin    bigint not null default 0,              -- 0: never
  firstaccess  bigint not null default 0               -- 0: never
);
create unique index mdl_user_mneuse_uix on mdl_user (mnethostid, username);
create index mdl_user_del_ix on mdl_user (deleted);

-- Course 1 is the site itself (category 0, format 'site').
create table mdl_course (
  id           bigserial primary key,
  category     bigint not null default 0,
  fullname     varchar(1333) not null default '',
  shortname    varchar(255) not null default '',
  idnumber     varchar(100) not null default '',
  format       varchar(21) not null default 'topics',
  startdate    bigint not null default 0,
  enddate      bigint not null default 0,              -- 0: no end
  visible      smallint not null default 1,
  timecreated  bigint not null default 0
);
create index mdl_cour_cat_ix on mdl_course (category);

-- Enrolment method instances of a course; a user enrolment reaches its course only through one.
create table mdl_enrol (
  id        bigserial primary key,
  enrol     varchar(20) not null default '',           -- manual | self | guest
  courseid  bigint not null,
  status    bigint not null default 0                  -- 0: enabled, 1: disabled
);
create index mdl_enro_cou_ix on mdl_enrol (courseid);

create table mdl_user_enrolments (
  id           bigserial primary key,
  enrolid      bigint not null,
  userid       bigint not null,
  status       bigint not null default 0,              -- 0: active, 1: suspended
  timestart    bigint not null default 0,              -- 0: unset
  timeend      bigint not null default 0,              -- 0: no end
  timecreated  bigint not null default 0
);
create unique index mdl_userenro_enruse_uix on mdl_user_enrolments (enrolid, userid);

create table mdl_quiz (
  id      bigserial primary key,
  course  bigint not null default 0,
  name    varchar(1333) not null default '',
  grade   numeric(10,5) not null default 0
);
create index mdl_quiz_cou_ix on mdl_quiz (course);

create table mdl_quiz_attempts (
  id          bigserial primary key,
  quiz        bigint not null default 0,
  userid      bigint not null default 0,
  attempt     integer not null default 0,
  preview     smallint not null default 0,             -- 1: a teacher previewing the quiz
  state       varchar(16) not null default 'inprogress', -- inprogress | finished | abandoned
  timestart   bigint not null default 0,
  timefinish  bigint not null default 0,               -- 0: unset
  sumgrades   numeric(10,5)                            -- NULL until graded
);
create unique index mdl_quizatte_quiuseatt_uix on mdl_quiz_attempts (quiz, userid, attempt);

create table mdl_grade_items (
  id        bigserial primary key,
  courseid  bigint,
  itemname  varchar(255),                              -- NULL for the course total (itemtype 'course'), as in Moodle
  itemtype  varchar(30) not null default '',           -- course | mod | manual
  grademax  numeric(10,5) not null default 100
);
create index mdl_gradite_cou_ix on mdl_grade_items (courseid);

create table mdl_grade_grades (
  id            bigserial primary key,
  itemid        bigint not null,
  userid        bigint not null,
  finalgrade    numeric(10,5),                         -- NULL: not graded
  timemodified  bigint not null default 0
);
create unique index mdl_gradgrad_useite_uix on mdl_grade_grades (userid, itemid);

create table mdl_badge (
  id        bigserial primary key,
  name      varchar(255) not null default '',
  courseid  bigint,                                    -- NULL for a site badge
  type      smallint not null default 1                -- 1: site, 2: course
);

create table mdl_badge_issued (
  id          bigserial primary key,
  badgeid     bigint not null default 0,
  userid      bigint not null default 0,
  uniquehash  text not null,
  dateissued  bigint not null default 0,
  dateexpire  bigint not null default 0                -- 0: does not expire
);
create unique index mdl_badgissu_baduse_uix on mdl_badge_issued (badgeid, userid);
