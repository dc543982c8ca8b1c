package dev.pmmha.runtime.leader;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.pmmha.runtime.cluster.NodeState;
import dev.pmmha.runtime.config.PmmHaConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The namespace that /v1/ha/status reports (PMM's newer field): the pod's on Kubernetes, empty elsewhere. */
class PodNamespaceTest {

  @TempDir
  Path tmp;

  /** The node's configuration from {@code env}, as Main loads it, its service account files under tmp. */
  String namespace(Map<String, String> env) {
    Map<String, String> all = new HashMap<>(env);
    String nsPath = tmp.resolve("namespace").toString();
    return KubernetesLeaderLabel.podNamespace(
        com.typesafe.config.ConfigFactory.parseMap(Map.of("pmm-ha.kubernetes.namespace-path", nsPath))
            .withFallback(PmmHaConfig.load(all)),
        all);
  }

  @Test
  void emptyWhenNotOnKubernetes() throws Exception {
    Files.writeString(tmp.resolve("namespace"), "pmm\n"); // a stray file outside a pod is not read
    assertEquals("", namespace(Map.of()));
  }

  @Test
  void thePodsServiceAccountNamespaceInAPod() throws Exception {
    Files.writeString(tmp.resolve("namespace"), "pmm-prod\n");
    assertEquals("pmm-prod", namespace(Map.of("KUBERNETES_SERVICE_HOST", "10.96.0.1")));
  }

  @Test
  void theConfiguredNamespaceWins() throws Exception {
    Files.writeString(tmp.resolve("namespace"), "pmm-prod\n");
    assertEquals("monitoring",
        namespace(Map.of("KUBERNETES_SERVICE_HOST", "10.96.0.1", "PMM_HA_K8S_NAMESPACE", "monitoring")));
  }

  @Test
  void emptyInAPodWithoutAServiceAccountToken() {
    assertEquals("", namespace(Map.of("KUBERNETES_SERVICE_HOST", "10.96.0.1")));
  }

  @Test
  void theNodeStateServesIt() {
    assertEquals("pmm-prod", new NodeState(true, 3, "pmm-ha-0", "pmm-prod").namespace());
    assertEquals("", new NodeState(true, 3, "pmm-ha-0").namespace());
  }
}
