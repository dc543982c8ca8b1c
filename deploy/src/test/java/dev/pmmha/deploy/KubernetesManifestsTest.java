package dev.pmmha.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.typesafe.config.Config;
import dev.pmmha.persistence.StoreSettings;
import dev.pmmha.runtime.DeployedNode;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.Probe;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceAccount;
import io.fabric8.kubernetes.api.model.ServicePort;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeMount;
import io.fabric8.kubernetes.api.model.WeightedPodAffinityTerm;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.policy.v1.PodDisruptionBudget;
import io.fabric8.kubernetes.api.model.rbac.PolicyRule;
import io.fabric8.kubernetes.api.model.rbac.Role;
import io.fabric8.kubernetes.api.model.rbac.RoleBinding;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
import io.fabric8.kubernetes.client.server.mock.EnableKubernetesMockClient;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * deploy/k8s rendered by {@code kubectl kustomize} (base and overlays/haproxy-less), every object validated
 * against the Kubernetes API schema offline, then checked for what makes pmm-ha work: the pods form their cluster
 * through the Kubernetes API (checked by computing each pod's configuration with the runtime's own code), the
 * probes, the rollout, the PodDisruptionBudget, the spreading and the Services select the pods they must, RBAC
 * grants only what is used, and HAProxy's servers are the nodes. Every rendered object is also created through
 * the fabric8 client in fabric8's API server mock (CRUD mode), and the selectors are run there, by its label
 * selector code, against pods made from the Deployments' templates.
 */
@EnableKubernetesMockClient(crud = true, https = false)
class KubernetesManifestsTest {

  /** The API server mock in CRUD mode, one for the class (set by its extension). */
  static KubernetesClient api;

  static final Map<String, String> POD_FIELDS = Map.of(
      "metadata.name", "pmm-ha-6d8f7b9c4-x2kqp",
      "metadata.namespace", "pmm",
      "status.podIP", "10.244.1.17");

  static Manifests base;
  static Manifests haproxyLess;
  static Deployment deployment;
  static Container node;
  static Map<String, String> nodeEnv;
  static DeployedNode deployed;

  @BeforeAll
  static void render() {
    base = new Manifests(Kustomize.render(Repo.K8S.resolve("base")));
    haproxyLess = new Manifests(Kustomize.render(Repo.K8S.resolve("overlays/haproxy-less")));
    deployment = base.get(Deployment.class, "pmm-ha");
    node = Manifests.container(deployment, "pmm-ha");
    nodeEnv = base.environment(node, POD_FIELDS);
    deployed = DeployedNode.of(nodeEnv);
  }

  static Map<String, String> podLabels() {
    return deployment.getSpec().getTemplate().getMetadata().getLabels();
  }

  static PodSpec podSpec() {
    return deployment.getSpec().getTemplate().getSpec();
  }

  /** The pod templates of every Deployment in a render, by Deployment name. */
  static Map<String, Map<String, String>> allPodLabels(Manifests m) {
    Map<String, Map<String, String>> out = new LinkedHashMap<>();
    m.all(Deployment.class).forEach(d -> out.put(d.getMetadata().getName(),
        d.getSpec().getTemplate().getMetadata().getLabels()));
    return out;
  }

  @Test
  void rendersTheExpectedObjects() {
    assertEquals(Set.of("ServiceAccount/pmm-ha", "Role/pmm-ha", "RoleBinding/pmm-ha", "Secret/pmm-ha-postgres",
            "Deployment/pmm-ha", "Service/pmm-ha-nodes", "Service/pmm-ha-leader", "PodDisruptionBudget/pmm-ha",
            "Deployment/pmm-ha-haproxy", "Service/pmm-ha-haproxy", "ConfigMap/pmm-ha-haproxy"),
        ids(base));
    Set<String> expected = new TreeSet<>(ids(base));
    expected.removeIf(id -> id.contains("haproxy"));
    assertEquals(expected, ids(haproxyLess), "the HAProxy-less overlay is the base without HAProxy");
    for (HasMetadata o : haproxyLess.objects) {
      HasMetadata same = base.objects.stream().filter(b -> id(b).equals(id(o))).findFirst().orElseThrow();
      assertEquals(same, o, id(o) + " is the base's");
    }
  }

