-- Workers periodically take back jobs whose lease expired (their worker died mid-run); this keeps
-- that check from scanning every finished job.
CREATE INDEX jobs_running ON jobs (locked_at) WHERE status = 'running';
