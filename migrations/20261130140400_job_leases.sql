-- Job leases that say when they end and whose they are. A runner sets `lease_expires_at` from its
-- own lease length when it claims a job and pushes it on while the job runs; another instance takes
-- the job back once that time has passed. `lease_token` is new at every claim: a runner records the
-- outcome only while the token is still its own, so one that lost its lease (stalled, cut off from
-- the database) cannot complete or fail a job that another runner has claimed since.
ALTER TABLE jobs ADD COLUMN lease_token text, ADD COLUMN lease_expires_at timestamptz;

-- Jobs running while the database is migrated keep the five-minute lease their runner assumed.
UPDATE jobs SET lease_expires_at = locked_at + interval '5 minutes' WHERE status = 'running';

DROP INDEX jobs_running;
CREATE INDEX jobs_lease ON jobs (lease_expires_at) WHERE status = 'running';
