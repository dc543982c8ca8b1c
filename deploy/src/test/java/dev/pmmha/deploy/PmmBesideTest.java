package dev.pmmha.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.pmmha.runtime.DeployedNode;
import dev.pmmha.runtime.leader.LeaderSettings;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerPort;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.VolumeMount;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/**
 * pmm-ha beside PMM 3 (deploy/README.md, "Adding pmm-ha to PMM 3"): deploy/docker/compose.pmm.yaml and the
 * deploy/k8s/overlays/pmm-sidecar overlay, read as Docker Compose and kubectl kustomize read them, each pmm-ha's
 * environment put through the runtime's own settings code. What makes the pairing work is checked in both: pmm-ha
 * sits in PMM's network namespace as PMM's uid with supervisord's socket directory shared, its ports leave PMM's
 * alone, its leader command drives pmm-agent through that socket, the fence's margin covers the bounded stop, and
 * HAProxy sends traffic to PMM while it checks pmm-ha.
 */
class PmmBesideTest {

  /** PMM 3's nginx ports, in PMM's (and so pmm-ha's) network namespace. */
  static final Set<Integer> PMM_PORTS = Set.of(8080, 8443);
  /** pmm-supervisor's longest stop (PMM_SUPERVISOR_STOP_WAIT + PMM_SUPERVISOR_KILL_WAIT defaults). */
  static final Duration SUPERVISOR_STOP_BOUND = Duration.ofMillis(2_000);

  /** What pmm-ha beside PMM must be, whichever way it is deployed. */
  static void assertPmmHaBesidePmm(String where, Map<String, String> env) {
    DeployedNode node = DeployedNode.of(env);
    int http = node.config.getInt("pmm-ha.http.port");
    int probe = node.config.getInt("pmm-ha.http.probe-port");
    assertFalse(PMM_PORTS.contains(http), where + ": pmm-ha's API port " + http + " is PMM's");
    assertFalse(PMM_PORTS.contains(probe), where + ": pmm-ha's probe port " + probe + " is PMM's");
    assertFalse(PMM_PORTS.contains(node.settings.gossipPort()) || PMM_PORTS.contains(node.settings.raftPort()),
        where + ": a cluster port is PMM's");

    LeaderSettings leader = LeaderSettings.create(node.config);
    var command = leader.services().stream().filter(s -> s.getString("name").equals("leader-command")).findFirst()
        .orElseThrow(() -> new AssertionError(where + ": no PMM_HA_LEADER_COMMAND"));
    assertEquals(List.of("/bin/sh", "-c", "/opt/pmm-ha/pmm-supervisor run pmm-agent"), command.getStringList("command"),
        where + ": the leader runs pmm-agent through PMM's supervisord");
    assertEquals(List.of("/bin/sh", "-c", "/opt/pmm-ha/pmm-supervisor stop pmm-agent"),
        command.getStringList("stop-command"), where);
    // a leader that can no longer renew steps down within one renew interval of its act-until instant and then
    // stops pmm-agent; all of that must end before the lease in PostgreSQL can pass to another node
    Duration worstStop = SUPERVISOR_STOP_BOUND.plus(leader.renewInterval());
    assertTrue(leader.safetyMargin().compareTo(worstStop) > 0, where + ": PMM_HA_LEASE_SAFETY_MARGIN "
        + leader.safetyMargin() + " does not cover pmm-agent's bounded stop and the step-down (" + worstStop + ")");

    // the guard in PMM's container reads the role file pmm-ha writes, on the volume they share, and stops
    // pmm-agent while the file's lease still has time left
    String ini = Repo.read(Repo.DEPLOY.resolve("pmm/pmm-ha-guard.ini"));
    String roleFile = env.get("PMM_HA_ROLE_FILE");
    assertTrue(roleFile != null && roleFile.startsWith("/run/supervisor/"), where + ": PMM_HA_ROLE_FILE " + roleFile);
    assertTrue(ini.contains("pmm-ha-role-consumer " + roleFile + " "), where + ": the guard reads " + roleFile);
    assertTrue(ini.contains("\"supervisorctl stop pmm-agent\""), "the guard stops pmm-agent");
    var roleService = leader.services().stream().filter(c -> c.getString("name").equals("role-file")).findFirst()
        .orElseThrow();
    java.util.regex.Matcher guard = java.util.regex.Pattern.compile("ROLE_CONSUMER_GUARD_MS=\"(\\d+)\"").matcher(ini);
    assertTrue(guard.find(), ini);
    long guardMs = Long.parseLong(guard.group(1));
    assertTrue(guardMs + 300 < roleService.getDuration("lease").toMillis(), where + ": the guard's "
        + guardMs + " ms leaves too little of the role file's lease (" + roleService.getDuration("lease") + ")");
  }

  // --- Docker ------------------------------------------------------------------------------------------------