  private static Set<String> ids(Manifests m) {
    return m.objects.stream().map(KubernetesManifestsTest::id).collect(Collectors.toCollection(TreeSet::new));
  }

  private static String id(HasMetadata o) {
    return o.getKind() + "/" + o.getMetadata().getName().replaceFirst("-[a-z0-9]{10}$", "");
  }

  @Test
  void theApiServerStoresEveryRenderedObjectAsRendered() {
    base.createIn(api, "pmm");
    haproxyLess.createIn(api, "pmm-haproxy-less");
  }

  @Test
  void theApiServersLabelSelectorsPickThePodsTheyMust() {
    String ns = "pmm-selectors";
    api.resource(base.get(Service.class, "pmm-ha-leader")).inNamespace(ns).create();
    // pods as the ReplicaSets make them: the template's labels and spec, under a pod name
    Map<String, String> owner = new LinkedHashMap<>();
    for (Deployment d : base.all(Deployment.class)) {
      for (int i = 0; i < d.getSpec().getReplicas(); i++) {
        String name = d.getMetadata().getName() + "-6d8f7b9c4-" + i;
        api.pods().inNamespace(ns).resource(new PodBuilder().withNewMetadataLike(d.getSpec().getTemplate().getMetadata())
            .withName(name).endMetadata().withSpec(d.getSpec().getTemplate().getSpec()).build()).create();
        owner.put(name, d.getMetadata().getName());
      }
    }
    String serviceName = deployed.pekko.getString(
        "pekko.management.cluster.bootstrap.contact-point-discovery.service-name");
    String discovery = deployed.pekko.getString("pekko.discovery.kubernetes-api.pod-label-selector")
        .replace("%s", serviceName);
    List<String> nodePods = owner.entrySet().stream().filter(e -> e.getValue().equals("pmm-ha"))
        .map(Map.Entry::getKey).sorted().toList();
    assertEquals(deployment.getSpec().getReplicas(), nodePods.size());
    assertEquals(nodePods, names(api.pods().inNamespace(ns).withLabelSelector(discovery).list().getItems()),
        "the discovery's selector " + discovery + " lists every pmm-ha pod and nothing else");
    assertEquals(nodePods, names(api.pods().inNamespace(ns)
        .withLabelSelector(base.get(PodDisruptionBudget.class, "pmm-ha").getSpec().getSelector()).list().getItems()),
        "the PodDisruptionBudget's selector");
    for (Service svc : base.all(Service.class)) {
      List<String> selected = owners(owner, api.pods().inNamespace(ns).withLabels(svc.getSpec().getSelector())
          .list().getItems());
      if (svc.getMetadata().getName().equals("pmm-ha-leader")) {
        assertEquals(List.of(), selected, "no pod is the leader's yet");
      } else {
        assertEquals(1, selected.size(), svc.getMetadata().getName() + " selects one Deployment's pods: " + selected);
      }
    }
    // the leader's merge patch (as KubernetesLeaderLabel sends it) makes its pod, and only it, the leader Service's
    String leader = "pmm-ha-6d8f7b9c4-1";
    Map<String, String> leaderSelector = base.get(Service.class, "pmm-ha-leader").getSpec().getSelector();
    api.pods().inNamespace(ns).withName(leader).patch(PatchContext.of(PatchType.JSON_MERGE),
        "{\"metadata\":{\"labels\":{\"pmm-ha/role\":\"leader\"}}}");
    assertEquals(List.of(leader), names(api.pods().inNamespace(ns).withLabels(leaderSelector).list().getItems()));
    api.pods().inNamespace(ns).withName(leader).patch(PatchContext.of(PatchType.JSON_MERGE),
        "{\"metadata\":{\"labels\":{\"pmm-ha/role\":null}}}");
    assertEquals(List.of(), names(api.pods().inNamespace(ns).withLabels(leaderSelector).list().getItems()),
        "a null in the merge patch removes the label");
    // the mock merges with Jackson and keeps the key with a null value where the API server drops it (RFC 7386)
    Map<String, String> labels = new LinkedHashMap<>(api.pods().inNamespace(ns).withName(leader).get().getMetadata()
        .getLabels());
    assertNull(labels.remove("pmm-ha/role"), "no role label left: " + labels);
    assertEquals(podLabels(), labels, "and the template's labels are untouched");
  }

