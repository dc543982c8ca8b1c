package dev.pmmha.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Every HAProxy configuration in deploy/ passes {@code haproxy -c} (with a certificate from make-cert.sh where
 * the config loads one). Skipped, with a message, where HAProxy is not installed.
 */
class HaproxyConfigTest {

  @TempDir
  static Path tmp;
  static Path haproxy;
  static Path certs;

  @BeforeAll
  static void setUp() {
    var found = Tools.find("haproxy");
    assumeTrue(found.isPresent(), "haproxy is not installed: the HAProxy configurations were not checked with "
        + "haproxy -c (apt-get install haproxy to run this test)");
    haproxy = found.get();
    certs = tmp.resolve("certs");
    Tools.Result r = MakeCertTest.makeCert(certs, Map.of());
    assertEquals(0, r.exitCode(), r.stderr());
  }

  /** haproxy -c on the file, its certificate path pointed at the test's certificate. */
  static Tools.Result check(String config) throws Exception {
    assertTrue(config.contains("/etc/haproxy/certs/pmm.pem"), "loads the certificate where compose and the "
        + "Kubernetes Deployment mount it");
    Path file = Files.createTempFile(tmp, "haproxy-", ".cfg");
    // files mounted next to the config in the HAProxy container (the Lua action) are read from deploy/haproxy/
    Files.writeString(file, config.replace("/etc/haproxy/certs/", certs + "/")
        .replace("/usr/local/etc/haproxy/", Repo.HAPROXY.toAbsolutePath() + "/"));
    return Tools.run(Tools.cmd(haproxy, "-c", "-f", file),
        Map.of("POD_NAMESPACE", "pmm", "CLUSTER_DOMAIN", "cluster.local"), null, 30);
  }

  @ParameterizedTest
  @ValueSource(strings = {"haproxy/haproxy.cfg", "haproxy/pmm-ha-recommended.cfg", "k8s/base/haproxy.cfg",
      "haproxy/pmm.cfg", "k8s/overlays/pmm-sidecar/haproxy.cfg"})
  void configurationIsValid(String file) throws Exception {
    Tools.Result r = check(Repo.read(Repo.DEPLOY.resolve(file)));
    assertEquals(0, r.exitCode(), file + ":\n" + r.stdout() + r.stderr());
    assertTrue((r.stdout() + r.stderr()).contains("Configuration file is valid"), r.stdout() + r.stderr());
  }

  @Test
  void aBrokenConfigurationFailsTheCheck() throws Exception {
    String broken = Repo.read(Repo.HAPROXY.resolve("haproxy.cfg"))
        .replace("172.20.0.6:8080 check backup", "172.20.0.6:8080 chek backup");
    Tools.Result r = check(broken);
    assertNotEquals(0, r.exitCode(), "haproxy -c accepts a misspelt keyword: the check above would prove nothing");
  }

  @Test
  void theKubernetesConfigRetriesAndChecksAsTheRecommendedOne() {
    HaproxyConfig recommended = HaproxyConfig.parse(Repo.read(Repo.HAPROXY.resolve("pmm-ha-recommended.cfg")));
    HaproxyConfig k8s = HaproxyConfig.parse(Repo.read(Repo.K8S.resolve("base/haproxy.cfg")));
    for (String prefix : List.of("default-server", "retries", "retry-on", "option redispatch", "option http-buffer-request",
        "timeout connect", "timeout check")) {
      List<String> wanted = recommended.section("defaults").stream().filter(l -> l.startsWith(prefix)).toList();
      assertEquals(1, wanted.size(), prefix);
      assertEquals(wanted, k8s.section("defaults").stream().filter(l -> l.startsWith(prefix)).toList(), prefix);
    }
    assertTrue(k8s.section("backend http_back")
        .contains("http-request disable-l7-retry unless METH_GET || METH_HEAD || METH_OPTIONS || METH_PUT || METH_DELETE"),
        "requests that are not idempotent are not replayed after they reached a pod");
  }

  @Test
  void recommendedSettingsAreThereEachWithItsReason() {
    String text = Repo.read(Repo.HAPROXY.resolve("pmm-ha-recommended.cfg"));
    HaproxyConfig cfg = HaproxyConfig.parse(text);
    List<String> defaults = cfg.section("defaults");
    for (String setting : List.of(
        "default-server inter 500ms fastinter 100ms downinter 100ms fall 2 rise 1 on-marked-down shutdown-sessions "
            + "observe layer4 error-limit 1 on-error mark-down",
        "option redispatch 1", "retry-on all-retryable-errors", "retries 3", "option http-buffer-request")) {
      assertTrue(defaults.contains(setting), "defaults: " + setting);
    }
    for (String backend : cfg.names("backend")) {
      assertTrue(cfg.section("backend " + backend)
          .contains("http-request disable-l7-retry unless METH_GET || METH_HEAD || METH_OPTIONS || METH_PUT || METH_DELETE"),
          backend + ": requests that are not idempotent are not replayed after they reached a server");
    }
    // the checks go to the nodes' probe port (PMM_HA_PROBE_PORT), traffic to the API port
    for (String backend : cfg.names("backend")) {
      List<String> servers = cfg.lines("backend " + backend, "server");
      assertEquals(3, servers.size(), backend);
      for (String server : servers) {
        assertTrue(server.matches("server \\S+ \\S+:8080 check port 8079"), server);
      }
    }
    // while no leader is in service a request waits for one (the Lua action compose mounts next to the config)
    assertEquals(List.of("lua-load /usr/local/etc/haproxy/pmm-ha-wait-for-leader.lua"), cfg.lines("global", "lua-load"));
    assertTrue(Files.isRegularFile(Repo.HAPROXY.resolve("pmm-ha-wait-for-leader.lua")));
    assertEquals(List.of("http-request lua.pmm-ha-wait-for-leader http_back 5000 if { nbsrv(http_back) eq 0 }"),
        cfg.section("frontend http_front").stream().filter(l -> l.startsWith("http-request lua.")).toList());
    assertEquals(List.of("http-request lua.pmm-ha-wait-for-leader https_back 5000 if { nbsrv(https_back) eq 0 }"),
        cfg.section("frontend https_front").stream().filter(l -> l.startsWith("http-request lua.")).toList());
    // a comment right above every setting of the defaults section beyond the guide's
    List<String> lines = text.lines().toList();
    List<String> guide = List.of("log global", "mode http", "option httplog", "option dontlognull");
    boolean inDefaults = false;
    for (int i = 0; i < lines.size(); i++) {
      String l = lines.get(i);
      if (!l.isBlank() && !Character.isWhitespace(l.charAt(0))) {
        inDefaults = l.startsWith("defaults");
        continue;
      }
      String setting = l.strip().replaceAll("\\s+", " ");
      if (!inDefaults || setting.isEmpty() || setting.startsWith("#") || guide.contains(setting)) {
        continue;
      }
      int j = i - 1;
      while (j >= 0 && !lines.get(j).strip().startsWith("#") && !lines.get(j).isBlank()
          && !guide.contains(lines.get(j).strip().replaceAll("\\s+", " "))) {
        j--; // settings that share one comment (timeouts)
      }
      assertTrue(j >= 0 && lines.get(j).strip().startsWith("#"), "no comment explains: " + setting);
    }
  }
}