  @Test
  void composePutsPmmHaInEachPmmContainersNamespaceWithItsSocketAndUser() {
    Compose c = Compose.load(Repo.DOCKER.resolve("compose.pmm.yaml"), Compose.dotEnv(Repo.ENV_EXAMPLE));
    assertEquals("percona/pmm-server:3", Compose.load(Repo.DOCKER.resolve("compose.pmm.yaml"),
        Compose.dotEnv(Repo.ENV_EXAMPLE)).service("pmm-1").path("image").asText(), "the default image is PMM 3's");
    Map<String, String> pmmIps = new HashMap<>();
    for (int n = 1; n <= 3; n++) {
      String pmm = "pmm-" + n;
      String ha = "pmm-ha-" + n;
      JsonNode pmmService = c.service(pmm);
      JsonNode haService = c.service(ha);
      String ip = Compose.ipv4(pmmService, "pmm-network");
      pmmIps.put(pmm, ip);
      assertEquals("service:" + pmm, haService.path("network_mode").asText(), ha + " shares " + pmm + "'s network");
      assertEquals("1000:1000", haService.path("user").asText(), ha + " runs as PMM's uid");
      String socketVolume = pmm + "-supervisor:/run/supervisor";
      assertTrue(Compose.strings(pmmService.path("volumes")).contains(socketVolume), pmm);
      assertTrue(Compose.strings(haService.path("volumes")).contains(socketVolume), ha + " shares " + socketVolume);
      assertTrue(Compose.strings(pmmService.path("volumes")).containsAll(List.of(
          "../pmm/pmm-ha-guard.ini:/etc/supervisord.d/pmm-ha-guard.ini:ro",
          "../pmm/role-consumer:/usr/local/bin/pmm-ha-role-consumer:ro")), pmm + " runs pmm-ha's guard");
      assertFalse(Compose.environment(pmmService).containsKey("PMM_HA_ENABLE"), pmm + ": PMM's own HA stays off");
      Map<String, String> env = Compose.environment(haService);
      assertEquals(ip, env.get("PMM_HA_ADVERTISE_ADDRESS"), ha + " advertises PMM's address");
      assertEquals(pmm, env.get("PMM_HA_NODE_ID"));
      assertPmmHaBesidePmm(ha, env);
    }
    Set<String> peers = Set.of(Compose.environment(c.service("pmm-ha-1")).get("PMM_HA_PEERS").split(","));
    assertEquals(Set.copyOf(pmmIps.values()), peers, "the peers are the three PMM addresses");

    // HAProxy: the file compose mounts sends traffic to PMM's 8080/8443 and checks pmm-ha's probe port there
    assertTrue(Compose.strings(c.service("haproxy").path("volumes"))
        .contains("../haproxy/pmm.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro"));
    HaproxyConfig cfg = HaproxyConfig.parse(Repo.read(Repo.HAPROXY.resolve("pmm.cfg")));
    int probe = DeployedNode.of(Compose.environment(c.service("pmm-ha-1"))).config.getInt("pmm-ha.http.probe-port");
    Map<String, Integer> backendPort = Map.of("http_back", 8080, "https_back", 8443);
    backendPort.forEach((backend, port) -> {
      List<HaproxyConfig.Server> servers = cfg.servers(backend);
      assertEquals(Set.copyOf(pmmIps.values()), servers.stream().map(HaproxyConfig.Server::host).collect(Collectors.toSet()),
          backend + " has the three PMM servers");
      for (HaproxyConfig.Server s : servers) {
        assertEquals(port, s.port(), backend + " sends traffic to PMM's " + port);
        String opts = String.join(" ", s.options());
        assertTrue(opts.contains("check port " + probe), backend + " " + s.name() + " checks pmm-ha: " + opts);
        assertFalse(s.backup(), "only the leader passes the check: no backup servers");
      }
    });
    assertEquals(List.of("http-check send meth POST uri /v1/leaderHealthCheck ver HTTP/1.1 hdr Host www"),
        cfg.lines("backend https_back", "http-check send"));
  }

  @Test
  void pmmCfgUsesTheRecommendedTiming() {
    HaproxyConfig recommended = HaproxyConfig.parse(Repo.read(Repo.HAPROXY.resolve("pmm-ha-recommended.cfg")));
    HaproxyConfig pmm = HaproxyConfig.parse(Repo.read(Repo.HAPROXY.resolve("pmm.cfg")));
    assertEquals(recommended.section("defaults"), pmm.section("defaults"));
  }

  // --- Kubernetes --------------------------------------------------------------------------------------------