  private static List<String> names(List<Pod> pods) {
    return pods.stream().map(p -> p.getMetadata().getName()).sorted().toList();
  }

  private static List<String> owners(Map<String, String> owner, List<Pod> pods) {
    return pods.stream().map(p -> owner.get(p.getMetadata().getName())).distinct().sorted().toList();
  }

  @Test
  void threeReplicasRolledOutWithoutEverHavingFewerThanThreeMembers() {
    assertEquals(3, deployment.getSpec().getReplicas());
    var strategy = deployment.getSpec().getStrategy();
    assertEquals("RollingUpdate", strategy.getType());
    assertEquals(1, strategy.getRollingUpdate().getMaxSurge().getIntVal(), "a new pod first");
    assertEquals(0, strategy.getRollingUpdate().getMaxUnavailable().getIntVal(), "then an old one goes");
  }

  @Test
  void podsFormTheirClusterThroughTheKubernetesApi() {
    var s = deployed.settings;
    Config pekko = deployed.pekko;
    assertTrue(s.haEnabled());
    assertEquals("kubernetes", s.discovery());
    assertTrue(s.peers().isEmpty(), "no peer list on Kubernetes");
    assertEquals(POD_FIELDS.get("metadata.name"), s.nodeId(), "node id = pod name");
    assertEquals(POD_FIELDS.get("status.podIP"), s.advertiseAddress(), "advertises the pod IP");
    String bootstrap = "pekko.management.cluster.bootstrap.";
    assertEquals("kubernetes-api", pekko.getString(bootstrap + "contact-point-discovery.discovery-method"));
    // contact points: every pod's management port, which is where the probes look too
    int management = Manifests.port(node, "management");
    assertEquals(management, pekko.getInt(bootstrap + "contact-point.fallback-port"));
    assertEquals(management, pekko.getInt("pekko.management.http.port"));
    assertEquals(Manifests.port(node, "remoting"), pekko.getInt("pekko.remote.artery.canonical.port"));
    assertEquals(POD_FIELDS.get("status.podIP"), pekko.getString("pekko.remote.artery.canonical.hostname"));
    assertEquals(Manifests.port(node, "http"), dev.pmmha.http.HttpSettings.create(deployed.config).port());
    assertEquals(Manifests.port(node, "probe"), dev.pmmha.http.HttpSettings.create(deployed.config).probePort());
    // the pods the discovery lists are exactly this Deployment's pods
    String serviceName = pekko.getString(bootstrap + "contact-point-discovery.service-name");
    Map<String, String> selector = parseSelector(
        pekko.getString("pekko.discovery.kubernetes-api.pod-label-selector").replace("%s", serviceName));
    assertTrue(KubernetesSchema.matches(selector, podLabels()), "selector " + selector + " selects the pods");
    allPodLabels(base).forEach((name, labels) -> assertEquals(name.equals("pmm-ha"),
        KubernetesSchema.matches(selector, labels), "selector " + selector + " vs the pods of " + name));
    assertEquals(node.getName(), pekko.getString("pekko.discovery.kubernetes-api.container-name"));
    assertTrue(pekko.getBoolean("pekko.discovery.kubernetes-api.use-raw-ip"), "pods contacted by IP, not pod DNS");
    // the store: PostgreSQL from the Secret
    assertEquals(StoreSettings.Kind.POSTGRES, StoreSettings.create(deployed.config).kind());
  }

  @Test
  void aNewClusterNeedsEveryReplica() {
    int replicas = deployment.getSpec().getReplicas();
    assertEquals(String.valueOf(replicas), nodeEnv.get("PMM_HA_EXPECTED_NODES"),
        "PMM_HA_EXPECTED_NODES (required-contact-point-nr) = spec.replicas");
    assumeTrue(deployed.config.hasPath("pmm-ha.cluster.expected-nodes"),
        "the runtime does not read PMM_HA_EXPECTED_NODES yet (no pmm-ha.cluster.expected-nodes in its "
            + "configuration): with kubernetes discovery it sets required-contact-point-nr to "
            + deployed.pekko.getInt("pekko.management.cluster.bootstrap.contact-point-discovery.required-contact-point-nr")
            + " instead of " + replicas + " (deploy/README.md, \"Runtime support\")");
    assertEquals(replicas,
        deployed.pekko.getInt("pekko.management.cluster.bootstrap.contact-point-discovery.required-contact-point-nr"));
    assertEquals(replicas, deployed.settings.expectedNodes());
  }

