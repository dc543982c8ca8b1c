package dev.pmmha.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.pmmha.testkit.PostgresServer;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.PodStatusBuilder;
import io.fabric8.kubernetes.client.ConfigBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.server.mock.KubernetesMixedDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import io.fabric8.mockwebserver.http.MockResponse;
import io.fabric8.mockwebserver.http.RecordedRequest;
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
 * kubernetes-api discovery against fabric8's API server mock in CRUD mode (HTTPS; pods created and their status
 * set through the fabric8 client, listed by the mock's own label selector code), and the leader keeps the label
 * pmm-ha/role=leader on exactly its own pod, across a crash failover, by merge patches the mock applies. The mock
 * checks no token, so every request it recorded is checked for the service account's afterwards.
 */
@Tag("integration")
class KubernetesIT {

  static final String NS = "pmm";
  static final String TOKEN = "test-token-1";
  static final String[] IPS = {"127.0.0.51", "127.0.0.52", "127.0.0.53"};

  final List<NodeProcess> nodes = new ArrayList<>();
  final List<Call> calls = new CopyOnWriteArrayList<>();
  KubernetesMockServer api;
  KubernetesClient client;
  PostgresServer pg;

  @AfterEach
  void stop() {
    nodes.forEach(NodeProcess::close);
    if (client != null) {
      client.close();
    }
    if (api != null) {
      api.destroy();
    }
    if (pg != null) {
      pg.close();
    }
  }

  /** A pod as the kubelet reports it once its container runs: created, then its status set (a subresource). */
  void createPod(int i, int managementPort) {
    Pod pod = client.pods().inNamespace(NS).resource(new PodBuilder()
        .withNewMetadata().withName("pmm-ha-" + i).addToLabels("app", "pmm-ha").endMetadata()
        .withNewSpec().addNewContainer().withName("pmm-ha").withImage("pmm-ha")
        .addNewPort().withName("management").withContainerPort(managementPort).withProtocol("TCP").endPort()
        .endContainer().endSpec().build()).create();
    pod.setStatus(new PodStatusBuilder().withPhase("Running").withPodIP(IPS[i - 1])
        .addNewContainerStatus().withName("pmm-ha").withReady(true).withNewState().withNewRunning().endRunning()
        .endState().endContainerStatus().build());
    client.pods().inNamespace(NS).resource(pod).updateStatus();
  }

  /** The pods the API lists with pmm-ha/role=leader. */
  List<String> leaderPods() {
    return client.pods().inNamespace(NS).withLabel("pmm-ha/role", "leader").list().getItems().stream()
        .map(p -> p.getMetadata().getName()).sorted().toList();
  }

  /** A request the mock received, as it came (the CRUD dispatcher consumes the body, so it is copied first). */
  record Call(String method, String path, String authorization, String contentType, String body) {}

  /** The leader label's PATCH requests: pod name and body. */
  List<String> patches() {
    return calls.stream().filter(c -> c.method().equals("PATCH"))
        .map(c -> c.path().substring(c.path().lastIndexOf('/') + 1) + " " + c.body()).toList();
  }

  @Test
  void podsFindEachOtherThroughTheApiAndOnlyTheLeadersPodCarriesTheLabel(@TempDir Path dir) throws Exception {
    Path token = Files.writeString(dir.resolve("token"), TOKEN);
    int management = PostgresServer.freePort();
    api = new KubernetesMockServer(new Context(Serialization.jsonMapper()), new MockWebServer(), new HashMap<>(),
        new KubernetesMixedDispatcher(new HashMap<>()) {
          @Override
          public MockResponse dispatch(RecordedRequest r) {
            calls.add(new Call(r.getMethod(), r.getPath(), r.getHeader("Authorization"), r.getHeader("Content-Type"),
                new String(r.getBody().getBytes(), StandardCharsets.UTF_8)));
            MockResponse response = super.dispatch(r);
            // the mock sends its JSON with no Content-Type, which Pekko's discovery refuses (as octet-stream);
            // the API server labels it application/json
            if (response.header("Content-Type") == null && response.getBody() != null
                && response.getBody().size() > 0) {
              response.setHeader("Content-Type", "application/json");
            }
            return response;
          }
        }, true);
    api.init(); // HTTPS on 127.0.0.1 with a self-signed certificate for "localhost"
    Path ca = Path.of(api.getSelfSignedCertificate().certificatePath());
    client = new KubernetesClientBuilder().withConfig(new ConfigBuilder().withMasterUrl(api.url("/"))
        .withCaCertFile(ca.toString()).withOauthToken(TOKEN).withNamespace(NS).build()).build();
    for (int i = 1; i <= 3; i++) {
      createPod(i, management);
    }

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
      env.put("KUBERNETES_SERVICE_HOST", api.getHostName());
      env.put("KUBERNETES_SERVICE_PORT", String.valueOf(api.getPort()));
      env.put("PMM_HA_K8S_TOKEN_PATH", token.toString());
      env.put("PMM_HA_K8S_CA_PATH", ca.toString());
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
        "the label moved to exactly " + next.name + "'s pod: " + leaderPods() + ", patches " + patches());
    List<String> unauthorized = calls.stream()
        .filter(c -> !("Bearer " + TOKEN).equals(c.authorization()))
        .map(c -> c.method() + " " + c.path()).toList();
    assertTrue(unauthorized.isEmpty(), "every API call carried the service account token: " + unauthorized);
    List<String> patchTypes = calls.stream().filter(c -> c.method().equals("PATCH"))
        .map(Call::contentType).distinct().toList();
    assertEquals(List.of("application/merge-patch+json"), patchTypes, "the label is set by JSON merge patches");
    assertTrue(calls.stream().anyMatch(c -> c.method().equals("GET") && c.path().startsWith(
        "/api/v1/namespaces/" + NS + "/pods?labelSelector=")), "the pods were listed by label selector");
    assertTrue(patches().stream().anyMatch(p -> p.startsWith(leader.name + " ") && p.contains("null")),
        "the old leader's label was removed by a PATCH: " + patches());
  }
}
