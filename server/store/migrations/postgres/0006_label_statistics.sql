-- A label selector's plan depends on how common the planner thinks the
-- label is. Label values are many and similar in frequency (one course
-- among hundreds), so the default sample of ANALYZE estimated one value
-- from a handful of rows, and one estimate in many turned the plan of a
-- selector from lab_labels_kv in page order to a walk of every lab
-- (TestListUsesIndexes failed so, once, under load). A larger sample
-- makes the estimate close to the truth and the plan stable.
ALTER TABLE lab_labels ALTER COLUMN key SET STATISTICS 1000;
ALTER TABLE lab_labels ALTER COLUMN value SET STATISTICS 1000;
