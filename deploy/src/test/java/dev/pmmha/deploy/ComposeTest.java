package dev.pmmha.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.pmmha.http.HttpSettings;
import dev.pmmha.persistence.HostPort;
import dev.pmmha.persistence.StoreSettings;
import dev.pmmha.runtime.DeployedNode;
import dev.pmmha.runtime.config.NodeSettings;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * deploy/docker/compose.yaml, read as Docker Compose reads it with .env.example as its .env: every node's
 * environment is what the runtime's own settings code accepts, and the nodes, their peers, PostgreSQL and
 * HAProxy's backends agree with each other.
 */
class ComposeTest {

  static final String NETWORK = "pmm-network";
  static Map<String, String> dotEnv;
  static Compose compose;
  /** Node service name -> its environment. */
  static Map<String, Map<String, String>> nodes;
  /** Node service name -> what the runtime makes of its environment (loading the config is slow: once). */
  static Map<String, DeployedNode> deployed;

  @BeforeAll
  static void load() {
    dotEnv = Compose.dotEnv(Repo.ENV_EXAMPLE);
    compose = Compose.load(Repo.COMPOSE, dotEnv);
    nodes = new LinkedHashMap<>();
    for (String name : compose.serviceNames()) {
      Map<String, String> env = Compose.environment(compose.service(name));
      if (env.containsKey("PMM_TEST_HA_ENABLE") || env.containsKey("PMM_HA_ENABLE")) {
        nodes.put(name, env);
      }
    }
    deployed = new LinkedHashMap<>();
    nodes.forEach((name, env) -> deployed.put(name, DeployedNode.of(env)));
  }

  static DeployedNode node(String name) {
    return deployed.get(name);
  }

  static String postgresIp() {
    return Compose.ipv4(compose.service("postgres"), NETWORK);
  }

  @Test
  void threeNodesAsInTheGuide() {
    assertEquals(List.of("pmm-server-active", "pmm-server-passive", "pmm-server-passive-2"),
        List.copyOf(nodes.keySet()));
  }

  @Test
  void envExampleIsTheWholeSetUp() {
    Map<String, Boolean> vars = Compose.variables(Repo.read(Repo.COMPOSE));
    for (Map.Entry<String, Boolean> v : vars.entrySet()) {
      assertTrue(v.getValue() || dotEnv.containsKey(v.getKey()),
          v.getKey() + " has no default in compose.yaml and no value in .env.example");
    }
    // without a .env, compose stops at once and names the first variable to set
    Compose.MissingVariable missing =
        assertThrows(Compose.MissingVariable.class, () -> Compose.load(Repo.COMPOSE, Map.of()));
    assertTrue(missing.getMessage().contains(".env"), missing.getMessage());
    // every .env.example entry is used
    for (String key : dotEnv.keySet()) {
      assertTrue(vars.containsKey(key), ".env.example sets " + key + ", which compose.yaml never uses");
    }
  }

  @Test
  void nodesUseTheGuidesVariables() {
    Set<String> guide = Set.of("ENABLE", "BOOTSTRAP", "NODE_ID", "ADVERTISE_ADDRESS", "GOSSIP_PORT", "RAFT_PORT",
        "GRAFANA_GOSSIP_PORT", "PEERS");
    for (Map.Entry<String, Map<String, String>> n : nodes.entrySet()) {
      Set<String> haVars = n.getValue().keySet().stream().filter(k -> k.startsWith("PMM_TEST_HA_"))
          .map(k -> k.substring("PMM_TEST_HA_".length())).collect(Collectors.toSet());
      assertEquals(guide, haVars, n.getKey() + ": the guide's PMM_TEST_HA_* variables, as written there");
      for (String k : n.getValue().keySet()) {
        assertFalse(k.startsWith("PMM_HA_") && guide.contains(k.substring("PMM_HA_".length())),
            n.getKey() + " sets both names of " + k);
      }
      assertEquals("9096", n.getValue().get("PMM_TEST_HA_GOSSIP_PORT"), "the guide's gossip port");
      assertEquals("9097", n.getValue().get("PMM_TEST_HA_RAFT_PORT"), "the guide's raft port");
      assertEquals("9094", n.getValue().get("PMM_TEST_HA_GRAFANA_GOSSIP_PORT"), "the guide's Grafana gossip port");
    }
    assertEquals("1", nodes.get("pmm-server-active").get("PMM_TEST_HA_BOOTSTRAP"), "bootstrap on the active only");
    assertEquals("0", nodes.get("pmm-server-passive").get("PMM_TEST_HA_BOOTSTRAP"));
    assertEquals("0", nodes.get("pmm-server-passive-2").get("PMM_TEST_HA_BOOTSTRAP"));
  }

