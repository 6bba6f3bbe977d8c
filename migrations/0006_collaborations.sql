-- MOOCdb's collaborating mode (docs/schema.md, "collaborations"): EDUlib/eTracesX
-- create_MOOCdb.sql's two tables and columns, with the parent id widened to the CHAR(36) of the
-- ids it holds, and three columns of ours after them: the forum's own ids of a contribution and
-- of its parent (so that a parent loaded later is linked), and edX's truncation flag.
CREATE TABLE IF NOT EXISTS collaboration_types (
  collaboration_type_id int(11) NOT NULL PRIMARY KEY,
  collaboration_type_name varchar(45) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin STATS_AUTO_RECALC=0;

-- EDUlib's types, with wiki edits as 4 (what DigitalLearnerQuantified's feature 4 counts) and
-- forum votes as 5 (docs/deviations.md), and forum edits, which neither names, as 6.
INSERT IGNORE INTO collaboration_types (collaboration_type_id, collaboration_type_name) VALUES
  (1, 'forum_post'),
  (2, 'forum_answer'),
  (3, 'forum_comment'),
  (4, 'wiki_edit'),
  (5, 'forum_vote'),
  (6, 'forum_edit');

CREATE TABLE IF NOT EXISTS collaborations (
  collaboration_id char(36) NOT NULL PRIMARY KEY,
  user_id char(40) NOT NULL,
  collaboration_type_id int(11) NOT NULL,
  collaboration_content mediumtext,
  collaboration_timestamp datetime(6) NOT NULL,
  collaboration_parent_id char(36) DEFAULT NULL,
  collaboration_child_number int(11) DEFAULT NULL,
  collaborations_ip char(3) DEFAULT NULL,
  collaborations_os int(11) DEFAULT NULL,
  collaborations_agent int(11) DEFAULT NULL,
  resource_id int(11) DEFAULT NULL,
  collaboration_forum_id varchar(64) DEFAULT NULL,
  collaboration_parent_forum_id varchar(64) DEFAULT NULL,
  collaboration_content_truncated tinyint(1) DEFAULT NULL,
  KEY collaboration_forum_id (collaboration_forum_id),
  KEY collaboration_parent_forum_id (collaboration_parent_forum_id),
  FOREIGN KEY(collaboration_type_id) REFERENCES collaboration_types(collaboration_type_id) ON DELETE CASCADE,
  FOREIGN KEY(collaboration_parent_id) REFERENCES collaborations(collaboration_id) ON DELETE SET NULL,
  FOREIGN KEY(collaborations_os) REFERENCES os(os_id) ON DELETE CASCADE,
  FOREIGN KEY(collaborations_agent) REFERENCES agent(agent_id) ON DELETE CASCADE,
  FOREIGN KEY(resource_id) REFERENCES resources(resource_id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin STATS_AUTO_RECALC=0;
