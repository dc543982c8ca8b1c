package dev.pmmha.runtime.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.pmmha.runtime.LocalCluster;
import dev.pmmha.testkit.WithPostgres;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A cron job on a real node: it runs at its schedule's minute boundaries, with the tick as PMM_HA_JOB_TICK, and
 * the API shows its schedule. At most a minute of waiting (the next minute boundary).
 */
@Tag("integration")
class CronJobIT extends WithPostgres {

  @Test
  void aCronJobRunsAtTheMinuteBoundariesOfItsSchedule(@TempDir Path dir) throws Exception {
    Path ran = dir.resolve("ran.txt");
    Files.createFile(ran);
    try (LocalCluster c = LocalCluster.start(1, pg, pg.createDatabase())) {
      LocalCluster.Node n = c.waitForLeader(Duration.ofSeconds(60));
      String body = "{\"cron\":\"* * * * *\",\"timezone\":\"Asia/Kolkata\",\"command\":[\"/bin/sh\",\"-c\","
          + "\"echo $PMM_HA_JOB_TICK >> " + ran + "\"]}";
      HttpResponse<String> r = LocalCluster.eventually(Duration.ofSeconds(30), () -> {
        HttpResponse<String> put = LocalCluster.put(n, "/v1/ha/jobs/every-minute", body);
        return put.statusCode() == 503 ? null : put; // the job's shard is being placed: try again
      }, "the job written");
      assertEquals(200, r.statusCode(), r.body());
      long created = System.currentTimeMillis();

      List<String> lines = LocalCluster.eventually(Duration.ofSeconds(80), () -> {
        try {
          List<String> l = Files.readAllLines(ran);
          return l.isEmpty() ? null : l;
        } catch (java.io.IOException e) {
          throw new java.io.UncheckedIOException(e);
        }
      }, "a run of the cron job");
      long tick = Long.parseLong(lines.get(0).trim());
      // Kolkata is UTC+05:30: its minute boundaries are UTC's
      assertEquals(0, tick % 60_000, "the tick is a minute boundary: " + tick);
      assertTrue(tick > created - 1_000 && tick <= created + 61_000, "the first minute after the job was created: "
          + tick + " vs " + created);

      JsonNode job = c.json(n, "/v1/ha/jobs").get("jobs").get(0);
      assertEquals("every-minute", job.get("id").asText());
      assertEquals("* * * * *", job.get("cron").asText());
      assertEquals("Asia/Kolkata", job.get("timezone").asText());
      assertTrue(job.get("interval").isNull());
      assertEquals("1m", job.get("timeout").asText(), "the timeout defaults to the gap between ticks");
      JsonNode runs = LocalCluster.eventually(Duration.ofSeconds(10), () -> {
        JsonNode rr = c.json(n, "/v1/ha/jobs/every-minute/runs").get("runs");
        return rr.size() > 0 && "ok".equals(rr.get(0).path("status").asText()) ? rr : null;
      }, "the run recorded ok");
      assertEquals(java.time.Instant.ofEpochMilli(tick).toString(), runs.get(runs.size() - 1).get("tick").asText());
    }
  }
}