  static Map<String, String> parseSelector(String selector) {
    Map<String, String> out = new LinkedHashMap<>();
    for (String term : selector.split(",")) {
      String[] kv = term.split("=", -1);
      if (kv.length != 2 || kv[0].isBlank() || term.contains("!") || term.contains("==")) {
        throw new AssertionError("only key=value terms are used in the pod label selector: " + selector);
      }
      out.put(kv[0].trim(), kv[1].trim());
    }
    return out;
  }

  @Test
  void probesAskPekkoManagementAndReadinessIsNotLeadership() {
    Probe ready = node.getReadinessProbe();
    Probe alive = node.getLivenessProbe();
    Probe started = node.getStartupProbe();
    assertNotNull(started, "a startup probe");
    assertEquals("/ready", ready.getHttpGet().getPath());
    assertEquals("/alive", alive.getHttpGet().getPath());
    assertEquals("/startup", started.getHttpGet().getPath());
    for (Probe p : List.of(ready, alive, started)) {
      assertEquals("management", p.getHttpGet().getPort().getStrVal(), "on Pekko Management's port");
      assertFalse(p.getHttpGet().getPath().contains("leaderHealthCheck"),
          "followers must be Ready: rollouts and the PodDisruptionBudget count them");
    }
    assertEquals(String.valueOf(Manifests.port(node, "management")), nodeEnv.get("PMM_HA_RAFT_PORT"));
    assertEquals(String.valueOf(Manifests.port(node, "remoting")), nodeEnv.get("PMM_HA_GOSSIP_PORT"));
    assertEquals(String.valueOf(Manifests.port(node, "http")), nodeEnv.get("PMM_HA_HTTP_PORT"));
    // start-up may wait for PostgreSQL (PMM_HA_STORE_STARTUP_WAIT) before Management starts; the startup probe
    // must not kill the pod before that wait ends
    Duration storeWait = StoreSettings.create(deployed.config).startupWait();
    Duration startBudget = Duration.ofSeconds((long) started.getPeriodSeconds() * started.getFailureThreshold());
    assertTrue(startBudget.compareTo(storeWait.plusSeconds(30)) >= 0,
        "startup probe allows " + startBudget + ", the store wait alone is " + storeWait);
    // a node that could not join exits by itself (PMM_HA_JOIN_TIMEOUT); liveness must not pre-empt that
    assertTrue(alive.getFailureThreshold() * alive.getPeriodSeconds() >= 20, "liveness is not hair-trigger");
  }

  @Test
  void terminationGracePeriodCoversTheHandOver() {
    long grace = podSpec().getTerminationGracePeriodSeconds();
    Duration minimum = ShutdownBudget.minimumGracePeriod();
    assertTrue(Duration.ofSeconds(grace).compareTo(minimum) >= 0, grace + " s < " + minimum);
    Compose compose = Compose.load(Repo.COMPOSE, Compose.dotEnv(Repo.ENV_EXAMPLE));
    assertEquals(Duration.ofSeconds(grace),
        Compose.duration(compose.service("pmm-server-active").path("stop_grace_period").asText()),
        "the same grace period on Docker and Kubernetes");
  }

  @Test
  void disruptionBudgetKeepsAMajority() {
    PodDisruptionBudget pdb = base.get(PodDisruptionBudget.class, "pmm-ha");
    int replicas = deployment.getSpec().getReplicas();
    assertEquals(2, pdb.getSpec().getMinAvailable().getIntVal());
    assertNull(pdb.getSpec().getMaxUnavailable());
    assertTrue(2 > replicas / 2 && 2 < replicas, "a majority, and a drain can still proceed");
    assertTrue(KubernetesSchema.matches(pdb.getSpec().getSelector(), podLabels()), "covers the pmm-ha pods");
    allPodLabels(base).forEach((name, labels) -> assertEquals(name.equals("pmm-ha"),
        KubernetesSchema.matches(pdb.getSpec().getSelector(), labels), "PDB selector vs the pods of " + name));
  }

