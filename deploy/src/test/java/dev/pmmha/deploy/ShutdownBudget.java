package dev.pmmha.deploy;

import com.typesafe.config.Config;
import dev.pmmha.runtime.DeployedNode;
import java.time.Duration;
import java.util.Map;

/**
 * How long a node may take to stop gracefully, from the runtime's own configuration. A node that gets SIGTERM
 * runs Pekko's coordinated shutdown; the leader hand-over happens in its cluster-leave phase (the node leaves)
 * and cluster-exiting phase (the singleton moves to the oldest other node). Those two phases' timeouts bound the
 * hand-over; a stop grace period (Docker's stop_grace_period, Kubernetes' terminationGracePeriodSeconds) must be
 * longer than both together, with room for the JVM to start and end the rest (unbinding, the store's pool).
 */
final class ShutdownBudget {

  /** Time for everything else that runs at shutdown: unbinding HTTP, closing the pool, the JVM's exit. */
  static final Duration REST = Duration.ofSeconds(5);

  private ShutdownBudget() {}

  static Duration phase(Config pekko, String phase) {
    String path = "pekko.coordinated-shutdown.phases." + phase + ".timeout";
    return pekko.hasPath(path)
        ? pekko.getDuration(path)
        : pekko.getDuration("pekko.coordinated-shutdown.default-phase-timeout");
  }

  /** The shortest stop grace period that never cuts a hand-over short. */
  static Duration minimumGracePeriod() {
    Config pekko = DeployedNode.of(Map.of(
        "PMM_HA_ENABLE", "1", "PMM_HA_ADVERTISE_ADDRESS", "10.0.0.1", "PMM_HA_PEERS", "10.0.0.1,10.0.0.2,10.0.0.3"))
        .pekko;
    return phase(pekko, "cluster-leave").plus(phase(pekko, "cluster-exiting")).plus(REST);
  }
}