  @Test
  void everyNodeIsItselfAndListsAllNodesAsPeers() {
    Set<String> nodeIps = new TreeSet<>();
    nodes.keySet().forEach(n -> nodeIps.add(Compose.ipv4(compose.service(n), NETWORK)));
    assertEquals(3, nodeIps.size(), "three distinct node addresses");
    Set<Integer> gossip = new HashSet<>();
    Set<Integer> raft = new HashSet<>();
    for (String name : nodes.keySet()) {
      // the runtime's own validation: a bad value or a peer list without this node throws here
      NodeSettings s = node(name).settings;
      JsonNode svc = compose.service(name);
      assertTrue(s.haEnabled(), name);
      assertEquals(name, s.nodeId(), "node id = service name");
      assertEquals(name, svc.path("hostname").asText(), "hostname = node id, as the guide's --hostname");
      assertEquals(Compose.ipv4(svc, NETWORK), s.advertiseAddress(), name + " advertises its fixed address");
      assertEquals(nodeIps, s.peers().stream().map(HostPort::host).collect(Collectors.toCollection(TreeSet::new)),
          name + " lists every node, itself included");
      assertTrue(s.peers().stream().allMatch(p -> p.port() == s.gossipPort()), "peers on the gossip port");
      assertEquals("config", s.discovery());
      assertEquals(2, s.requiredContactPoints(), "a majority of three forms the cluster");
      assertEquals(3, s.expectedNodes());
      gossip.add(s.gossipPort());
      raft.add(s.raftPort());
      // what the node binds: Artery on the gossip port, Management on the raft port, both on its address
      var pekko = node(name).pekko;
      assertEquals(s.advertiseAddress(), pekko.getString("pekko.remote.artery.canonical.hostname"));
      assertEquals(s.gossipPort(), pekko.getInt("pekko.remote.artery.canonical.port"));
      assertEquals(s.raftPort(), pekko.getInt("pekko.management.http.port"));
      assertEquals("config",
          pekko.getString("pekko.management.cluster.bootstrap.contact-point-discovery.discovery-method"));
    }
    assertEquals(1, gossip.size(), "one gossip port for all nodes: " + gossip);
    assertEquals(1, raft.size(), "one raft (management) port for all nodes: " + raft);
  }

  @Test
  void addressesAreFixedUniqueAndInsideTheSubnet() throws Exception {
    String subnet = compose.root.path("networks").path(NETWORK).path("ipam").path("config").get(0).path("subnet")
        .asText();
    assertEquals("172.20.0.0/24", subnet);
    Map<String, String> ips = new HashMap<>();
    for (String name : compose.serviceNames()) {
      String ip = Compose.ipv4(compose.service(name), NETWORK);
      if (ip == null) {
        assertEquals("none", compose.service(name).path("network_mode").asText(),
            name + " is on " + NETWORK + " with a fixed address, or on no network at all");
        continue;
      }
      assertTrue(inSubnet(ip, subnet), name + " " + ip + " outside " + subnet);
      assertFalse(ip.endsWith(".0") || ip.endsWith(".1") || ip.endsWith(".255"),
          name + ": " + ip + " is the network, gateway or broadcast address");
      String before = ips.put(ip, name);
      assertEquals(null, before, ip + " used by " + before + " and " + name);
    }
    assertTrue(ips.containsValue("postgres") && ips.containsValue("haproxy"));
  }

  private static boolean inSubnet(String ip, String cidr) throws Exception {
    String[] p = cidr.split("/");
    int bits = Integer.parseInt(p[1]);
    int mask = bits == 0 ? 0 : -1 << (32 - bits);
    return (toInt(InetAddress.getByName(ip).getAddress()) & mask) == (toInt(InetAddress.getByName(p[0]).getAddress()) & mask);
  }

  private static int toInt(byte[] b) {
    return ((b[0] & 0xff) << 24) | ((b[1] & 0xff) << 16) | ((b[2] & 0xff) << 8) | (b[3] & 0xff);
  }

  @Test
  void nodesLogIntoThePostgresqlTheInitScriptPrepares() {
    JsonNode pg = compose.service("postgres");
    Map<String, String> pgEnv = Compose.environment(pg);
    assertTrue(Compose.strings(pg.path("volumes")).contains(
        "./postgres/init-pmm-ha.sh:/docker-entrypoint-initdb.d/init-pmm-ha.sh:ro"), "init script mounted");
    assertTrue(Files.isExecutable(Repo.PG_INIT), Repo.PG_INIT + " executable");
    for (String name : nodes.keySet()) {
      StoreSettings store = StoreSettings.create(node(name).config);
      assertEquals(StoreSettings.Kind.POSTGRES, store.kind(), name);
      assertTrue(store.url().startsWith("jdbc:postgresql://" + postgresIp() + ":5432/pmm-managed?"),
          name + " reaches PostgreSQL's fixed address, database pmm-managed: " + store.url());
      assertEquals(pgEnv.get("PG_USERNAME"), store.user(), name + ": the user the init script creates");
      assertEquals(pgEnv.get("PG_PASSWORD"), store.password(), name + ": that user's password");
    }
    assertEquals(dotEnv.get("PG_USERNAME"), pgEnv.get("PG_USERNAME"));
    assertNotNull(pgEnv.get("GF_USERNAME"));
    assertNotNull(pgEnv.get("POSTGRES_PASSWORD"));
  }