  @Test
  void podsSpreadOverNodesWithSelectorsThatMatchThemselves() {
    var affinity = podSpec().getAffinity().getPodAntiAffinity();
    List<WeightedPodAffinityTerm> preferred = affinity.getPreferredDuringSchedulingIgnoredDuringExecution();
    assertEquals(1, preferred.size());
    var term = preferred.get(0).getPodAffinityTerm();
    assertEquals("kubernetes.io/hostname", term.getTopologyKey());
    assertTrue(KubernetesSchema.matches(term.getLabelSelector(), podLabels()),
        "the anti-affinity selector matches the pods' own labels");
    assertTrue(affinity.getRequiredDuringSchedulingIgnoredDuringExecution().isEmpty(),
        "required anti-affinity would block the surge pod on a three-node cluster");
    var spread = podSpec().getTopologySpreadConstraints();
    assertEquals(1, spread.size());
    assertEquals("kubernetes.io/hostname", spread.get(0).getTopologyKey());
    assertEquals("DoNotSchedule", spread.get(0).getWhenUnsatisfiable());
    assertEquals(1, spread.get(0).getMaxSkew());
    assertTrue(KubernetesSchema.matches(spread.get(0).getLabelSelector(), podLabels()));
    Deployment haproxy = base.get(Deployment.class, "pmm-ha-haproxy");
    var hTerm = haproxy.getSpec().getTemplate().getSpec().getAffinity().getPodAntiAffinity()
        .getPreferredDuringSchedulingIgnoredDuringExecution().get(0).getPodAffinityTerm();
    assertTrue(KubernetesSchema.matches(hTerm.getLabelSelector(),
        haproxy.getSpec().getTemplate().getMetadata().getLabels()), "HAProxy's too");
  }

  @Test
  void rbacGrantsOnlyWhatIsUsed() {
    Role role = base.get(Role.class, "pmm-ha");
    assertEquals(1, role.getRules().size());
    PolicyRule rule = role.getRules().get(0);
    assertEquals(List.of(""), rule.getApiGroups());
    assertEquals(List.of("pods"), rule.getResources());
    assertEquals(new TreeSet<>(List.of("get", "list", "patch")), new TreeSet<>(rule.getVerbs()),
        "list (discovery), get and patch (the leader label)");
    assertTrue(rule.getResourceNames() == null || rule.getResourceNames().isEmpty());
    RoleBinding binding = base.get(RoleBinding.class, "pmm-ha");
    assertEquals("Role", binding.getRoleRef().getKind());
    assertEquals(role.getMetadata().getName(), binding.getRoleRef().getName());
    assertEquals(1, binding.getSubjects().size());
    assertEquals("ServiceAccount", binding.getSubjects().get(0).getKind());
    assertEquals(podSpec().getServiceAccountName(), binding.getSubjects().get(0).getName(),
        "bound to the pods' service account");
    base.get(ServiceAccount.class, podSpec().getServiceAccountName());
    assertTrue(podSpec().getAutomountServiceAccountToken(), "the token the discovery uses");
    assertFalse(base.get(Deployment.class, "pmm-ha-haproxy").getSpec().getTemplate().getSpec()
        .getAutomountServiceAccountToken(), "HAProxy needs no API access");
  }

