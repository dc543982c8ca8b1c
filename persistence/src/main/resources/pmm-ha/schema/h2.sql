-- pekko-persistence-jdbc tables for the embedded H2 store (the plugin's script, made idempotent).
CREATE TABLE IF NOT EXISTS PUBLIC."event_journal" (
    "ordering" BIGINT UNIQUE NOT NULL AUTO_INCREMENT,
    "deleted" BOOLEAN DEFAULT false NOT NULL,
    "persistence_id" VARCHAR(255) NOT NULL,
    "sequence_number" BIGINT NOT NULL,
    "writer" VARCHAR NOT NULL,
    "write_timestamp" BIGINT NOT NULL,
    "adapter_manifest" VARCHAR NOT NULL,
    "event_payload" BLOB NOT NULL,
    "event_ser_id" INTEGER NOT NULL,
    "event_ser_manifest" VARCHAR NOT NULL,
    "meta_payload" BLOB,
    "meta_ser_id" INTEGER,
    "meta_ser_manifest" VARCHAR,
    PRIMARY KEY("persistence_id","sequence_number")
    );

CREATE UNIQUE INDEX IF NOT EXISTS "event_journal_ordering_idx" on PUBLIC."event_journal" ("ordering");

CREATE TABLE IF NOT EXISTS PUBLIC."event_tag" (
    "event_id" BIGINT NOT NULL,
    "tag" VARCHAR NOT NULL,
    PRIMARY KEY("event_id", "tag"),
    CONSTRAINT fk_event_journal
      FOREIGN KEY("event_id")
      REFERENCES "event_journal"("ordering")
      ON DELETE CASCADE
);

CREATE TABLE IF NOT EXISTS PUBLIC."snapshot" (
    "persistence_id" VARCHAR(255) NOT NULL,
    "sequence_number" BIGINT NOT NULL,
    "created" BIGINT NOT NULL,"snapshot_ser_id" INTEGER NOT NULL,
    "snapshot_ser_manifest" VARCHAR NOT NULL,
    "snapshot_payload" BLOB NOT NULL,
    "meta_ser_id" INTEGER,
    "meta_ser_manifest" VARCHAR,
    "meta_payload" BLOB,
    PRIMARY KEY("persistence_id","sequence_number")
    );

CREATE SEQUENCE IF NOT EXISTS PUBLIC."global_offset_seq";

CREATE TABLE IF NOT EXISTS PUBLIC."durable_state" (
    "global_offset" BIGINT DEFAULT NEXT VALUE FOR PUBLIC."global_offset_seq",
    "persistence_id" VARCHAR(255) NOT NULL,
    "revision" BIGINT NOT NULL,
    "state_payload" BLOB NOT NULL,
    "state_serial_id" INTEGER NOT NULL,
    "state_serial_manifest" VARCHAR,
    "tag" VARCHAR,
    "state_timestamp" BIGINT NOT NULL,
    PRIMARY KEY("persistence_id")
    );
CREATE INDEX IF NOT EXISTS "state_tag_idx" on PUBLIC."durable_state" ("tag");
CREATE INDEX IF NOT EXISTS "state_global_offset_idx" on PUBLIC."durable_state" ("global_offset");

-- pmm-ha's fence (see postgres.sql); the H2 server's JVM clock stands for the database clock.
CREATE ALIAS IF NOT EXISTS PMM_HA_NOW_MS FOR 'java.lang.System.currentTimeMillis';
CREATE TABLE IF NOT EXISTS PUBLIC."pmm_ha_fence" (
  "id" INT PRIMARY KEY CHECK ("id" = 1),
  "epoch" BIGINT NOT NULL,
  "holder" VARCHAR(255) NOT NULL,
  "lease_until_ms" BIGINT NOT NULL,
  "released" BOOLEAN NOT NULL,
  "updated_ms" BIGINT NOT NULL
);
MERGE INTO PUBLIC."pmm_ha_fence" ("id", "epoch", "holder", "lease_until_ms", "released", "updated_ms")
  KEY ("id") SELECT 1, 0, '', 0, TRUE, 0 FROM DUAL WHERE NOT EXISTS (SELECT 1 FROM PUBLIC."pmm_ha_fence");
-- Why the last holder released the fence (see postgres.sql).
ALTER TABLE PUBLIC."pmm_ha_fence" ADD COLUMN IF NOT EXISTS "release_reason" VARCHAR(255) DEFAULT '' NOT NULL;
CREATE TRIGGER IF NOT EXISTS "pmm_ha_fence_check" BEFORE INSERT ON PUBLIC."event_tag"
  FOR EACH ROW CALL 'dev.pmmha.persistence.fence.H2FenceTrigger';

-- pmm-ha jobs (see postgres.sql): the registry and the tick claims.
CREATE TABLE IF NOT EXISTS PUBLIC."pmm_ha_jobs" (
  "job_id" VARCHAR(255) PRIMARY KEY,
  "shard" INT NOT NULL,
  "spec" VARCHAR,
  "node" VARCHAR(255),
  "node_since_ms" BIGINT,
  "updated_ms" BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS PUBLIC."pmm_ha_job_runs" (
  "job_id" VARCHAR(255) NOT NULL,
  "tick_ms" BIGINT NOT NULL,
  "node" VARCHAR(255) NOT NULL,
  "incarnation" VARCHAR(64) NOT NULL,
  "started_ms" BIGINT NOT NULL,
  "ended_ms" BIGINT,
  "exit_code" INT,
  "status" VARCHAR(16) NOT NULL,
  PRIMARY KEY ("job_id", "tick_ms")
);
