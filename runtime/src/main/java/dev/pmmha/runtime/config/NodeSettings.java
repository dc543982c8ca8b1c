package dev.pmmha.runtime.config;

import com.typesafe.config.Config;
import dev.pmmha.persistence.HostPort;
import dev.pmmha.persistence.SettingsException;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.NetworkInterface;
import java.net.SocketException;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * {@code pmm-ha.cluster}: who this node is and who its peers are, from PMM's {@code PMM_HA_*} variables (or the
 * older {@code PMM_TEST_HA_*}; application.conf lets {@code PMM_HA_*} win). Immutable; validated at start with
 * a one-line message that names the variable and the bad value.
 */
public record NodeSettings(
    boolean haEnabled,
    String nodeId,
    String advertiseAddress,
    String bindAddress,
    List<HostPort> peers,
    int gossipPort,
    int raftPort,
    int grafanaGossipPort,
    String discovery,
    Duration joinTimeout,
    boolean bootstrapGiven,
    int expectedNodesSetting,
    boolean noFailover) {

  public static NodeSettings create(Config root) {
    Config c = root.getConfig("pmm-ha.cluster");
    boolean enabled = parseBool(c.getString("enable"), var(root, "ENABLE"));
    boolean noFailover = parseBool(c.getString("nofailover"), "PMM_HA_NOFAILOVER");
    if (noFailover && !enabled) {
      throw new SettingsException("PMM_HA_NOFAILOVER", c.getString("nofailover"),
          "false with HA off (a single node always leads); set PMM_HA_ENABLE=1 for a node that never leads");
    }

    String nodeId = c.getString("node-id").trim();
    if (nodeId.isEmpty()) {
      nodeId = hostName();
    }
    if (!nodeId.matches("[A-Za-z0-9][A-Za-z0-9._-]{0,62}")) {
      throw new SettingsException(
          var(root, "NODE_ID"), nodeId, "1 to 63 letters, digits, '.', '_' or '-', starting with a letter or digit");
    }

    String advertise = c.getString("advertise-address").trim();
    if (advertise.isEmpty()) {
      advertise = enabled ? firstNonLoopbackAddress() : "127.0.0.1";
    } else {
      checkHost(advertise, var(root, "ADVERTISE_ADDRESS"));
    }
    String bind = c.getString("bind-address").trim();
    if (bind.isEmpty()) {
      bind = "0.0.0.0";
    }
    checkHost(bind, var(root, "BIND_ADDRESS"));

    int gossipPort = port(c, "gossip-port", var(root, "GOSSIP_PORT"));
    int raftPort = port(c, "raft-port", var(root, "RAFT_PORT"));
    int grafanaPort = port(c, "grafana-gossip-port", var(root, "GRAFANA_GOSSIP_PORT"));
    if (gossipPort == raftPort) {
      throw new SettingsException(
          var(root, "RAFT_PORT"), String.valueOf(raftPort), "a port other than PMM_HA_GOSSIP_PORT (" + gossipPort + ")");
    }

    String discovery = c.getString("discovery").trim().toLowerCase(Locale.ROOT);
    if (!discovery.equals("config") && !discovery.equals("kubernetes")) {
      throw new SettingsException("PMM_HA_DISCOVERY", discovery, "config (PMM_HA_PEERS) or kubernetes");
    }

    String peersText = c.getString("peers").trim();
    String peersVar = var(root, "PEERS");
    List<HostPort> peers = parsePeers(peersText, gossipPort, peersVar);
    if (enabled && discovery.equals("config")) {
      if (peers.isEmpty()) {
        throw new SettingsException(
            var(root, "PEERS"), peersText, "a comma-separated list of every node, this one included (host or host:port)");
      }
      checkSelfInPeers(peers, advertise, nodeId, gossipPort, peersText, peersVar);
    }

    Duration joinTimeout = duration(c, "join-timeout", "PMM_HA_JOIN_TIMEOUT");
    if (joinTimeout.isNegative() || joinTimeout.isZero()) {
      throw new SettingsException("PMM_HA_JOIN_TIMEOUT", joinTimeout.toString(), "a positive duration such as 60s");
    }
    Duration formationWait = duration(root, "pmm-ha.formation.wait-for-all-peers", "PMM_HA_FORMATION_WAIT");
    if (formationWait.isNegative()) {
      throw new SettingsException("PMM_HA_FORMATION_WAIT", formationWait.toString(), "a duration such as 10s (0s: no wait)");
    }
    boolean bootstrapGiven = !c.getString("bootstrap").trim().isEmpty();
    String expectedText = c.getString("expected-nodes").trim();
    int expected = 0;
    if (!expectedText.isEmpty()) {
      try {
        expected = Integer.parseInt(expectedText);
      } catch (NumberFormatException e) {
        expected = -1;
      }
      if (expected < 1 || expected > 99) {
        throw new SettingsException("PMM_HA_EXPECTED_NODES", expectedText, "the number of nodes, from 1 to 99");
      }
    }
    if (enabled && discovery.equals("kubernetes") && expected == 0) {
      throw new SettingsException("PMM_HA_EXPECTED_NODES", expectedText,
          "the replica count (needed with PMM_HA_DISCOVERY=kubernetes, where there is no peer list)");
    }
    return new NodeSettings(
        enabled, nodeId, advertise, bind, List.copyOf(peers), gossipPort, raftPort, grafanaPort, discovery,
        joinTimeout, bootstrapGiven, expected, noFailover);
  }

  /**
   * Nodes needed before a new cluster may form: a majority of the peers; with Kubernetes discovery every replica
   * (PMM_HA_EXPECTED_NODES), as Pekko Management recommends, since pods come and go.
   */
  public int requiredContactPoints() {
    if (!haEnabled) {
      return 1;
    }
    return discovery.equals("kubernetes") ? expectedNodes() : expectedNodes() / 2 + 1;
  }

  public int expectedNodes() {
    if (!haEnabled) {
      return 1;
    }
    return expectedNodesSetting > 0 ? expectedNodesSetting : Math.max(1, peers.size());
  }

  /**
   * The variable an operator set for {@code PMM_HA_<suffix>}: that name, or the older {@code PMM_TEST_HA_<suffix>}
   * when only that one is set (the environment sits at the config root, see {@link PmmHaConfig}).
   */
  static String var(Config root, String suffix) {
    String current = "PMM_HA_" + suffix;
    String old = "PMM_TEST_HA_" + suffix;
    return !root.hasPath(current) && root.hasPath(old) ? old : current;
  }

  public static Duration duration(Config c, String key, String variable) {
    try {
      return c.getDuration(key);
    } catch (com.typesafe.config.ConfigException e) {
      throw new SettingsException(variable, c.getValue(key).unwrapped().toString(), "a duration such as 60s or 500ms");
    }
  }

  public static boolean parseBool(String text, String variable) {
    switch (text.trim().toLowerCase(Locale.ROOT)) {
      case "1", "true", "yes", "on" -> {
        return true;
      }
      case "", "0", "false", "no", "off" -> {
        return false;
      }
      default -> throw new SettingsException(variable, text, "1, true, 0 or false");
    }
  }

  private static int port(Config c, String key, String variable) {
    String text = c.getString(key);
    return HostPort.parsePort(text, variable, text);
  }

  static List<HostPort> parsePeers(String text, int defaultPort, String variable) {
    List<HostPort> out = new ArrayList<>();
    if (text.isEmpty()) {
      return out;
    }
    Set<String> seen = new LinkedHashSet<>();
    for (String part : text.split(",")) {
      if (part.isBlank()) {
        throw new SettingsException(variable, text, "a comma-separated list of host or host:port with no empty entry");
      }
      HostPort hp = HostPort.parse(part, defaultPort, variable);
      if (!seen.add(hp.host().toLowerCase(Locale.ROOT) + ":" + hp.port())) {
        throw new SettingsException(variable, text, "each node once; " + hp + " is listed twice");
      }
      out.add(hp);
    }
    return out;
  }

  private static void checkSelfInPeers(
      List<HostPort> peers, String advertise, String nodeId, int gossipPort, String peersText, String variable) {
    Set<String> selfNames = new LinkedHashSet<>();
    selfNames.add(advertise.toLowerCase(Locale.ROOT));
    selfNames.add(nodeId.toLowerCase(Locale.ROOT));
    String advertiseIp = resolve(advertise);
    boolean unresolved = false;
    for (HostPort p : peers) {
      if (p.port() != gossipPort) {
        continue;
      }
      if (selfNames.contains(p.host().toLowerCase(Locale.ROOT))) {
        return;
      }
      String ip = resolve(p.host());
      if (ip == null) {
        unresolved = true;
      } else if (ip.equals(advertiseIp)) {
        return;
      }
    }
    if (unresolved) {
      return; // a peer name does not resolve yet (DNS of a starting container): cannot tell, do not refuse
    }
    throw new SettingsException(
        variable,
        peersText,
        "a list that includes this node (PMM_HA_ADVERTISE_ADDRESS=" + advertise + ", gossip port " + gossipPort + ")");
  }

  private static String resolve(String host) {
    try {
      return InetAddress.getByName(host).getHostAddress();
    } catch (UnknownHostException e) {
      return null;
    }
  }

  private static void checkHost(String host, String variable) {
    if (!host.matches("[A-Za-z0-9._:%-]+")) {
      throw new SettingsException(variable, host, "a host name or an IP address");
    }
  }

  private static String hostName() {
    String env = System.getenv("HOSTNAME");
    if (env != null && !env.isBlank()) {
      return env.trim();
    }
    try {
      return InetAddress.getLocalHost().getHostName();
    } catch (UnknownHostException e) {
      return "pmm-ha";
    }
  }

  private static String firstNonLoopbackAddress() {
    try {
      for (NetworkInterface nif : Collections.list(NetworkInterface.getNetworkInterfaces())) {
        if (!nif.isUp() || nif.isLoopback()) {
          continue;
        }
        for (InetAddress a : Collections.list(nif.getInetAddresses())) {
          if (a instanceof Inet4Address && !a.isLoopbackAddress() && !a.isLinkLocalAddress()) {
            return a.getHostAddress();
          }
        }
      }
    } catch (SocketException e) {
      // fall through
    }
    return "127.0.0.1";
  }
}
