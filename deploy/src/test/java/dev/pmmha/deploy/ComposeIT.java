package dev.pmmha.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The Docker topology run for real on a container engine: scripts/docker-scenario.sh builds the image from this
 * checkout, brings up PostgreSQL, three nodes and HAProxy on 172.20.0.0/24, and checks one leader through
 * HAProxy on HTTP and HTTPS, a settings write read back on every node, failover on {@code docker kill} (within
 * 5 s) and on {@code docker stop} under 50 requests/s (0 failed), a clean stop of every node (exit 0 within
 * 10 s) and the state kept across down and up. The script is the test (the same run by hand); this class sets the
 * engine up and fails with the script's report, which names the failed check and shows the container's log.
 *
 * <p>Where {@code docker} already reaches an engine, that one is used. Otherwise, as root on Debian,
 * scripts/container-engine.sh sets podman up (Docker API) with local stand-ins for the official images;
 * elsewhere the test is skipped, with the reason.
 */
@Tag("integration")
class ComposeIT {

  private static Map<String, String> engine;

  @BeforeAll
  static void engine() {
    engine = ContainerEngine.setUp("ComposeIT", List.of());
  }

  @Test
  void composeTopologyElectsFailsOverStopsCleanlyAndKeepsItsState() throws Exception {
    scenario("compose");
  }

  @Test
  void theGuidesManualDockerRunStepsPassTheSameChecks() throws Exception {
    scenario("manual");
  }

  /** Runs docker-scenario.sh MODE; its output goes to target/ and to this test's output. */
  private static void scenario(String mode) throws IOException, InterruptedException {
    Path out = Repo.ROOT.resolve("deploy/target/docker-scenario-" + mode + ".log");
    Files.createDirectories(out.getParent());
    ProcessBuilder pb = new ProcessBuilder(Repo.ROOT.resolve("scripts/docker-scenario.sh").toString(), mode)
        .directory(Repo.ROOT.toFile()).redirectErrorStream(true).redirectOutput(out.toFile());
    pb.environment().putAll(engine);
    pb.environment().put("PMM_HA_IT_LOG_DIR",
        Repo.ROOT.resolve("deploy/target/docker-scenario-" + mode + "-logs").toString());
    // HAProxy's fast-failover configuration: the guide's (checks every 2 s, 3 failures) cannot fail over in 5 s
    pb.environment().put("HAPROXY_CONFIG_OVERRIDE", "pmm-ha-recommended.cfg");
    Process p = pb.start();
    boolean done = p.waitFor(25, TimeUnit.MINUTES);
    if (!done) {
      // SIGTERM: the script's trap removes its containers, network and volumes
      p.destroy();
      p.waitFor(3, TimeUnit.MINUTES);
    }
    String log = Files.readString(out, StandardCharsets.UTF_8);
    System.out.println(log);
    assertTrue(done, "docker-scenario.sh " + mode + " did not finish within 25 min:\n" + tail(log));
    assertEquals(0, p.exitValue(), "docker-scenario.sh " + mode + " failed (full output in " + out + "):\n"
        + tail(log));
    assertTrue(log.contains("scenario[" + mode + "]") && log.contains("PASSED"), tail(log));
  }

  private static String tail(String log) {
    String[] lines = log.split("\n");
    return String.join("\n", List.of(lines).subList(Math.max(0, lines.length - 200), lines.length));
  }
}