  @Test
  void servicesSelectTheRightPods() {
    Service nodes = base.get(Service.class, "pmm-ha-nodes");
    assertEquals("None", nodes.getSpec().getClusterIP(), "headless: one address per pod for HAProxy");
    assertEquals(podLabels().entrySet().stream().filter(e -> nodes.getSpec().getSelector().containsKey(e.getKey()))
        .collect(Collectors.toMap(Map.Entry::getKey, Map.Entry::getValue)), nodes.getSpec().getSelector());
    Service leader = base.get(Service.class, "pmm-ha-leader");
    Map<String, String> expected = new LinkedHashMap<>(deployment.getSpec().getSelector().getMatchLabels());
    expected.put("pmm-ha/role", "leader");
    assertEquals(expected, leader.getSpec().getSelector(), "the pmm-ha pods, labelled leader");
    assertFalse(podLabels().containsKey("pmm-ha/role"),
        "the template never carries the role label: only the leader puts it on its own pod");
    Map<String, String> labelledLeader = new LinkedHashMap<>(podLabels());
    labelledLeader.put("pmm-ha/role", "leader");
    assertTrue(KubernetesSchema.matches(leader.getSpec().getSelector(), labelledLeader));
    assertFalse(KubernetesSchema.matches(leader.getSpec().getSelector(), podLabels()), "followers are not selected");
    assertNotEquals(Boolean.TRUE, leader.getSpec().getPublishNotReadyAddresses());
    for (Service svc : base.all(Service.class)) {
      List<Deployment> targets = base.all(Deployment.class).stream().filter(d -> {
        Map<String, String> labels = new LinkedHashMap<>(d.getSpec().getTemplate().getMetadata().getLabels());
        if (svc == leader) {
          labels.put("pmm-ha/role", "leader");
        }
        return KubernetesSchema.matches(svc.getSpec().getSelector(), labels);
      }).toList();
      assertEquals(1, targets.size(), svc.getMetadata().getName() + " selects the pods of exactly one Deployment");
      Container c = targets.get(0).getSpec().getTemplate().getSpec().getContainers().get(0);
      for (ServicePort p : svc.getSpec().getPorts()) {
        Manifests.port(c, p.getTargetPort().getStrVal());
      }
    }
    assertEquals(8080, Manifests.port(node, leader.getSpec().getPorts().get(0).getTargetPort().getStrVal()));
  }

  @Test
  void everyContainerRequestsResourcesAndRunsUnprivileged() {
    for (Deployment d : base.all(Deployment.class)) {
      PodSpec pod = d.getSpec().getTemplate().getSpec();
      assertTrue(pod.getSecurityContext().getRunAsNonRoot(), d.getMetadata().getName());
      assertNotNull(pod.getSecurityContext().getRunAsUser(), "numeric user, so runAsNonRoot can be verified");
      for (Container c : pod.getContainers()) {
        Map<String, Quantity> requests = c.getResources().getRequests();
        assertTrue(requests.containsKey("cpu") && requests.containsKey("memory"), c.getName() + " requests");
        assertTrue(c.getResources().getLimits().containsKey("memory"), c.getName() + " memory limit");
        assertFalse(c.getSecurityContext().getAllowPrivilegeEscalation());
        assertTrue(c.getSecurityContext().getReadOnlyRootFilesystem());
        assertEquals(List.of("ALL"), c.getSecurityContext().getCapabilities().getDrop());
      }
    }
    assertFalse(node.getResources().getLimits().containsKey("cpu"),
        "no CPU limit on pmm-ha: throttling delays heartbeats");
    assertTrue(node.getVolumeMounts().stream().map(VolumeMount::getMountPath).anyMatch("/tmp"::equals),
        "a writable /tmp for the JVM");
  }

  @Test
  void imagesAreTheProjectsAndTheSameAsOnDocker() {
    Compose compose = Compose.load(Repo.COMPOSE, Compose.dotEnv(Repo.ENV_EXAMPLE));
    assertEquals("pmm-ha:" + Repo.projectVersion(), node.getImage());
    assertEquals(compose.service("haproxy").path("image").asText(),
        Manifests.container(base.get(Deployment.class, "pmm-ha-haproxy"), "haproxy").getImage());
  }

