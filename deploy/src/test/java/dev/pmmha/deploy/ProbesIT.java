package dev.pmmha.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.pmmha.testkit.PostgresServer;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.Probe;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The Kubernetes Deployment's container, run here as a real process: its environment from deploy/k8s/base
 * (PostgreSQL from the Secret, prepared by the init script), started by the image's entrypoint, on free local
 * ports. Only what cannot exist offline changes: the pod IP is 127.0.0.1 and the peers come from a one-node
 * list instead of the Kubernetes API. Then every probe of the manifest gets 200 on the port it names, the
 * leader check stays a separate thing, and SIGTERM stops the node (leave and hand-over included) within
 * terminationGracePeriodSeconds.
 */
@Tag("integration")
class ProbesIT {

  @Test
  void theDeploymentsProbesAnswerOnARealNodeAndItStopsWithinTheGracePeriod() throws Exception {
    List<JsonNode> docs = new ArrayList<>(Kustomize.parseAll(Repo.read(Repo.K8S.resolve("base/deployment.yaml"))));
    docs.addAll(Kustomize.parseAll(Repo.read(Repo.K8S.resolve("base/postgres-secret.yaml"))));
    Manifests m = new Manifests(docs);
    Deployment deployment = m.get(Deployment.class, "pmm-ha");
    Container c = Manifests.container(deployment, "pmm-ha");
    Map<String, String> env = new LinkedHashMap<>(m.environment(c, Map.of(
        "metadata.name", "pmm-ha-6d8f7b9c4-x2kqp", "status.podIP", "127.0.0.1")));

    // the container's ports, moved to free ones here; the variables that set them follow
    Map<String, Integer> ports = new LinkedHashMap<>();
    Map<String, String> portVariable = Map.of(
        "http", "PMM_HA_HTTP_PORT", "probe", "PMM_HA_PROBE_PORT", "management", "PMM_HA_RAFT_PORT",
        "remoting", "PMM_HA_GOSSIP_PORT");
    c.getPorts().forEach(p -> {
      String variable = portVariable.get(p.getName());
      assertEquals(String.valueOf(p.getContainerPort()), env.get(variable), p.getName() + " is set by " + variable);
      int free = EntrypointRun.freePort();
      ports.put(p.getName(), free);
      env.put(variable, String.valueOf(free));
    });
    // no Kubernetes API here: the same cluster formation from a one-node peer list
    env.put("PMM_HA_DISCOVERY", "config");
    env.put("PMM_HA_PEERS", "127.0.0.1");
    // and the cluster this list forms has one node: the manifest's 3 would wait for two pods that never come
    assertEquals("3", env.get("PMM_HA_EXPECTED_NODES"), "the manifest forms a cluster of three");
    env.put("PMM_HA_EXPECTED_NODES", "1");
    env.put("PMM_HA_BIND_ADDRESS", "127.0.0.1");
    env.put("PMM_HA_JAR", EntrypointRun.jar().toString());

    try (PostgresServer pg = PostgresInit.startServer()) {
      // the Secret's user and password are the ones the init script creates
      env.put("PMM_POSTGRES_ADDR", PostgresInit.prepareFor(pg, env));

      try (EntrypointRun node = EntrypointRun.start(env, List.of(), Path.of("target", "it-logs", "probes.log"))) {
        String ready = url(ports, c.getReadinessProbe());
        node.await("200 from the readiness probe " + ready, Duration.ofSeconds(90),
            () -> EntrypointRun.status(ready) == 200);
        for (Probe p : List.of(c.getStartupProbe(), c.getReadinessProbe(), c.getLivenessProbe())) {
          assertEquals(200, EntrypointRun.status(url(ports, p)), url(ports, p));
        }
        String api = "http://127.0.0.1:" + ports.get("http");
        assertEquals(200, EntrypointRun.status(api + "/v1/readyz"));
        // one node: it is the leader, which the leader check (not a probe) says
        node.await("leadership", Duration.ofSeconds(30),
            () -> EntrypointRun.status("POST", api + "/v1/leaderHealthCheck") == 200);
        // HAProxy checks on the probe port (check port 8079): the same answer there
        assertEquals(200, EntrypointRun.status("POST", "http://127.0.0.1:" + ports.get("probe") + "/v1/leaderHealthCheck"));
        assertTrue(node.logText().contains("PostgreSQL 127.0.0.1:" + pg.port() + "/pmm-managed"),
            "the store is the PostgreSQL from the Secret's settings");

        long grace = deployment.getSpec().getTemplate().getSpec().getTerminationGracePeriodSeconds();
        long start = System.nanoTime();
        node.sigterm();
        int code = node.waitExit(Duration.ofSeconds(grace));
        Duration took = Duration.ofNanos(System.nanoTime() - start);
        assertTrue(code == 0 || code == 143, "graceful exit, not " + code + "; log:\n" + node.logText());
        System.out.println("probes: SIGTERM to exit took " + took.toMillis() + " ms (grace " + grace + " s)");
        assertEquals(-1, EntrypointRun.status(ready), "nothing answers after the exit");
      }
    }
  }

  private static String url(Map<String, Integer> ports, Probe p) {
    Integer port = ports.get(p.getHttpGet().getPort().getStrVal());
    return "http://127.0.0.1:" + port + p.getHttpGet().getPath();
  }
}
