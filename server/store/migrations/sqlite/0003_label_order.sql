-- Label selectors are answered from lab_labels in list order (see the
-- PostgreSQL migration of the same number). SQLite cannot add a NOT NULL
-- column without a default; the store always writes both.
ALTER TABLE lab_labels ADD COLUMN namespace text NOT NULL DEFAULT '';
ALTER TABLE lab_labels ADD COLUMN name text NOT NULL DEFAULT '';
UPDATE lab_labels SET namespace = (SELECT li.namespace FROM lab_instances li WHERE li.uid = lab_labels.uid),
    name = (SELECT li.name FROM lab_instances li WHERE li.uid = lab_labels.uid);
DROP INDEX lab_labels_kv;
CREATE INDEX lab_labels_kv ON lab_labels (key, value, namespace, name);
