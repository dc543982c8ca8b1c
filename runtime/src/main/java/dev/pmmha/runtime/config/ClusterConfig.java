package dev.pmmha.runtime.config;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigValueFactory;
import dev.pmmha.persistence.HostPort;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** Turns {@link NodeSettings} into the Pekko settings they stand for (Artery, Management, Bootstrap, discovery). */
public final class ClusterConfig {

  static final String SERVICE_NAME = "pmm-ha";
  public static final String NODE_ROLE_PREFIX = "node:";
  /**
   * The role of the members that may lead: the leader singleton runs on the oldest of them. A node with
   * PMM_HA_NOFAILOVER=true joins without it (Patroni's nofailover tag).
   */
  public static final String MAY_LEAD_ROLE = "pmm-ha-may-lead";

  private ClusterConfig() {}

  public static Config overlay(NodeSettings s, TlsSettings tls) {
    Map<String, Object> m = new HashMap<>();
    if (tls.enabled()) {
      // Mutual TLS on the cluster transport: a peer needs a certificate from PMM_HA_TLS_CA that names its address
      // or shares this node's subject (runtime.tls.NodeTlsProvider, PeerIdentity).
      m.put("pekko.remote.artery.transport", "tls-tcp");
      m.put("pekko.remote.artery.ssl.ssl-engine-provider", "dev.pmmha.runtime.tls.NodeTlsProvider");
    }
    m.put("pekko.cluster.roles", s.noFailover()
        ? List.of("pmm-ha", NODE_ROLE_PREFIX + s.nodeId())
        : List.of("pmm-ha", NODE_ROLE_PREFIX + s.nodeId(), MAY_LEAD_ROLE));
    if (!s.haEnabled()) {
      // A single node that joins itself: Artery only on loopback, on a free port.
      m.put("pekko.remote.artery.canonical.hostname", "127.0.0.1");
      m.put("pekko.remote.artery.canonical.port", 0);
      return ConfigFactory.parseMap(m);
    }
    m.put("pekko.remote.artery.canonical.hostname", s.advertiseAddress());
    m.put("pekko.remote.artery.canonical.port", s.gossipPort());
    m.put("pekko.remote.artery.bind.hostname", s.bindAddress());
    m.put("pekko.remote.artery.bind.port", s.gossipPort());

    m.put("pekko.management.http.hostname", s.advertiseAddress());
    m.put("pekko.management.http.port", s.raftPort());
    m.put("pekko.management.http.bind-hostname", s.bindAddress());
    m.put("pekko.management.http.bind-port", s.raftPort());

    String bootstrap = "pekko.management.cluster.bootstrap.contact-point-discovery.";
    m.put(bootstrap + "service-name", SERVICE_NAME);
    m.put(bootstrap + "required-contact-point-nr", s.requiredContactPoints());
    if (s.discovery().equals("kubernetes")) {
      m.put(bootstrap + "discovery-method", "kubernetes-api");
      m.put("pekko.management.cluster.bootstrap.contact-point.fallback-port", s.raftPort());
    } else {
      m.put(bootstrap + "discovery-method", "config");
      List<Map<String, Object>> endpoints = new ArrayList<>();
      for (HostPort p : s.peers()) {
        // Contact points are the peers' management endpoints: every node uses the same PMM_HA_RAFT_PORT.
        endpoints.add(Map.of("host", p.host(), "port", s.raftPort()));
      }
      m.put("pekko.discovery.config.services." + SERVICE_NAME + ".endpoints", endpoints);
    }
    return ConfigFactory.parseMap(m);
  }

}
