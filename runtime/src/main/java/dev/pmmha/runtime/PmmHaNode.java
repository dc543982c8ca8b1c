package dev.pmmha.runtime;

import com.typesafe.config.Config;
import dev.pmmha.http.HttpSettings;
import dev.pmmha.persistence.StoreSettings;
import dev.pmmha.persistence.schema.Schema;
import dev.pmmha.runtime.cluster.NodeState;
import dev.pmmha.runtime.config.ClusterConfig;
import dev.pmmha.runtime.config.NodeSettings;
import dev.pmmha.runtime.config.TlsSettings;
import dev.pmmha.runtime.jobs.JobSettings;
import dev.pmmha.runtime.leader.KubernetesLeaderLabel;
import dev.pmmha.runtime.leader.LeaderServices;
import dev.pmmha.runtime.leader.LeaderSettings;
import dev.pmmha.runtime.tls.NodeTlsProvider;
import java.util.List;
import org.apache.pekko.actor.BootstrapSetup;
import org.apache.pekko.actor.setup.ActorSystemSetup;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.remote.artery.tcp.SSLEngineProviderSetup;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** One running node: its settings, its in-memory state and its actor system. */
public final class PmmHaNode {

  /** How the node finds its cluster. */
  public enum Formation {
    /** Management and Cluster Bootstrap from the peers (HA on) or a self-join (HA off). */
    AUTOMATIC,
    /** The caller joins the node (in-JVM test harnesses). */
    MANUAL
  }

  private final NodeSettings settings;
  private final StoreSettings store;
  private final HttpSettings http;
  private final NodeState state;
  private final ActorSystem<Object> system;

  private PmmHaNode(NodeSettings settings, StoreSettings store, HttpSettings http, NodeState state, ActorSystem<Object> system) {
    this.settings = settings;
    this.store = store;
    this.http = http;
    this.state = state;
    this.system = system;
  }

  /**
   * Validates the configuration, prepares the store (waiting for it up to its start-up wait) and starts the node.
   *
   * @throws dev.pmmha.persistence.SettingsException for bad configuration
   * @throws dev.pmmha.persistence.StoreUnavailableException when the store cannot be used
   */
  public static PmmHaNode start(Config config, Formation formation) {
    NodeSettings node = NodeSettings.create(config);
    StoreSettings store = StoreSettings.create(config);
    HttpSettings http = HttpSettings.create(config);
    LeaderSettings leader = LeaderSettings.create(config);
    TlsSettings tls = TlsSettings.create(config);
    JobSettings.create(config); // validated here, with the others; the guardian reads it again
    dev.pmmha.runtime.cluster.CrashWatch.Settings.from(config); // likewise
    List<LeaderServices.Entry> services =
        leader.instantiateServices(config.getConfig("pmm-ha.leader.service-defaults")
            .withValue("node-id", com.typesafe.config.ConfigValueFactory.fromAnyRef(node.nodeId())));
    Logger log = LoggerFactory.getLogger(PmmHaNode.class);
    if (node.bootstrapGiven()) {
      log.info("PMM_HA_BOOTSTRAP is not needed by pmm-ha (any majority of PMM_HA_PEERS forms the cluster); ignored");
    }
    log.info("Starting node {} (HA {}), advertise {}, gossip {}, management {}, HTTP {}, store {}",
        node.nodeId(), node.haEnabled() ? "on" : "off", node.advertiseAddress(), node.gossipPort(),
        node.raftPort(), http.port(), store.description());
    Schema.ensure(store);
    if (node.haEnabled() && !tls.enabled()) {
      log.warn("The cluster transport is neither encrypted nor authenticated: anyone who reaches PMM_HA_GOSSIP_PORT "
          + "can join. Set PMM_HA_TLS_CERT, PMM_HA_TLS_KEY and PMM_HA_TLS_CA (deploy/tls/make-certs.sh makes them)");
    }
    Config full = ClusterConfig.overlay(node, tls).withFallback(store.pluginConfig()).withFallback(config).resolve();
    NodeState state = new NodeState(node.haEnabled(), node.expectedNodes(), node.nodeId(),
        KubernetesLeaderLabel.podNamespace(config, System.getenv()));
    if (node.haEnabled() && tls.enabled()) {
      NodeTlsProvider.ownCertificateProblem(tls, node.advertiseAddress()).ifPresent(p -> {
        log.warn("{}", p);
        state.transportProblem(p);
      });
    }
    ActorSystemSetup setup = ActorSystemSetup.create(BootstrapSetup.create(full));
    if (tls.enabled()) {
      setup = setup.withSetup(SSLEngineProviderSetup.create(sys -> new NodeTlsProvider(tls, state::transportProblem)));
    }
    ActorSystem<Object> system = ActorSystem.create(
        Guardian.create(node, store, http, tls, state, leader, services, formation),
        "pmm-ha", setup);
    return new PmmHaNode(node, store, http, state, system);
  }

  public NodeSettings settings() {
    return settings;
  }

  public StoreSettings store() {
    return store;
  }

  public HttpSettings http() {
    return http;
  }

  public NodeState state() {
    return state;
  }

  public ActorSystem<Object> system() {
    return system;
  }
}
