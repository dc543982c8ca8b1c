package dev.pmmha.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsServer;
import dev.pmmha.runtime.config.PmmHaConfig;
import dev.pmmha.runtime.config.TlsSettings;
import dev.pmmha.testkit.PostgresServer;
import java.net.InetSocketAddress;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Kubernetes without Kubernetes: three real node processes find each other through Cluster Bootstrap's
 * kubernetes-api discovery against a fake API server (HTTPS, bearer token, pod lists in the real JSON shape),
 * and the leader keeps the label pmm-ha/role=leader on exactly its own pod, across a crash failover.
 */
@Tag("integration")
class KubernetesIT {

  static final String NS = "pmm";
  static final String TOKEN = "test-token-1";
  static final ObjectMapper JSON = new ObjectMapper();
  static final String[] IPS = {"127.0.0.51", "127.0.0.52", "127.0.0.53"};

  final List<NodeProcess> nodes = new ArrayList<>();
  final Map<String, Map<String, String>> labels = new HashMap<>(); // pod -> labels, guarded by itself
  final List<String> patches = new CopyOnWriteArrayList<>();
  final List<String> unauthorized = new CopyOnWriteArrayList<>();
  HttpsServer api;
  PostgresServer pg;

  @AfterEach
  void stop() {
    nodes.forEach(NodeProcess::close);
    if (api != null) {
      api.stop(0);
    }
    if (pg != null) {
      pg.close();
    }
  }

  ObjectNode pod(int i, int managementPort) {
    String name = "pmm-ha-" + i;
    ObjectNode p = JSON.createObjectNode();
    ObjectNode md = p.putObject("metadata");
    md.put("name", name).put("namespace", NS);
    ObjectNode l = md.putObject("labels");
    synchronized (labels) {
      labels.computeIfAbsent(name, k -> new HashMap<>(Map.of("app", "pmm-ha"))).forEach(l::put);
    }
    ObjectNode container = p.putObject("spec").putArray("containers").addObject();
    container.put("name", "pmm-ha");
    container.putArray("ports").addObject().put("name", "management").put("containerPort", managementPort).put("protocol", "TCP");
    ObjectNode st = p.putObject("status");
    st.put("phase", "Running").put("podIP", IPS[i - 1]);
    ObjectNode cs = st.putArray("containerStatuses").addObject();
    cs.put("name", "pmm-ha").put("ready", true).putObject("state").putObject("running");
    return p;
  }

  void handle(HttpExchange ex, int managementPort) throws java.io.IOException {
    String auth = ex.getRequestHeaders().getFirst("Authorization");
    if (!("Bearer " + TOKEN).equals(auth)) {
      unauthorized.add(ex.getRequestMethod() + " " + ex.getRequestURI());
      ex.sendResponseHeaders(401, -1);
      ex.close();
      return;
    }
    String path = ex.getRequestURI().getPath();
    byte[] out;
    if (ex.getRequestMethod().equals("GET") && path.equals("/api/v1/namespaces/" + NS + "/pods")) {
      String q = ex.getRequestURI().getRawQuery() == null ? "" : URLDecoder.decode(ex.getRequestURI().getRawQuery(), StandardCharsets.UTF_8);
      String selector = q.startsWith("labelSelector=") ? q.substring("labelSelector=".length()) : "";
      String[] kv = selector.split("=", 2);
      ObjectNode list = JSON.createObjectNode().put("kind", "PodList").put("apiVersion", "v1");
      var items = list.putArray("items");
      for (int i = 1; i <= 3; i++) {
        ObjectNode p = pod(i, managementPort);
        if (kv.length == 2 && !kv[1].equals(p.path("metadata").path("labels").path(kv[0]).asText(null))) {
          continue;
        }
        items.add(p);
      }
      out = JSON.writeValueAsBytes(list);
    } else if (ex.getRequestMethod().equals("PATCH") && path.startsWith("/api/v1/namespaces/" + NS + "/pods/")) {
      String name = path.substring(path.lastIndexOf('/') + 1);
      JsonNode patch = JSON.readTree(ex.getRequestBody());
      assertEquals("application/merge-patch+json", ex.getRequestHeaders().getFirst("Content-Type"));
      synchronized (labels) {
        Map<String, String> l = labels.computeIfAbsent(name, k -> new HashMap<>(Map.of("app", "pmm-ha")));
        patch.path("metadata").path("labels").fields().forEachRemaining(e -> {
          if (e.getValue().isNull()) {
            l.remove(e.getKey());
          } else {
            l.put(e.getKey(), e.getValue().asText());
          }
        });
      }
      patches.add(name + " " + patch.path("metadata").path("labels"));
      out = JSON.writeValueAsBytes(pod(Integer.parseInt(name.substring(name.length() - 1)), managementPort));
    } else {
      ex.sendResponseHeaders(404, -1);
      ex.close();
      return;
    }
    ex.getResponseHeaders().add("Content-Type", "application/json");
    ex.sendResponseHeaders(200, out.length);
    ex.getResponseBody().write(out);
    ex.close();
  }

