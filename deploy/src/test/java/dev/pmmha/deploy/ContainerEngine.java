package dev.pmmha.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The container engine the Docker tests run on. Where {@code docker} already reaches an engine, that one is used.
 * Otherwise, as root on Debian, scripts/container-engine.sh sets podman up (Docker API) with local stand-ins for
 * the official images; elsewhere the test is skipped, with the reason. PMM_HA_TEST_CONTAINERS=off skips it too.
 */
final class ContainerEngine {

  private static final Pattern EXPORT = Pattern.compile("(?m)^export ([A-Z_]+)=(.*)$");

  private ContainerEngine() {}

  /**
   * The environment a scenario script needs: empty when {@code docker} already reaches an engine and every
   * variable in {@code images} is set (the images it names are then the caller's), else container-engine.sh's.
   */
  static Map<String, String> setUp(String test, List<String> images) {
    assumeTrue(System.getProperty("os.name").toLowerCase().contains("linux"), test + ": Linux only");
    String wanted = System.getenv().getOrDefault("PMM_HA_TEST_CONTAINERS", "on");
    assumeTrue(!List.of("0", "off", "false", "no").contains(wanted.toLowerCase()),
        test + " skipped: PMM_HA_TEST_CONTAINERS=" + wanted);
    if (images.stream().allMatch(v -> System.getenv(v) != null) && Tools.find("docker").isPresent()
        && Tools.run(List.of("docker", "info"), Map.of(), null, 30).exitCode() == 0) {
      return Map.of();
    }
    assumeTrue(isRoot(), test + " skipped: no container engine reachable (docker info) with " + images
        + " set, and not root, so scripts/container-engine.sh cannot set one up");
    assumeTrue(Tools.find("apt-get").isPresent() && Tools.find("dpkg-query").isPresent(),
        test + " skipped: no container engine reachable and not a Debian machine (scripts/container-engine.sh "
            + "installs podman with apt-get)");
    Tools.Result r = Tools.run(List.of(Repo.ROOT.resolve("scripts/container-engine.sh").toString()), Map.of(),
        Repo.ROOT, 1800);
    System.out.println(r.stderr());
    assertEquals(0, r.exitCode(), "scripts/container-engine.sh failed:\n" + r.stderr());
    Map<String, String> engine = new HashMap<>();
    Matcher m = EXPORT.matcher(r.stdout());
    while (m.find()) {
      engine.put(m.group(1), m.group(2));
    }
    assertTrue(engine.containsKey("DOCKER_HOST"), "container-engine.sh printed no DOCKER_HOST: " + r.stdout());
    return engine;
  }

  static boolean isRoot() {
    Tools.Result r = Tools.run(List.of("id", "-u"), Map.of(), null, 10);
    return r.exitCode() == 0 && r.stdout().strip().equals("0");
  }
}
