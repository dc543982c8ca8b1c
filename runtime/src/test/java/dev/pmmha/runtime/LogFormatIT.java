package dev.pmmha.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.pmmha.testkit.PostgresServer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** PMM_HA_LOG_FORMAT=json: every line a JSON object carrying the node; SIGTERM ends the node with exit code 0. */
@Tag("integration")
class LogFormatIT {

  @Test
  void jsonLogsCarryTheNodeAndAGracefulStopExitsZero(@TempDir Path dir) throws Exception {
    int http = PostgresServer.freePort();
    try (NodeProcess n = new NodeProcess("json-node", "127.0.0.1", http, Map.of(
        "PMM_HA_LOG_FORMAT", "json", "PMM_HA_NODE_ID", "json-node", "PMM_HA_HTTP_PORT", String.valueOf(http),
        "PMM_HA_PROBE_PORT", String.valueOf(PostgresServer.freePort()), "PMM_HA_DATA_DIR", dir.toString()), dir).start()) {
      LocalCluster.eventually(Duration.ofSeconds(60), () -> n.isLeader() ? true : null, "the single node to lead");
      // the node answers 200 as soon as it holds the fence; its election is logged once the epoch is written
      LocalCluster.eventually(Duration.ofSeconds(30), () -> logged(n, "LEADER elected: node json-node") ? true : null,
          "the election to be logged");
      assertEquals(0, n.term(Duration.ofSeconds(30)));
      List<String> lines = Files.readAllLines(n.log()).stream().filter(l -> !l.startsWith("=== start")).toList();
      assertTrue(lines.size() > 10, "logged something: " + lines);
      ObjectMapper json = new ObjectMapper();
      boolean sawElection = false;
      for (String line : lines) {
        JsonNode o = json.readTree(line);
        assertEquals("json-node", o.path("node").asText(), line);
        assertTrue(o.hasNonNull("message") && o.hasNonNull("level") && o.hasNonNull("@timestamp"), line);
        sawElection |= o.path("message").asText().startsWith("LEADER elected: node json-node");
      }
      assertTrue(sawElection, "the leadership change is one greppable line");
    }
  }

  private static boolean logged(NodeProcess n, String text) {
    try {
      return Files.readString(n.log()).contains(text);
    } catch (java.io.IOException e) {
      return false;
    }
  }
}
