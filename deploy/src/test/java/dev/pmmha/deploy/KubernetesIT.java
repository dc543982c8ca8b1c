package dev.pmmha.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.pmmha.testkit.PostgresServer;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerStatus;
import io.fabric8.kubernetes.api.model.ContainerStatusBuilder;
import io.fabric8.kubernetes.api.model.ObjectMetaBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.PodSpecBuilder;
import io.fabric8.kubernetes.api.model.PodStatusBuilder;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * deploy/k8s/base on an API server without a cluster: every rendered object created in fabric8's API server mock
 * (CRUD mode, HTTPS) through the fabric8 client, then the Deployment's pods made from its template (as the
 * ReplicaSet would, status as the kubelet reports it) and their pmm-ha containers run as real processes through
 * the image's entrypoint, with the environment the manifest gives them. They find each other through
 * kubernetes-api discovery (the manifest's selector, run by the mock), the leader labels its own pod so that the
 * rendered pmm-ha-leader Service selects exactly it, and after a crash (SIGKILL) the next leader moves the label.
 * Only what a laptop has not got changes: pod IPs are loopback addresses, the ports are free ones, the service
 * account files are the test's, PostgreSQL is a throwaway server prepared by the init script.
 */
@Tag("integration")
class KubernetesIT {

  static final String NS = "pmm";
  static final String TOKEN = "test-token-1";
  static final String[] IPS = {"127.0.0.51", "127.0.0.52", "127.0.0.53"};
  static final ObjectMapper JSON = new ObjectMapper();

  final List<EntrypointRun> nodes = new ArrayList<>();
  final List<String> podNames = new ArrayList<>();
  final Map<String, Integer> ports = new LinkedHashMap<>();

  @Test
  void podsFromTheRenderFindEachOtherThroughTheApiAndTheLeaderServiceSelectsOnlyTheLeader(@TempDir Path dir)
      throws Exception {
    Manifests base = new Manifests(Kustomize.render(Repo.K8S.resolve("base")));
    Deployment deployment = base.get(Deployment.class, "pmm-ha");
    Container container = Manifests.container(deployment, "pmm-ha");
    int replicas = deployment.getSpec().getReplicas();
    assertEquals(IPS.length, replicas, "a loopback address per replica");
    Path token = Files.writeString(dir.resolve("token"), TOKEN);
    Map<String, String> portVariable = Map.of(
        "http", "PMM_HA_HTTP_PORT", "probe", "PMM_HA_PROBE_PORT", "management", "PMM_HA_RAFT_PORT",
        "remoting", "PMM_HA_GOSSIP_PORT");
    container.getPorts().forEach(p -> ports.put(p.getName(), EntrypointRun.freePort()));

    try (ApiServer api = new ApiServer(TOKEN); PostgresServer pg = PostgresInit.startServer()) {
      base.createIn(api.client, NS);
      String pgAddr = null;
      String selector = null;
      try {
        for (int i = 0; i < replicas; i++) {
          Pod pod = createPod(api, deployment, "pmm-ha-6d8f7b9c4-" + (char) ('a' + i), IPS[i]);
          String name = pod.getMetadata().getName();
          podNames.add(name);
          Map<String, String> env = new LinkedHashMap<>(base.environment(container, Map.of(
              "metadata.name", name, "metadata.namespace", NS, "status.podIP", IPS[i])));
          ports.forEach((port, free) -> env.put(portVariable.get(port), String.valueOf(free)));
          env.put("PMM_HA_BIND_ADDRESS", IPS[i]);
          // what the kubelet gives every pod: the API's address and the service account's files
          env.put("KUBERNETES_SERVICE_HOST", api.host());
          env.put("KUBERNETES_SERVICE_PORT", String.valueOf(api.port()));
          env.put("PMM_HA_K8S_TOKEN_PATH", token.toString());
          env.put("PMM_HA_K8S_CA_PATH", api.ca.toString());
          env.put("PMM_HA_K8S_NAMESPACE", NS);
          selector = env.get("PMM_HA_K8S_POD_LABEL_SELECTOR");
          if (pgAddr == null) {
            pgAddr = PostgresInit.prepareFor(pg, env);
          }
          env.put("PMM_POSTGRES_ADDR", pgAddr);
          env.put("PMM_HA_JAR", EntrypointRun.jar().toString());
          nodes.add(EntrypointRun.start(env, List.of(), Path.of("target", "it-logs", "kubernetes", name + ".log")));
        }
        Service leaderService = base.get(Service.class, "pmm-ha-leader");
        int leader = waitForOneLeader(nodes.get(0), Duration.ofSeconds(150), -1);
        for (int i = 0; i < replicas; i++) {
          int n = i;
          nodes.get(i).await(replicas + " members alive", Duration.ofSeconds(60), () -> aliveMembers(n) == replicas);
        }
        nodes.get(leader).await("the pmm-ha-leader Service selecting exactly " + podNames.get(leader),
            Duration.ofSeconds(15), () -> List.of(podNames.get(leader)).equals(selected(api, leaderService)));

        nodes.get(leader).process.destroyForcibly(); // its pod keeps the label: the next leader must take it off
        int survivor = leader == 0 ? 1 : 0;
        int next = waitForOneLeader(nodes.get(survivor), Duration.ofSeconds(120), leader);
        assertNotEquals(leader, next);
        nodes.get(next).await("the label moved to exactly " + podNames.get(next) + "'s pod",
            Duration.ofSeconds(15), () -> List.of(podNames.get(next)).equals(selected(api, leaderService)));

        List<String> unauthorized = api.calls.stream().filter(c -> !("Bearer " + TOKEN).equals(c.authorization()))
            .map(c -> c.method() + " " + c.path()).toList();
        assertTrue(unauthorized.isEmpty(), "every API call carried the service account token: " + unauthorized);
        List<ApiServer.Call> patches = api.calls.stream().filter(c -> c.method().equals("PATCH")).toList();
        assertEquals(List.of("application/merge-patch+json"),
            patches.stream().map(ApiServer.Call::contentType).distinct().toList(), "the label is set by merge patches");
        String list = "/api/v1/namespaces/" + NS + "/pods?labelSelector=" + selector;
        assertTrue(api.calls.stream().anyMatch(c -> c.method().equals("GET")
                && URLDecoder.decode(c.path(), StandardCharsets.UTF_8).equals(list)),
            "the discovery listed the pods with the manifest's selector: GET " + list);
        assertTrue(patches.stream().anyMatch(c -> c.path().endsWith("/pods/" + podNames.get(leader))
                && c.body().contains("null")),
            "the old leader's label was removed by a PATCH: " + patches);
      } finally {
        nodes.forEach(EntrypointRun::close);
      }
    }
  }

  /** A pod of the Deployment, as its ReplicaSet creates it, with the status the kubelet then reports. */
  private Pod createPod(ApiServer api, Deployment d, String name, String ip) {
    var template = d.getSpec().getTemplate();
    Pod pod = new PodBuilder().withMetadata(new ObjectMetaBuilder(template.getMetadata()).withName(name).build())
        .withSpec(new PodSpecBuilder(template.getSpec()).build()).build();
    // the pmm-ha container's ports are the free ones its environment names
    pod.getSpec().getContainers().stream().filter(c -> c.getName().equals("pmm-ha")).findFirst().orElseThrow()
        .getPorts().forEach(p -> p.setContainerPort(ports.get(p.getName())));
    Pod created = api.client.pods().inNamespace(NS).resource(pod).create();
    List<ContainerStatus> running = pod.getSpec().getContainers().stream().map(c -> new ContainerStatusBuilder()
        .withName(c.getName()).withReady(true).withNewState().withNewRunning().endRunning().endState().build()).toList();
    created.setStatus(new PodStatusBuilder().withPhase("Running").withPodIP(ip).withContainerStatuses(running).build());
    return api.client.pods().inNamespace(NS).resource(created).updateStatus();
  }

  private String http(int node) {
    return "http://" + IPS[node] + ":" + ports.get("http");
  }

  /** The one live node (not {@code dead}) that answers the leader check with 200, polled through a live node. */
  private int waitForOneLeader(EntrypointRun watched, Duration timeout, int dead) {
    AtomicReference<Integer> found = new AtomicReference<>();
    watched.await("exactly one leader among the pods", timeout, () -> {
      List<Integer> leaders = new ArrayList<>();
      for (int i = 0; i < nodes.size(); i++) {
        if (i != dead && EntrypointRun.status("POST", http(i) + "/v1/leaderHealthCheck") == 200) {
          leaders.add(i);
        }
      }
      found.set(leaders.size() == 1 ? leaders.get(0) : null);
      return found.get() != null;
    });
    return found.get();
  }

  /** Members with status alive in /v1/ha/nodes once the node is ready; -1 before. */
  private int aliveMembers(int node) {
    String body = EntrypointRun.status(http(node) + "/v1/readyz") == 200
        ? EntrypointRun.body(http(node) + "/v1/ha/nodes") : null;
    if (body == null) {
      return -1;
    }
    try {
      int alive = 0;
      for (JsonNode n : JSON.readTree(body).path("nodes")) {
        alive += n.path("status").asText().equals("alive") ? 1 : 0;
      }
      return alive;
    } catch (java.io.IOException e) {
      throw new AssertionError("/v1/ha/nodes on " + IPS[node] + ": " + e);
    }
  }

  /**
   * The pods the API lists for a Service's selector, when every pod labelled pmm-ha/role=leader is among them
   * (else null: a labelled pod the Service does not select).
   */
  private static List<String> selected(ApiServer api, Service svc) {
    List<String> bySelector = names(api.client.pods().inNamespace(NS).withLabels(svc.getSpec().getSelector()).list()
        .getItems());
    List<String> labelled = names(api.client.pods().inNamespace(NS).withLabel("pmm-ha/role", "leader").list()
        .getItems());
    return bySelector.equals(labelled) ? bySelector : null;
  }

  private static List<String> names(List<Pod> pods) {
    return pods.stream().map(p -> p.getMetadata().getName()).sorted().toList();
  }
}