  @ParameterizedTest
  @ValueSource(strings = {"haproxy.cfg", "pmm-ha-recommended.cfg"})
  void haproxyBackendsAreTheNodesApiPorts(String file) {
    HaproxyConfig cfg = HaproxyConfig.parse(Repo.read(Repo.HAPROXY.resolve(file)));
    Set<String> expected = new TreeSet<>();
    for (String name : nodes.keySet()) {
      int port = HttpSettings.create(node(name).config).port();
      assertEquals(8080, port, name + ": PMM 3's HTTP port");
      expected.add(Compose.ipv4(compose.service(name), NETWORK) + ":" + port);
    }
    assertEquals(List.of("http_back", "https_back"), cfg.names("backend"));
    for (String backend : cfg.names("backend")) {
      Set<String> servers = cfg.servers(backend).stream().map(HaproxyConfig.Server::address)
          .collect(Collectors.toCollection(TreeSet::new));
      assertEquals(expected, servers, file + " " + backend + ": one server per node, on its API port");
      assertTrue(cfg.servers(backend).stream().allMatch(s -> s.options().contains("check")), "every server checked");
      assertEquals(List.of("option httpchk"), cfg.lines("backend " + backend, "option httpchk"));
      assertEquals(List.of("http-check send meth POST uri /v1/leaderHealthCheck ver HTTP/1.1 hdr Host www"),
          cfg.lines("backend " + backend, "http-check send"), "the guide's leader check");
      assertEquals(List.of("http-check expect status 200"), cfg.lines("backend " + backend, "http-check expect"));
    }
    List<HaproxyConfig.Server> http = cfg.servers("http_back");
    assertEquals("172.20.0.5:8080", http.get(0).address(), "the active first");
    assertFalse(http.get(0).backup());
    if (file.equals("haproxy.cfg")) {
      assertTrue(http.get(1).backup() && http.get(2).backup(), "the passives as backup, as in the guide");
    } else {
      // only the fenced leader passes the check, so backups add nothing but a detour: with them a request retried
      // after the old leader refused it waits for the first backup instead of going to the new leader
      assertTrue(http.stream().noneMatch(HaproxyConfig.Server::backup), file + ": every node a primary server");
    }
    assertEquals(List.of("bind *:80"), cfg.lines("frontend http_front", "bind"));
    assertEquals(List.of("bind *:443 ssl crt /etc/haproxy/certs/pmm.pem"), cfg.lines("frontend https_front", "bind"));
    assertEquals(List.of("default_backend http_back"), cfg.lines("frontend http_front", "default_backend"));
    assertEquals(List.of("default_backend https_back"), cfg.lines("frontend https_front", "default_backend"));
  }

  @Test
  void haproxyReadsTheChosenConfigAndTheGeneratedCertificate() {
    JsonNode haproxy = compose.service("haproxy");
    List<String> volumes = Compose.strings(haproxy.path("volumes"));
    String config = "../haproxy/" + dotEnv.get("HAPROXY_CONFIG") + ":/usr/local/etc/haproxy/haproxy.cfg:ro";
    assertTrue(volumes.contains(config), volumes.toString());
    assertTrue(Files.isRegularFile(Repo.DOCKER.resolve("../haproxy/" + dotEnv.get("HAPROXY_CONFIG")).normalize()));
    assertTrue(Files.isRegularFile(Repo.HAPROXY.resolve("pmm-ha-recommended.cfg")), "the other choice exists");
    // the certificate volume: written by the one-shot haproxy-cert service, read by HAProxy where the config says
    assertTrue(volumes.contains("haproxy_certs:/etc/haproxy/certs:ro"), volumes.toString());
    JsonNode cert = compose.service("haproxy-cert");
    assertEquals(List.of("haproxy_certs:/certs"), Compose.strings(cert.path("volumes")));
    assertEquals(List.of("/bin/sh", "/opt/pmm-ha/make-cert.sh", "/certs"), Compose.strings(cert.path("entrypoint")));
    assertEquals("service_completed_successfully",
        haproxy.path("depends_on").path("haproxy-cert").path("condition").asText());
    assertEquals("no", cert.path("restart").asText(), "a one-shot");
    // the image's make-cert.sh is deploy/haproxy/make-cert.sh
    assertTrue(Dockerfile.parse(Repo.DOCKERFILE).copies("deploy/haproxy/make-cert.sh", "/opt/pmm-ha/make-cert.sh"));
    // HAProxy's files belong to its user (uid 99 in the haproxy image), which is not root
    assertEquals("99:99", Compose.environment(cert).get("PMM_HA_CERT_OWNER"));
    // published ports are the frontends' binds
    assertEquals(List.of(dotEnv.get("HAPROXY_HTTP_PORT") + ":80", dotEnv.get("HAPROXY_HTTPS_PORT") + ":443"),
        Compose.strings(haproxy.path("ports")));
  }

