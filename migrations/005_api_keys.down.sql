-- 005 down: the schema of 004. The keys go with their table.
DROP TABLE api_keys;
