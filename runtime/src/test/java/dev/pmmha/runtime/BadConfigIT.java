package dev.pmmha.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** A bad or missing value stops the real process at once: one line naming the variable, exit code 2. */
@Tag("integration")
class BadConfigIT {

  static Stream<Arguments> badEnvironments() {
    return Stream.of(
        Arguments.of(Map.of("PMM_HA_ENABLE", "1"), "PMM_HA_PEERS=\"\""),
        Arguments.of(Map.of("PMM_TEST_HA_ENABLE", "1"), "PMM_HA_PEERS=\"\""),
        Arguments.of(Map.of("PMM_HA_ENABLE", "sometimes"), "PMM_HA_ENABLE=\"sometimes\""),
        Arguments.of(Map.of("PMM_HA_ENABLE", "1", "PMM_HA_PEERS", "127.0.0.1", "PMM_HA_NOFAILOVER", "maybe"),
            "PMM_HA_NOFAILOVER=\"maybe\""),
        Arguments.of(Map.of("PMM_HA_NOFAILOVER", "true"), "PMM_HA_NOFAILOVER=\"true\""),
        Arguments.of(Map.of("PMM_HA_ENABLE", "1", "PMM_HA_ADVERTISE_ADDRESS", "10.9.9.9",
            "PMM_HA_PEERS", "10.9.9.1,10.9.9.2"), "PMM_HA_PEERS=\"10.9.9.1,10.9.9.2\""),
        Arguments.of(Map.of("PMM_TEST_HA_ENABLE", "1", "PMM_TEST_HA_ADVERTISE_ADDRESS", "10.9.9.1",
            "PMM_TEST_HA_PEERS", "10.9.9.1,10.9.9.1"), "PMM_TEST_HA_PEERS=\"10.9.9.1,10.9.9.1\""),
        Arguments.of(Map.of("PMM_HA_GOSSIP_PORT", "0"), "PMM_HA_GOSSIP_PORT=\"0\""),
        Arguments.of(Map.of("PMM_TEST_HA_RAFT_PORT", "ninety"), "PMM_TEST_HA_RAFT_PORT=\"ninety\""),
        Arguments.of(Map.of("PMM_HA_HTTP_PORT", "65536"), "PMM_HA_HTTP_PORT=\"65536\""),
        Arguments.of(Map.of("PMM_HA_PROBE_PORT", "probe"), "PMM_HA_PROBE_PORT=\"probe\""),
        Arguments.of(Map.of("PMM_HA_PROBE_PORT", "8080"), "PMM_HA_PROBE_PORT=\"8080\""),
        Arguments.of(Map.of("PMM_HA_NODE_ID", "bad id"), "PMM_HA_NODE_ID=\"bad id\""),
        Arguments.of(Map.of("PMM_HA_JOIN_TIMEOUT", "later"), "PMM_HA_JOIN_TIMEOUT=\"later\""),
        Arguments.of(Map.of("PMM_HA_FORMATION_WAIT", "soon"), "PMM_HA_FORMATION_WAIT=\"soon\""),
        Arguments.of(Map.of("PMM_POSTGRES_ADDR", "db:port"), "PMM_POSTGRES_ADDR=\"db:port\""),
        Arguments.of(Map.of("PMM_POSTGRES_ADDR", "pg-a:5432,,pg-b:5432"), "PMM_POSTGRES_ADDR=\"pg-a:5432,,pg-b:5432\""),
        Arguments.of(Map.of("PMM_POSTGRES_ADDR", "pg-a:5432,pg-b:70000"), "PMM_POSTGRES_ADDR=\"pg-b:70000\""),
        Arguments.of(Map.of("PMM_POSTGRES_ADDR", "pg-a,pg-a:5432"), "PMM_POSTGRES_ADDR=\"pg-a,pg-a:5432\""),
        Arguments.of(Map.of("PMM_HA_STORE_URL", "jdbc:postgresql://pg-a,pg-b/pmm?targetServerType=any"),
            "PMM_HA_STORE_URL=\"jdbc:postgresql://pg-a,pg-b/pmm?targetServerType=any\""),
        Arguments.of(Map.of("PMM_HA_STORE_URL", "postgres://x"), "PMM_HA_STORE_URL=\"postgres://x\""),
        Arguments.of(Map.of("PMM_HA_LOG_FORMAT", "xml"), "PMM_HA_LOG_FORMAT=\"xml\""),
        // renew-interval < ttl - margin: 1500 ms is not below 2 s - 500 ms (the margin named, not the default's)
        Arguments.of(Map.of("PMM_HA_LEASE_TTL", "2s", "PMM_HA_LEASE_RENEW_INTERVAL", "1500ms",
                "PMM_HA_LEASE_SAFETY_MARGIN", "500ms"),
            "PMM_HA_LEASE_RENEW_INTERVAL=\"1500ms\""),
        Arguments.of(Map.of("PMM_HA_LEADER_COMMAND", "true", "PMM_HA_LEASE_SAFETY_MARGIN", "5s"),
            "PMM_HA_LEASE_SAFETY_MARGIN=\"5s\""));
  }

  @ParameterizedTest
  @MethodSource("badEnvironments")
  void badValueGivesOneLineAndExitCode2(Map<String, String> env, String expectedStart) throws Exception {
    ProcessBuilder pb = new ProcessBuilder(List.of(
        Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-XX:TieredStopAtLevel=1", "-jar",
        NodeProcess.JAR.toString()));
    pb.environment().keySet().removeIf(k -> k.startsWith("PMM_"));
    pb.environment().putAll(env);
    pb.environment().put("PMM_HA_DATA_DIR", Path.of("target", "bad-config-data").toAbsolutePath().toString());
    Process p = pb.start();
    assertTrue(p.waitFor(60, TimeUnit.SECONDS), "exits at once");
    String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertEquals(2, p.exitValue(), err + out);
    List<String> lines = err.lines().toList();
    assertEquals(1, lines.size(), "exactly one line: " + err);
    assertTrue(lines.get(0).startsWith("pmm-ha: configuration error: " + expectedStart), lines.get(0));
    assertTrue(lines.get(0).contains("expected"), "says what is expected: " + lines.get(0));
    assertFalse(err.contains("\tat "), "no stack trace");
    assertTrue(out.isBlank(), "nothing else printed: " + out);
  }
}
