-- pekko-persistence-jdbc tables (the plugin's own script, made idempotent and transactional:
-- CREATE INDEX CONCURRENTLY cannot run inside a transaction nor twice).
CREATE TABLE IF NOT EXISTS public.event_journal(
  ordering BIGSERIAL,
  persistence_id VARCHAR(255) NOT NULL,
  sequence_number BIGINT NOT NULL,
  deleted BOOLEAN DEFAULT FALSE NOT NULL,
  writer VARCHAR(255) NOT NULL,
  write_timestamp BIGINT,
  adapter_manifest VARCHAR(255),
  event_ser_id INTEGER NOT NULL,
  event_ser_manifest VARCHAR(255) NOT NULL,
  event_payload BYTEA NOT NULL,
  meta_ser_id INTEGER,
  meta_ser_manifest VARCHAR(255),
  meta_payload BYTEA,
  PRIMARY KEY(persistence_id, sequence_number)
);
CREATE UNIQUE INDEX IF NOT EXISTS event_journal_ordering_idx ON public.event_journal(ordering);
CREATE TABLE IF NOT EXISTS public.event_tag(
  event_id BIGINT,
  tag VARCHAR(256),
  PRIMARY KEY(event_id, tag),
  CONSTRAINT fk_event_journal FOREIGN KEY(event_id) REFERENCES event_journal(ordering) ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS public.snapshot (
  persistence_id VARCHAR(255) NOT NULL,
  sequence_number BIGINT NOT NULL,
  created BIGINT NOT NULL,
  snapshot_ser_id INTEGER NOT NULL,
  snapshot_ser_manifest VARCHAR(255) NOT NULL,
  snapshot_payload BYTEA NOT NULL,
  meta_ser_id INTEGER,
  meta_ser_manifest VARCHAR(255),
  meta_payload BYTEA,
  PRIMARY KEY(persistence_id, sequence_number)
);
CREATE TABLE IF NOT EXISTS public.durable_state (
  global_offset BIGSERIAL,
  persistence_id VARCHAR(255) NOT NULL,
  revision BIGINT NOT NULL,
  state_payload BYTEA NOT NULL,
  state_serial_id INTEGER NOT NULL,
  state_serial_manifest VARCHAR(255),
  tag VARCHAR,
  state_timestamp BIGINT NOT NULL,
  PRIMARY KEY(persistence_id)
);
CREATE INDEX IF NOT EXISTS state_tag_idx ON public.durable_state (tag);
CREATE INDEX IF NOT EXISTS state_global_offset_idx ON public.durable_state (global_offset);

-- pmm-ha's fence: one row with the current leader epoch, its holder and a lease on PostgreSQL's own clock.
CREATE OR REPLACE FUNCTION pmm_ha_now_ms() RETURNS BIGINT AS $$
  SELECT (extract(epoch FROM clock_timestamp()) * 1000)::BIGINT
$$ LANGUAGE sql VOLATILE;
CREATE TABLE IF NOT EXISTS public.pmm_ha_fence (
  id INT PRIMARY KEY CHECK (id = 1),
  epoch BIGINT NOT NULL,
  holder VARCHAR(255) NOT NULL,
  lease_until_ms BIGINT NOT NULL,
  released BOOLEAN NOT NULL,
  updated_ms BIGINT NOT NULL
);
INSERT INTO public.pmm_ha_fence (id, epoch, holder, lease_until_ms, released, updated_ms)
  VALUES (1, 0, '', 0, TRUE, 0) ON CONFLICT (id) DO NOTHING;
-- Why the last holder released the fence (a hand-over's reason): the next leader journals it. Added only when
-- missing: ALTER TABLE locks the fence exclusively even when the column exists, and every node runs this at start.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = 'public'
      AND table_name = 'pmm_ha_fence' AND column_name = 'release_reason') THEN
    ALTER TABLE public.pmm_ha_fence ADD COLUMN release_reason VARCHAR(255) NOT NULL DEFAULT '';
  END IF;
END
$$;
-- Every fenced write (an event tagged pmm-ha-epoch:N) is checked in the journal's own transaction: it lands only
-- while epoch N holds an unexpired, unreleased lease. FOR SHARE orders it against a concurrent take-over.
CREATE OR REPLACE FUNCTION pmm_ha_check_fence() RETURNS trigger AS $$
DECLARE
  f RECORD;
  e BIGINT;
BEGIN
  IF NEW.tag LIKE 'pmm-ha-epoch:%' THEN
    e := substring(NEW.tag FROM 14)::BIGINT;
    SELECT epoch, lease_until_ms, released INTO f FROM public.pmm_ha_fence WHERE id = 1 FOR SHARE;
    IF f.epoch IS DISTINCT FROM e OR f.released OR f.lease_until_ms <= pmm_ha_now_ms() THEN
      RAISE EXCEPTION 'pmm-ha fence: write of epoch % rejected (fence epoch %, released %, lease expired %)',
        e, f.epoch, f.released, f.lease_until_ms <= pmm_ha_now_ms() USING ERRCODE = 'P0001';
    END IF;
  END IF;
  RETURN NEW;
END
$$ LANGUAGE plpgsql;
-- Created only when missing: CREATE OR REPLACE TRIGGER locks event_tag (SHARE ROW EXCLUSIVE) even when nothing
-- changes, and every node runs this at start; the leader's journal writes waited 20-40 ms behind it at each
-- restart in the failover lab (log_lock_waits). The function above is replaced in place, so a new version of
-- the check still takes effect.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'pmm_ha_fence_check'
      AND tgrelid = 'public.event_tag'::regclass) THEN
    CREATE TRIGGER pmm_ha_fence_check BEFORE INSERT ON public.event_tag
      FOR EACH ROW EXECUTE FUNCTION pmm_ha_check_fence();
  END IF;
END
$$;

-- pmm-ha jobs (README, "Jobs"): the registry of defined jobs (which shard, which node runs it now) and one row per
-- claimed tick. The primary key on (job_id, tick_ms) is the claim: a tick runs only after its row was inserted.
CREATE TABLE IF NOT EXISTS public.pmm_ha_jobs (
  job_id VARCHAR(255) PRIMARY KEY,
  shard INT NOT NULL,
  spec TEXT,
  node VARCHAR(255),
  node_since_ms BIGINT,
  updated_ms BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS public.pmm_ha_job_runs (
  job_id VARCHAR(255) NOT NULL,
  tick_ms BIGINT NOT NULL,
  node VARCHAR(255) NOT NULL,
  incarnation VARCHAR(64) NOT NULL,
  started_ms BIGINT NOT NULL,
  ended_ms BIGINT,
  exit_code INT,
  status VARCHAR(16) NOT NULL,
  PRIMARY KEY (job_id, tick_ms)
);
