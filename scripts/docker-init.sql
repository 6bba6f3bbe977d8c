-- Run once by the mysql image on first start (docker-compose.yml mounts it into
-- /docker-entrypoint-initdb.d), after MYSQL_USER has been created.
-- Tests create one fresh database each and some flip GLOBAL settings (local_infile),
-- so the test account gets every privilege.
GRANT ALL PRIVILEGES ON *.* TO 'moocdb'@'%' WITH GRANT OPTION;
