package dev.pmmha.runtime.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CliTest {

  record Result(int code, String out, String err) {}

  static Result cli(Map<String, String> env, String... args) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    int code = Cli.run(args, env, new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8));
    return new Result(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
  }

  @Test
  void grafanaEnvIsDerivedFromThePeersAsPmmDoes() {
    Result r = cli(Map.of(), "grafana-env", "--peers", "10.0.0.1,10.0.0.2,10.0.0.3", "--advertise", "10.0.0.2",
        "--grafana-gossip-port", "9094");
    assertEquals(0, r.code(), r.err());
    assertEquals(List.of("GF_UNIFIED_ALERTING_HA_LISTEN_ADDRESS=0.0.0.0:9094",
        "GF_UNIFIED_ALERTING_HA_ADVERTISE_ADDRESS=10.0.0.2:9094",
        "GF_UNIFIED_ALERTING_HA_PEERS=10.0.0.1:9094,10.0.0.2:9094,10.0.0.3:9094"), r.out().lines().toList());
    Result fromEnv = cli(Map.of("PMM_TEST_HA_PEERS", "a,b:9096,c", "PMM_TEST_HA_ADVERTISE_ADDRESS", "c",
        "PMM_TEST_HA_GRAFANA_GOSSIP_PORT", "9094"), "grafana-env");
    assertEquals("GF_UNIFIED_ALERTING_HA_PEERS=a:9094,b:9094,c:9094", fromEnv.out().lines().toList().get(2));
  }

  @Test
  void badUsageAndUnreachableNodesGetOneClearLine() {
    Result noPeers = cli(Map.of(), "haproxy-config");
    assertEquals(2, noPeers.code());
    assertTrue(noPeers.err().startsWith("pmm-ha haproxy-config: --peers is required"), noPeers.err());
    assertEquals(2, cli(Map.of(), "haproxy-config", "--peers", "a,b", "--http-port", "0").code());
    assertEquals(2, cli(Map.of(), "haproxy-config", "--peers", "a,b", "--probe-port", "probe").code());
    assertEquals(2, cli(Map.of(), "grafana-env", "--peers", "a,a", "--advertise", "a").code());
    assertEquals(2, cli(Map.of(), "status", "--url", "nonsense").code());
    assertEquals(2, cli(Map.of(), "frobnicate").code());
    Result down = cli(Map.of(), "status", "--url", "http://127.0.0.1:" + dev.pmmha.testkit.PostgresServer.freePort());
    assertEquals(1, down.code());
    assertTrue(down.err().contains("connection refused"), down.err());
    assertEquals(0, cli(Map.of(), "status", "--help").code());
  }

  @Test
  void statusShowsTheLeaderWithItsEpochAndTagsTheNodesThatNeverLead() throws Exception {
    var json = new com.fasterxml.jackson.databind.ObjectMapper();
    var nodes = json.readTree("""
        {"nodes":[{"node_name":"pmm-ha-2","role":"NODE_ROLE_LEADER","status":"alive","nofailover":false},
                  {"node_name":"pmm-ha-3","role":"NODE_ROLE_FOLLOWER","status":"alive","nofailover":true}],
         "expected_nodes":3}""");
    var leader = json.readTree("{\"node_id\":\"pmm-ha-2\",\"epoch\":2,\"since\":\"2026-12-02T08:00:00Z\"}");
    String nl = System.lineSeparator();
    assertEquals("NODE                     ROLE      STATUS   EPOCH  TAGS" + nl
        + "pmm-ha-2                 leader    alive    2" + nl
        + "pmm-ha-3                 follower  alive    -      nofailover" + nl
        + nl + "HA Enabled; expected nodes 3; leader pmm-ha-2 (epoch 2, since 2026-12-02T08:00:00Z)" + nl,
        Status.table(nodes, leader, "Enabled"));
  }

  @Test
  void bothGeneratedHaproxyConfigsAreAcceptedByHaproxy(@TempDir Path dir) throws Exception {
    Path haproxy = Path.of("/usr/sbin/haproxy");
    Assumptions.assumeTrue(Files.isExecutable(haproxy), "haproxy is not installed (scripts/test.sh installs it)");
    Result r = cli(Map.of(), "haproxy-config", "--peers", "10.0.0.1,10.0.0.2,10.0.0.3", "--no-https", "--out-dir", dir.toString());
    assertEquals(0, r.code(), r.err());
    for (String f : List.of("haproxy-guide.cfg", "haproxy-recommended.cfg")) {
      Process p = new ProcessBuilder(haproxy.toString(), "-c", "-f", dir.resolve(f).toString()).redirectErrorStream(true).start();
      String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      assertTrue(p.waitFor(30, TimeUnit.SECONDS));
      assertEquals(0, p.exitValue(), f + ": " + out);
    }
    String guide = Files.readString(dir.resolve("haproxy-guide.cfg"));
    assertTrue(guide.contains("http-check send meth POST uri /v1/leaderHealthCheck ver HTTP/1.1 hdr Host www"));
    assertTrue(guide.contains("server pmm-server-passive-http 10.0.0.2:8080 check backup"), guide);
    String recommended = Files.readString(dir.resolve("haproxy-recommended.cfg"));
    assertTrue(recommended.contains("option redispatch") && recommended.contains("on-marked-down shutdown-sessions"));
    assertTrue(recommended.contains("observe layer4 error-limit 1 on-error mark-down"), recommended);
    assertTrue(recommended.contains("option http-buffer-request"), recommended);
    assertTrue(recommended.contains("server pmm-ha-2 10.0.0.2:8080 check port 8079"), recommended);
    assertTrue(recommended.contains("http-request disable-l7-retry unless METH_GET || METH_HEAD || METH_OPTIONS || METH_PUT || METH_DELETE"),
        recommended);
  }
}