  @Test
  void theSidecarOverlayPutsPmmHaInThePmmPodWithItsSocketAndUser() {
    Manifests base = new Manifests(Kustomize.render(Repo.K8S.resolve("base")));
    Manifests overlay = new Manifests(Kustomize.render(Repo.K8S.resolve("overlays/pmm-sidecar")));
    Set<String> expected = new TreeSet<>(ids(base));
    expected.add("ConfigMap/pmm-ha-guard");
    assertEquals(expected, ids(overlay), "the base's objects, changed, and the guard's ConfigMap");

    Deployment d = overlay.get(Deployment.class, "pmm-ha");
    PodSpec pod = d.getSpec().getTemplate().getSpec();
    Container ha = Manifests.container(d, "pmm-ha");
    Container pmm = Manifests.container(d, "pmm-server");
    assertTrue(pmm.getImage().startsWith("percona/pmm-server:3"), pmm.getImage());
    assertEquals(1000L, pod.getSecurityContext().getRunAsUser(), "the pod runs as PMM's uid");
    for (Container c : List.of(ha, pmm)) {
      assertTrue(c.getSecurityContext() == null || c.getSecurityContext().getRunAsUser() == null,
          c.getName() + " keeps the pod's uid");
    }
    for (String f : List.of("pmm-ha-guard.ini", "pmm-ha-role-consumer")) {
      String original = f.equals("pmm-ha-guard.ini") ? "pmm/pmm-ha-guard.ini" : "pmm/role-consumer";
      assertEquals(Repo.read(Repo.DEPLOY.resolve(original)), overlay.generatedConfigMap("pmm-ha-guard").getData().get(f),
          f + " in the overlay is a copy of deploy/" + original);
    }
    assertEquals("pmm-ha-guard.ini", mountAt(pmm, "/etc/supervisord.d/pmm-ha-guard.ini").getSubPath());
    assertEquals("pmm-ha-role-consumer", mountAt(pmm, "/usr/local/bin/pmm-ha-role-consumer").getSubPath());
    assertEquals(0755, pod.getVolumes().stream().filter(v -> v.getName().equals("guard")).findFirst().orElseThrow()
        .getConfigMap().getDefaultMode(), "the guard's script is executable");
    VolumeMount haSocket = mountAt(ha, "/run/supervisor");
    VolumeMount pmmSocket = mountAt(pmm, "/run/supervisor");
    assertEquals(pmmSocket.getName(), haSocket.getName(), "one volume for supervisord's socket");
    assertTrue(pod.getVolumes().stream().anyMatch(v -> v.getName().equals(haSocket.getName()) && v.getEmptyDir() != null));

    Map<String, String> env = overlay.environment(ha, KubernetesManifestsTest.POD_FIELDS);
    assertFalse(overlay.environment(pmm, KubernetesManifestsTest.POD_FIELDS).containsKey("PMM_HA_ENABLE"),
        "PMM's own HA stays off");
    assertPmmHaBesidePmm("pmm-sidecar", env);
    int http = Integer.parseInt(env.get("PMM_HA_HTTP_PORT"));
    assertEquals(http, Manifests.port(ha, "http"), "the port named http is pmm-ha's API port");
    Set<Integer> pmmPorts = pmm.getPorts().stream().map(ContainerPort::getContainerPort).collect(Collectors.toSet());
    assertEquals(PMM_PORTS, pmmPorts);
    for (ContainerPort p : ha.getPorts()) {
      assertFalse(pmmPorts.contains(p.getContainerPort()), "pmm-ha's " + p.getName() + " collides with PMM");
    }

    // users reach the leader's PMM, not pmm-ha's API
    Service leader = overlay.get(Service.class, "pmm-ha-leader");
    Map<String, String> target = leader.getSpec().getPorts().stream()
        .collect(Collectors.toMap(p -> p.getName(), p -> p.getTargetPort().getStrVal()));
    assertEquals(Map.of("http", "pmm-http", "https", "pmm-https"), target);

    ConfigMap haproxy = overlay.generatedConfigMap("pmm-ha-haproxy");
    String cfgText = haproxy.getData().get("haproxy.cfg");
    assertEquals(Repo.read(Repo.K8S.resolve("overlays/pmm-sidecar/haproxy.cfg")), cfgText);
    List<String> servers = HaproxyConfig.parse(cfgText).lines("backend http_back", "server-template");
    assertEquals(1, servers.size(), servers.toString());
    String line = servers.get(0);
    assertTrue(line.contains("svc.${CLUSTER_DOMAIN}:8443\" ssl"), "traffic to PMM's HTTPS: " + line);
    assertTrue(line.contains("check port " + Manifests.port(ha, "probe")), "the check to pmm-ha's probe port: " + line);
    assertTrue(line.contains("no-check-ssl"), "the probe port is plain HTTP: " + line);
  }

  static VolumeMount mountAt(Container c, String path) {
    return c.getVolumeMounts().stream().filter(m -> m.getMountPath().equals(path)).findFirst()
        .orElseThrow(() -> new AssertionError(c.getName() + " mounts nothing at " + path));
  }

  static Set<String> ids(Manifests m) {
    return m.objects.stream().map(o -> o.getKind() + "/" + o.getMetadata().getName().replaceFirst("-[a-z0-9]{10}$", ""))
        .collect(Collectors.toCollection(TreeSet::new));
  }
}