  @Test
  void nodesRestartAndStopGracefully() {
    Duration minimum = ShutdownBudget.minimumGracePeriod();
    for (String name : List.of("postgres", "pmm-server-active", "pmm-server-passive", "pmm-server-passive-2",
        "haproxy")) {
      assertEquals("always", compose.service(name).path("restart").asText(), name + " restart: always");
    }
    for (String name : nodes.keySet()) {
      JsonNode svc = compose.service(name);
      Duration grace = Compose.duration(svc.path("stop_grace_period").asText("10s"));
      assertTrue(grace.compareTo(minimum) >= 0,
          name + ": stop_grace_period " + grace + " must cover the hand-over, at least " + minimum);
      assertTrue(grace.compareTo(Duration.ofSeconds(10)) > 0, "longer than Docker's default 10 s");
      assertFalse(svc.path("mem_limit").asText("").isEmpty(), name + ": a memory limit (the heap is a share of it)");
      assertFalse(svc.has("init"), name + ": no init process: the JVM is PID 1 and gets SIGTERM itself");
      assertFalse(svc.has("entrypoint") || svc.has("command"), name + " runs the image's entrypoint");
      assertEquals("service_healthy", svc.path("depends_on").path("postgres").path("condition").asText());
    }
  }

  @Test
  void nodesAreBuiltFromThisCheckout() {
    String version = Repo.projectVersion();
    for (String name : List.of("pmm-server-active", "pmm-server-passive", "pmm-server-passive-2", "haproxy-cert")) {
      JsonNode svc = compose.service(name);
      assertEquals("pmm-ha:" + version, svc.path("image").asText(), name + ": the image tag is the project version");
      Path context = Repo.DOCKER.resolve(svc.path("build").path("context").asText()).normalize();
      assertEquals(Repo.ROOT, context, name + ": built from the repository root");
      assertEquals(Repo.DOCKERFILE, context.resolve(svc.path("build").path("dockerfile").asText()).normalize());
    }
    assertEquals(version, dotEnv.get("PMM_HA_TAG"));
  }

  @Test
  void thirdPartyImagesDefaultToTheOfficialOnesAndCanBeReplaced() {
    // with .env.example as it is: the official images, and the Dockerfile's own build images
    assertEquals("postgres:17", compose.service("postgres").path("image").asText());
    assertEquals("haproxy:3.0-alpine", compose.service("haproxy").path("image").asText());
    Dockerfile df = Dockerfile.parse(Repo.DOCKERFILE);
    for (String name : List.of("pmm-server-active", "pmm-server-passive", "pmm-server-passive-2", "haproxy-cert")) {
      JsonNode args = compose.service(name).path("build").path("args");
      assertEquals(df.arg("MAVEN_IMAGE"), args.path("MAVEN_IMAGE").asText(), name + ": the Dockerfile's default");
      assertEquals(df.arg("JRE_IMAGE"), args.path("JRE_IMAGE").asText(), name + ": the Dockerfile's default");
    }
    // every image that is not built here comes from a variable, so the same file runs with local stand-ins
    Map<String, String> env = new HashMap<>(dotEnv);
    env.putAll(Map.of("POSTGRES_IMAGE", "local/pg", "HAPROXY_IMAGE", "local/haproxy",
        "MAVEN_IMAGE", "local/maven", "JRE_IMAGE", "local/jre"));
    Compose replaced = Compose.load(Repo.COMPOSE, env);
    for (String name : replaced.serviceNames()) {
      JsonNode svc = replaced.service(name);
      String image = svc.path("image").asText();
      if (svc.has("build")) {
        assertEquals("pmm-ha:" + Repo.projectVersion(), image, name);
        assertEquals("local/maven", svc.path("build").path("args").path("MAVEN_IMAGE").asText(), name);
        assertEquals("local/jre", svc.path("build").path("args").path("JRE_IMAGE").asText(), name);
      } else {
        assertTrue(image.startsWith("local/"), name + ": image " + image + " is not taken from a variable");
      }
    }
    assertEquals("local/pg", replaced.service("postgres").path("image").asText());
    assertEquals("local/haproxy", replaced.service("haproxy").path("image").asText());
  }
}
