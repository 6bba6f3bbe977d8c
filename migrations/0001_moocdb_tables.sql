-- MOOCdb tables: the names and column order of moocdb.sql (EDUlib/eTracesX create_MOOCdb.sql).
-- Types are widened where the legacy type lost data; every such change is listed in docs/schema.md.
-- STATS_AUTO_RECALC=0: on MariaDB 10.11 a bulk load into an empty table otherwise keeps a background
-- statistics thread busy for the whole load; the loader runs ANALYZE TABLE afterwards instead.

CREATE TABLE IF NOT EXISTS os (
  os_id int(11) NOT NULL PRIMARY KEY,
  os_name varchar(255) DEFAULT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin STATS_AUTO_RECALC=0;

CREATE TABLE IF NOT EXISTS agent (
  agent_id int(11) NOT NULL PRIMARY KEY,
  agent_name varchar(255) DEFAULT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin STATS_AUTO_RECALC=0;

CREATE TABLE IF NOT EXISTS urls (
  url_id int(11) NOT NULL PRIMARY KEY,
  url text DEFAULT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin STATS_AUTO_RECALC=0;

CREATE TABLE IF NOT EXISTS resource_types (
  resource_type_id int(11) NOT NULL PRIMARY KEY,
  resource_type_content varchar(40) NOT NULL,
  resource_type_medium varchar(40) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin STATS_AUTO_RECALC=0;

CREATE TABLE IF NOT EXISTS resources (
  resource_id int(11) NOT NULL PRIMARY KEY,
  resource_name text NULL,
  resource_uri text NULL,
  resource_type_id int(2) NOT NULL,
  resource_parent_id int(11) DEFAULT NULL,
  resource_child_number int(11) DEFAULT NULL,
  resource_relevant_week int(11) DEFAULT NULL,
  resource_release_date date DEFAULT NULL,
  FOREIGN KEY(resource_type_id) REFERENCES resource_types(resource_type_id) ON DELETE CASCADE,
  FOREIGN KEY(resource_parent_id) REFERENCES resources(resource_id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin STATS_AUTO_RECALC=0;

CREATE TABLE IF NOT EXISTS resources_urls (
  resources_urls_id int(11) NOT NULL PRIMARY KEY,
  resource_id int(11) NOT NULL,
  url_id int(11) NOT NULL,
  FOREIGN KEY(resource_id) REFERENCES resources(resource_id) ON DELETE CASCADE,
  FOREIGN KEY(url_id) REFERENCES urls(url_id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin STATS_AUTO_RECALC=0;

CREATE TABLE IF NOT EXISTS observed_events (
  observed_event_id char(36) NOT NULL PRIMARY KEY,
  user_id char(40) NOT NULL,
  url_id int(11) NOT NULL,
  observed_event_timestamp datetime(6) NOT NULL,
  observed_event_duration int(11) DEFAULT NULL,
  observed_event_ip char(3) DEFAULT NULL,
  observed_event_os int(11) DEFAULT NULL,
  observed_event_agent int(11) DEFAULT NULL,
  observed_event_type_id varchar(255) NOT NULL,
  FOREIGN KEY(url_id) REFERENCES resources(resource_id) ON DELETE CASCADE,
  FOREIGN KEY(observed_event_os) REFERENCES os(os_id) ON DELETE CASCADE,
  FOREIGN KEY(observed_event_agent) REFERENCES agent(agent_id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin STATS_AUTO_RECALC=0;

CREATE TABLE IF NOT EXISTS problem_types (
  problem_type_id int(10) NOT NULL PRIMARY KEY,
  problem_type_name varchar(255) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin STATS_AUTO_RECALC=0;

CREATE TABLE IF NOT EXISTS problems (
  problem_id int(11) NOT NULL PRIMARY KEY,
  problem_name text NOT NULL,
  problem_parent_id int(11) DEFAULT NULL,
  problem_child_number int(11) DEFAULT NULL,
  problem_type_id int(11) NOT NULL,
  problem_release_timestamp datetime(6) DEFAULT NULL,
  problem_soft_deadline datetime(6) DEFAULT NULL,
  problem_hard_deadline datetime(6) DEFAULT NULL,
  problem_max_submission int(11) DEFAULT NULL,
  problem_max_duration int(11) DEFAULT NULL,
  problem_weight int(11) DEFAULT NULL,
  resource_id int(11) DEFAULT NULL,
  FOREIGN KEY(problem_parent_id) REFERENCES problems(problem_id) ON DELETE CASCADE,
  FOREIGN KEY(problem_type_id) REFERENCES problem_types(problem_type_id) ON DELETE CASCADE,
  FOREIGN KEY(resource_id) REFERENCES resources(resource_id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin STATS_AUTO_RECALC=0;

CREATE TABLE IF NOT EXISTS submissions (
  submission_id char(36) NOT NULL PRIMARY KEY,
  user_id char(40) NOT NULL,
  problem_id int(11) NOT NULL,
  submission_timestamp datetime(6) NOT NULL,
  submission_attempt_number int(11) NOT NULL,
  submission_answer mediumtext NOT NULL,
  submission_is_submitted int(1) NOT NULL,
  submission_ip char(3) DEFAULT NULL,
  submission_os int(11) DEFAULT NULL,
  submission_agent int(11) DEFAULT NULL,
  FOREIGN KEY(problem_id) REFERENCES problems(problem_id) ON DELETE CASCADE,
  FOREIGN KEY(submission_os) REFERENCES os(os_id) ON DELETE CASCADE,
  FOREIGN KEY(submission_agent) REFERENCES agent(agent_id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin STATS_AUTO_RECALC=0;

CREATE TABLE IF NOT EXISTS assessments (
  assessment_id char(36) NOT NULL PRIMARY KEY,
  submission_id char(36) NOT NULL,
  assessment_feedback text,
  assessment_grade double DEFAULT NULL,
  assessment_grade_with_penalty double DEFAULT NULL,
  assessment_grader_id varchar(63) NOT NULL,
  assessment_timestamp datetime(6) DEFAULT NULL,
  FOREIGN KEY(submission_id) REFERENCES submissions(submission_id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin STATS_AUTO_RECALC=0;

CREATE TABLE IF NOT EXISTS users (
  user_id char(40) NOT NULL PRIMARY KEY
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin STATS_AUTO_RECALC=0;
