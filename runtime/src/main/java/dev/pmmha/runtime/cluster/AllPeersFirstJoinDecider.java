package dev.pmmha.runtime.cluster;

import java.time.Duration;
import java.time.LocalDateTime;
import org.apache.pekko.actor.ActorSystem;
import org.apache.pekko.management.cluster.bootstrap.ClusterBootstrapSettings;
import org.apache.pekko.management.cluster.bootstrap.LowestAddressJoinDecider;
import org.apache.pekko.management.cluster.bootstrap.SeedNodesInformation;

/**
 * Cluster Bootstrap's lowest-address rule, made safe for nodes that start together.
 *
 * <p>With {@code contact-with-all-contact-points = false} (a majority of the peers may form the cluster, so that
 * a cold start does not wait for a dead node), Pekko's {@link LowestAddressJoinDecider} lets a node form a new
 * cluster when it is the lowest of the peers <em>that answered</em>. When three nodes start together, the
 * second can decide before the first one's management endpoint is up, while the first decides the same a
 * moment later: two clusters, each with its own leader singleton (the fence keeps all but one from leading,
 * but the split never heals by itself). Measured: 2 of about 12 cold starts of bench/perf startup.
 *
 * <p>This decider requires an answer from every peer for {@code pmm-ha.formation.wait-for-all-peers} after the
 * peer list was last seen to change (then every node sees the same lowest address: exactly one forms, the
 * others join it); only after that wait may a majority form without the silent ones, as before. A node that
 * finds an existing cluster joins it at once either way.
 */
public final class AllPeersFirstJoinDecider extends LowestAddressJoinDecider {

  private final Duration waitForAll;

  public AllPeersFirstJoinDecider(ActorSystem system, ClusterBootstrapSettings settings) {
    super(system, settings);
    this.waitForAll = system.settings().config().getDuration("pmm-ha.formation.wait-for-all-peers");
  }

  @Override
  public boolean isConfirmedCommunicationWithAllContactPointsRequired(SeedNodesInformation info) {
    return allPeersRequired(info.contactPointsChangedAt(), info.currentTime(), waitForAll)
        || super.isConfirmedCommunicationWithAllContactPointsRequired(info);
  }

  static boolean allPeersRequired(LocalDateTime peersChangedAt, LocalDateTime now, Duration waitForAll) {
    return now.isBefore(peersChangedAt.plus(waitForAll));
  }
}
