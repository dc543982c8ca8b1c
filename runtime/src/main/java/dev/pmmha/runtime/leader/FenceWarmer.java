package dev.pmmha.runtime.leader;

import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.cluster.ClusterEvent;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Subscribe;

/**
 * Uses this node's fence connection when another member starts leaving, is downed or becomes unreachable: this
 * node may have to take the fence within a second. A connection idle for longer than a second is checked before
 * use (a store failover may have broken it), and a take-over would pay that round trip, or a new connection, in
 * the middle of the no-leader gap; the read here pays it before the gap instead. Costs one fence read per event,
 * on followers only: a leader uses its connection for every renewal, and a read there would only queue on the
 * fence thread in front of the next one.
 */
public final class FenceWarmer {

  private FenceWarmer() {}

  /** Whether {@code e} calls for a fence read: another member leaves, is downed or unreachable, and this node does not lead. */
  static boolean warms(ClusterEvent.ClusterDomainEvent e, boolean leading) {
    return !leading && (e instanceof ClusterEvent.MemberLeft || e instanceof ClusterEvent.MemberDowned
        || e instanceof ClusterEvent.UnreachableMember);
  }

  /** {@code leading}: this node holds the fence now (it needs no warming). */
  public static Behavior<ClusterEvent.ClusterDomainEvent> create(FenceClient fence,
      java.util.function.BooleanSupplier leading) {
    return Behaviors.setup(ctx -> {
      var subscriptions = Cluster.get(ctx.getSystem()).subscriptions();
      subscriptions.tell(Subscribe.create(ctx.getSelf().narrow(), ClusterEvent.MemberEvent.class));
      subscriptions.tell(Subscribe.create(ctx.getSelf().narrow(), ClusterEvent.ReachabilityEvent.class));
      return Behaviors.receive(ClusterEvent.ClusterDomainEvent.class)
          .onMessage(ClusterEvent.ClusterDomainEvent.class, e -> {
            if (warms(e, leading.getAsBoolean())) {
              fence.current(); // its answer is not needed, nor its failure: the take-over reports its own
            }
            return Behaviors.same();
          })
          .build();
    });
  }
}