  List<String> leaderPods() {
    synchronized (labels) {
      return labels.entrySet().stream().filter(e -> "leader".equals(e.getValue().get("pmm-ha/role")))
          .map(Map.Entry::getKey).sorted().toList();
    }
  }

  @Test
  void podsFindEachOtherThroughTheApiAndOnlyTheLeadersPodCarriesTheLabel(@TempDir Path dir) throws Exception {
    TlsClusterIT.makeCerts(dir, "api=127.0.0.1");
    Path token = Files.writeString(dir.resolve("token"), TOKEN);
    int management = PostgresServer.freePort();
    api = HttpsServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    api.setHttpsConfigurator(new HttpsConfigurator(TlsSettings.create(PmmHaConfig.load(Map.of(
        "PMM_HA_TLS_CERT", dir.resolve("api.crt").toString(), "PMM_HA_TLS_KEY", dir.resolve("api.key").toString(),
        "PMM_HA_TLS_CA", dir.resolve("ca.crt").toString()))).sslContext()));
    api.createContext("/", ex -> handle(ex, management));
    api.setExecutor(java.util.concurrent.Executors.newFixedThreadPool(4));
    api.start();

    pg = PostgresServer.start();
    String db = pg.createDatabase();
    int gossip = PostgresServer.freePort();
    int http = PostgresServer.freePort();
    int probe = PostgresServer.freePort();
    for (int i = 1; i <= 3; i++) {
      Map<String, String> env = new HashMap<>();
      env.put("PMM_HA_ENABLE", "1");
      env.put("PMM_HA_DISCOVERY", "kubernetes");
      env.put("PMM_HA_EXPECTED_NODES", "3");
      env.put("PMM_HA_NODE_ID", "pmm-ha-" + i);
      env.put("PMM_HA_ADVERTISE_ADDRESS", IPS[i - 1]);
      env.put("PMM_HA_BIND_ADDRESS", IPS[i - 1]);
      env.put("PMM_HA_GOSSIP_PORT", String.valueOf(gossip));
      env.put("PMM_HA_RAFT_PORT", String.valueOf(management));
      env.put("PMM_HA_HTTP_PORT", String.valueOf(http));
      env.put("PMM_HA_PROBE_PORT", String.valueOf(probe));
      env.put("KUBERNETES_SERVICE_HOST", "127.0.0.1");
      env.put("KUBERNETES_SERVICE_PORT", String.valueOf(api.getAddress().getPort()));
      env.put("PMM_HA_K8S_TOKEN_PATH", token.toString());
      env.put("PMM_HA_K8S_CA_PATH", dir.resolve("ca.crt").toString());
      env.put("PMM_HA_K8S_NAMESPACE", NS);
      env.put("PMM_HA_STORE_URL", db);
      env.put("PMM_POSTGRES_USERNAME", pg.user());
      env.put("PMM_POSTGRES_DBPASSWORD", pg.password());
      nodes.add(new NodeProcess("pmm-ha-" + i, IPS[i - 1], http, env, Path.of("target", "it-logs", "kubernetes")).start());
    }
    NodeProcess leader = LocalCluster.eventually(Duration.ofSeconds(150), () -> {
      List<NodeProcess> l = nodes.stream().filter(NodeProcess::isLeader).toList();
      return l.size() == 1 ? l.get(0) : null;
    }, "one leader, the cluster formed through kubernetes-api discovery");
    for (NodeProcess n : nodes) {
      ProcessClusterIT.waitForMember(n, 3, Duration.ofSeconds(60));
    }
    LocalCluster.eventually(Duration.ofSeconds(15), () -> leaderPods().equals(List.of(leader.name)) ? true : null,
        "the label on exactly " + leader.name + "'s pod: " + leaderPods());

    leader.kill9(); // its pod keeps the label: the next leader must take it off
    NodeProcess next = LocalCluster.eventually(Duration.ofSeconds(120), () -> {
      List<NodeProcess> l = nodes.stream().filter(NodeProcess::alive).filter(NodeProcess::isLeader).toList();
      return l.size() == 1 ? l.get(0) : null;
    }, "a new leader");
    assertNotEquals(leader, next);
    LocalCluster.eventually(Duration.ofSeconds(15), () -> leaderPods().equals(List.of(next.name)) ? true : null,
        "the label moved to exactly " + next.name + "'s pod: " + leaderPods() + ", patches " + patches);
    assertTrue(unauthorized.isEmpty(), "every API call carried the service account token: " + unauthorized);
    assertTrue(patches.stream().anyMatch(p -> p.startsWith(leader.name + " ") && p.contains("null")),
        "the old leader's label was removed by a PATCH: " + patches);
  }
}
