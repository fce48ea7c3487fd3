-- Label selectors are answered from lab_labels in list order: each label
-- row carries its lab's namespace and name (immutable, like the uid), so
-- that an index on (key, value, namespace, name) yields the labs with a
-- label already in the order of a page, and a page of 50 reads about 50
-- index entries whether 10 labs have the label or 100,000. Before, the
-- list walked lab_instances in (namespace, name) order and probed the
-- labels of each lab until the page was full.
ALTER TABLE lab_labels ADD COLUMN namespace text;
ALTER TABLE lab_labels ADD COLUMN name text;
UPDATE lab_labels ll SET namespace = li.namespace, name = li.name FROM lab_instances li WHERE li.uid = ll.uid;
ALTER TABLE lab_labels ALTER COLUMN namespace SET NOT NULL;
ALTER TABLE lab_labels ALTER COLUMN name SET NOT NULL;
DROP INDEX lab_labels_kv;
CREATE INDEX lab_labels_kv ON lab_labels (key, value, namespace, name);
