package dev.pmmha.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

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
 * PMM 3 with pmm-ha beside it, run for real: scripts/pmm-scenario.sh brings deploy/docker/compose.pmm.yaml up with
 * the PMM stand-in image (three PMM servers, pmm-ha beside each, PostgreSQL, HAProxy) and checks that HAProxy
 * serves the leader's PMM, that the leader-only pmm-agent follows the leader through docker kill and docker stop of
 * the leader's node, a kill and a freeze of its pmm-ha container alone (the guard in PMM's container stops
 * pmm-agent), a network cut, a partition from the peers and the failover lab's other network faults (delay and
 * loss on the leader, one-way drops in a ring, a bridge partition), and that it never ran on two nodes at once (from
 * its logs' timestamps). The script is the test; this class sets the engine up and fails with the script's report.
 */
@Tag("integration")
class PmmComposeIT {

  private static Map<String, String> engine;

  @BeforeAll
  static void engine() {
    engine = ContainerEngine.setUp("PmmComposeIT", List.of("PMM_SERVER_IMAGE"));
    assumeTrue(ContainerEngine.isRoot(), "PmmComposeIT skipped: its network faults add iptables rules and delay in "
        + "containers' network namespaces (nsenter), which needs root");
  }

  @Test
  void pmmAgentFollowsThePmmHaLeaderThroughNodeAndSidecarFaultsAndNeverRunsTwice() throws Exception {
    Path out = Repo.ROOT.resolve("deploy/target/pmm-scenario.log");
    Files.createDirectories(out.getParent());
    ProcessBuilder pb = new ProcessBuilder(Repo.ROOT.resolve("scripts/pmm-scenario.sh").toString())
        .directory(Repo.ROOT.toFile()).redirectErrorStream(true).redirectOutput(out.toFile());
    pb.environment().putAll(engine);
    pb.environment().put("PMM_HA_IT_LOG_DIR", Repo.ROOT.resolve("deploy/target/pmm-scenario-logs").toString());
    Process p = pb.start();
    boolean done = p.waitFor(15, TimeUnit.MINUTES);
    if (!done) {
      p.destroy(); // SIGTERM: the script's trap removes its containers, network and volumes
      p.waitFor(3, TimeUnit.MINUTES);
    }
    String log = Files.readString(out, StandardCharsets.UTF_8);
    System.out.println(log);
    assertTrue(done, "pmm-scenario.sh did not finish within 15 min:\n" + tail(log));
    assertEquals(0, p.exitValue(), "pmm-scenario.sh failed (full output in " + out + "):\n" + tail(log));
    assertTrue(log.contains("scenario[pmm]") && log.contains("PASSED") && log.contains("never ran on two nodes"),
        tail(log));
  }

  private static String tail(String log) {
    String[] lines = log.split("\n");
    return String.join("\n", List.of(lines).subList(Math.max(0, lines.length - 200), lines.length));
  }
}
