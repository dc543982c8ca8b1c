package dev.pmmha.runtime.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.Config;
import dev.pmmha.persistence.HostPort;
import dev.pmmha.persistence.SettingsException;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class NodeSettingsTest {

  static NodeSettings settings(Map<String, String> env) {
    return NodeSettings.create(PmmHaConfig.load(env));
  }

  static String error(Map<String, String> env) {
    return assertThrows(SettingsException.class, () -> settings(env)).getMessage();
  }

  static final Map<String, String> GUIDE = Map.of(
      "PMM_TEST_HA_ENABLE", "1",
      "PMM_TEST_HA_BOOTSTRAP", "1",
      "PMM_TEST_HA_NODE_ID", "pmm-server-active",
      "PMM_TEST_HA_ADVERTISE_ADDRESS", "172.20.0.5",
      "PMM_TEST_HA_GOSSIP_PORT", "9096",
      "PMM_TEST_HA_RAFT_PORT", "9097",
      "PMM_TEST_HA_GRAFANA_GOSSIP_PORT", "9094",
      "PMM_TEST_HA_PEERS", "172.20.0.5,172.20.0.6,172.20.0.7");

  @Test
  void thePmmGuidesOlderVariablesWorkUnchanged() {
    NodeSettings s = settings(GUIDE);
    assertTrue(s.haEnabled());
    assertEquals("pmm-server-active", s.nodeId());
    assertEquals("172.20.0.5", s.advertiseAddress());
    assertEquals(9096, s.gossipPort());
    assertEquals(9097, s.raftPort());
    assertEquals(9094, s.grafanaGossipPort());
    assertEquals(List.of(new HostPort("172.20.0.5", 9096), new HostPort("172.20.0.6", 9096), new HostPort("172.20.0.7", 9096)), s.peers());
    assertTrue(s.bootstrapGiven());
    assertEquals(2, s.requiredContactPoints());
    assertEquals(3, s.expectedNodes());
  }

  @Test
  void pmmHaNamesWinOverTheOlderOnes() {
    var env = new java.util.HashMap<>(GUIDE);
    env.put("PMM_HA_NODE_ID", "new-name");
    env.put("PMM_HA_GOSSIP_PORT", "9761");
    env.put("PMM_HA_PEERS", "172.20.0.5,172.20.0.6,172.20.0.7");
    NodeSettings s = settings(env);
    assertEquals("new-name", s.nodeId());
    assertEquals(9761, s.gossipPort());
    assertEquals(9761, s.peers().get(0).port());
  }

  @Test
  void defaultsArePmmsPorts() {
    NodeSettings s = settings(Map.of("PMM_HA_NODE_ID", "solo"));
    assertFalse(s.haEnabled());
    assertEquals(9761, s.gossipPort());
    assertEquals(9760, s.raftPort());
    assertEquals(1, s.expectedNodes());
    assertEquals(Duration.ofSeconds(60), s.joinTimeout());
  }

  @Test
  void aPeerListOfSevenNeedsFourToForm() {
    NodeSettings s = settings(Map.of("PMM_HA_ENABLE", "true", "PMM_HA_ADVERTISE_ADDRESS", "10.0.0.1",
        "PMM_HA_PEERS", "10.0.0.1,10.0.0.2,10.0.0.3,10.0.0.4,10.0.0.5,10.0.0.6,10.0.0.7"));
    assertEquals(4, s.requiredContactPoints());
  }

  @Test
  void eachBadValueIsNamedWithItsVariable() {
    assertEquals("PMM_HA_ENABLE=\"maybe\" is not valid: expected 1, true, 0 or false",
        error(Map.of("PMM_HA_ENABLE", "maybe")));
    assertTrue(error(Map.of("PMM_HA_ENABLE", "1", "PMM_HA_ADVERTISE_ADDRESS", "10.0.0.1"))
        .startsWith("PMM_HA_PEERS=\"\" is not valid"));
    assertTrue(error(Map.of("PMM_TEST_HA_ENABLE", "1", "PMM_TEST_HA_PEERS", "10.0.0.1,,10.0.0.2",
        "PMM_HA_ADVERTISE_ADDRESS", "10.0.0.1")).startsWith("PMM_TEST_HA_PEERS=\"10.0.0.1,,10.0.0.2\""));
    assertTrue(error(Map.of("PMM_HA_ENABLE", "1", "PMM_HA_PEERS", "10.0.0.1,10.0.0.1",
        "PMM_HA_ADVERTISE_ADDRESS", "10.0.0.1")).contains("listed twice"));
    assertTrue(error(Map.of("PMM_HA_ENABLE", "1", "PMM_HA_PEERS", "10.0.0.2,10.0.0.3",
        "PMM_HA_ADVERTISE_ADDRESS", "10.0.0.1")).contains("includes this node"));
    assertEquals("PMM_HA_GOSSIP_PORT=\"70000\" is not valid: expected a port from 1 to 65535",
        error(Map.of("PMM_HA_GOSSIP_PORT", "70000")));
    assertEquals("PMM_TEST_HA_RAFT_PORT=\"x\" is not valid: expected a port from 1 to 65535",
        error(Map.of("PMM_TEST_HA_RAFT_PORT", "x")));
    assertTrue(error(Map.of("PMM_HA_RAFT_PORT", "9761")).contains("other than PMM_HA_GOSSIP_PORT"));
    assertTrue(error(Map.of("PMM_HA_NODE_ID", "no spaces please")).startsWith("PMM_HA_NODE_ID="));
    assertTrue(error(Map.of("PMM_HA_ADVERTISE_ADDRESS", "a/b")).startsWith("PMM_HA_ADVERTISE_ADDRESS="));
    assertTrue(error(Map.of("PMM_HA_DISCOVERY", "dns")).startsWith("PMM_HA_DISCOVERY=\"dns\""));
    assertEquals("PMM_HA_JOIN_TIMEOUT=\"soon\" is not valid: expected a duration such as 60s or 500ms",
        error(Map.of("PMM_HA_JOIN_TIMEOUT", "soon")));
  }

  @Test
  void clusterConfigPointsBootstrapAtEveryPeersManagementPort() {
    Config c = ClusterConfig.overlay(settings(GUIDE), TlsSettings.create(PmmHaConfig.load(GUIDE)));
    assertEquals("172.20.0.5", c.getString("pekko.remote.artery.canonical.hostname"));
    assertEquals(9096, c.getInt("pekko.remote.artery.canonical.port"));
    assertEquals(9097, c.getInt("pekko.management.http.port"));
    assertEquals(2, c.getInt("pekko.management.cluster.bootstrap.contact-point-discovery.required-contact-point-nr"));
    var endpoints = c.getConfigList("pekko.discovery.config.services.pmm-ha.endpoints");
    assertEquals(3, endpoints.size());
    assertEquals("172.20.0.7", endpoints.get(2).getString("host"));
    assertEquals(9097, endpoints.get(2).getInt("port"));
    assertEquals(List.of("pmm-ha", "node:pmm-server-active", ClusterConfig.MAY_LEAD_ROLE),
        c.getStringList("pekko.cluster.roles"));
  }

  @Test
  void aNodeWithNofailoverJoinsWithoutTheRoleOfTheMembersThatMayLead() {
    Map<String, String> env = new java.util.HashMap<>(GUIDE);
    env.put("PMM_HA_NOFAILOVER", "true");
    NodeSettings s = settings(env);
    assertTrue(s.noFailover());
    assertEquals(List.of("pmm-ha", "node:pmm-server-active"),
        ClusterConfig.overlay(s, TlsSettings.create(PmmHaConfig.load(env))).getStringList("pekko.cluster.roles"));
    assertFalse(settings(GUIDE).noFailover(), "off unless set");
    env.put("PMM_HA_NOFAILOVER", "maybe");
    assertEquals("PMM_HA_NOFAILOVER=\"maybe\" is not valid: expected 1, true, 0 or false", error(env));
    assertTrue(error(Map.of("PMM_HA_NOFAILOVER", "1")).startsWith("PMM_HA_NOFAILOVER=\"1\" is not valid: expected "
        + "false with HA off"), "a single node always leads");
  }

  @Test
  void theApplicationConfigSetsUpClusterSbrAndTheSharedPool() {
    Config c = PmmHaConfig.load(Map.of());
    assertEquals("cluster", c.getString("pekko.actor.provider"));
    assertEquals("keep-majority", c.getString("pekko.cluster.split-brain-resolver.active-strategy"));
    assertEquals("jdbc-journal", c.getString("pekko.persistence.journal.plugin"));
    assertEquals("pmm-ha", c.getString("jdbc-journal.use-shared-db"));
    assertEquals("pmm-ha", c.getString("jdbc-read-journal.use-shared-db"));
    assertEquals(Duration.ofSeconds(1), c.getDuration("pekko.cluster.split-brain-resolver.stable-after"));
    assertEquals("org.apache.pekko.cluster.sbr.SplitBrainResolverProvider", c.getString("pekko.cluster.downing-provider-class"));
    assertEquals(false, c.getBoolean("pekko.java-flight-recorder.enabled"), "no JFR classes loaded for nothing");
    assertEquals(Duration.ofMillis(500), PmmHaConfig.load(Map.of("PMM_HA_SBR_STABLE_AFTER", "500ms"))
        .getDuration("pekko.cluster.split-brain-resolver.stable-after"));
  }
}