  @Test
  void haproxyChecksTheNodesFoundThroughTheHeadlessService() {
    ConfigMap cm = base.generatedConfigMap("pmm-ha-haproxy");
    String cfgText = cm.getData().get("haproxy.cfg");
    assertEquals(Repo.read(Repo.K8S.resolve("base/haproxy.cfg")), cfgText);
    HaproxyConfig cfg = HaproxyConfig.parse(cfgText);
    Deployment haproxy = base.get(Deployment.class, "pmm-ha-haproxy");
    Container c = Manifests.container(haproxy, "haproxy");
    // servers: the pmm-ha-nodes Service's records, on the nodes' API port, checked with the guide's check
    List<String> templates = cfg.lines("backend http_back", "server-template");
    assertEquals(1, templates.size());
    String[] t = templates.get(0).split(" ");
    int slots = Integer.parseInt(t[2]);
    int replicas = deployment.getSpec().getReplicas();
    assertTrue(slots >= replicas + deployment.getSpec().getStrategy().getRollingUpdate().getMaxSurge().getIntVal(),
        "a slot for every pod during a rollout");
    assertEquals("\"pmm-ha-nodes.${POD_NAMESPACE}.svc.${CLUSTER_DOMAIN}:" + Manifests.port(node, "http") + "\"", t[3]);
    assertTrue(List.of(t).containsAll(List.of("check", "resolvers", "cluster-dns")));
    // the check goes to the pods' probe port, the port the node serves it on (PMM_HA_PROBE_PORT)
    int check = List.of(t).indexOf("port");
    assertTrue(check > 0, "check port: " + templates.get(0));
    assertEquals(String.valueOf(Manifests.port(node, "probe")), t[check + 1]);
    assertEquals(List.of("http-check send meth POST uri /v1/leaderHealthCheck ver HTTP/1.1 hdr Host www"),
        cfg.lines("backend http_back", "http-check send"));
    assertEquals(List.of("http-check expect status 200"), cfg.lines("backend http_back", "http-check expect"));
    Map<String, String> env = base.environment(c, POD_FIELDS);
    assertEquals("pmm", env.get("POD_NAMESPACE"));
    assertEquals("cluster.local", env.get("CLUSTER_DOMAIN"));
    // binds are the container's ports, and the Service publishes them as 80 and 443
    assertEquals(List.of("bind *:" + Manifests.port(c, "http")), cfg.lines("frontend http_front", "bind"));
    assertEquals(List.of("bind *:" + Manifests.port(c, "https") + " ssl crt /etc/haproxy/certs/pmm.pem"),
        cfg.lines("frontend https_front", "bind"));
    assertEquals(List.of("bind *:" + Manifests.port(c, "health")), cfg.lines("frontend health", "bind"));
    assertEquals("/healthz", c.getReadinessProbe().getHttpGet().getPath());
    assertEquals(List.of("monitor-uri /healthz"), cfg.lines("frontend health", "monitor-uri"));
    Service svc = base.get(Service.class, "pmm-ha-haproxy");
    Map<Integer, String> published = svc.getSpec().getPorts().stream()
        .collect(Collectors.toMap(ServicePort::getPort, p -> p.getTargetPort().getStrVal()));
    assertEquals(Map.of(80, "http", 443, "https"), published);
    // the files: the generated ConfigMap where the image reads its config, the TLS Secret where the bind says
    Map<String, String> mounts = c.getVolumeMounts().stream()
        .collect(Collectors.toMap(VolumeMount::getName, VolumeMount::getMountPath));
    Map<String, Volume> volumes = haproxy.getSpec().getTemplate().getSpec().getVolumes().stream()
        .collect(Collectors.toMap(Volume::getName, v -> v));
    assertEquals("/usr/local/etc/haproxy", mounts.get("config"));
    assertEquals(cm.getMetadata().getName(), volumes.get("config").getConfigMap().getName());
    assertEquals("/etc/haproxy/certs", mounts.get("certs"));
    assertEquals("pmm-ha-haproxy-tls", volumes.get("certs").getSecret().getSecretName());
    // HAProxy runs as uid 99 and the Secret's files belong to root: readable through the group (fsGroup) only
    var pod = haproxy.getSpec().getTemplate().getSpec().getSecurityContext();
    int mode = volumes.get("certs").getSecret().getDefaultMode();
    assertTrue((mode & 0004) != 0 || ((mode & 0040) != 0 && pod.getFsGroup() != null),
        "pmm.pem readable by HAProxy's user: mode " + Integer.toOctalString(mode) + ", fsGroup " + pod.getFsGroup());
    assertEquals(0, mode & 0007, "the private key is not world-readable");
  }
}
