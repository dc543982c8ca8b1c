package dev.pmmha.runtime.cluster;

import java.util.concurrent.TimeUnit;
import org.apache.pekko.cluster.Cluster;
import org.apache.pekko.cluster.ClusterEvent;
import org.apache.pekko.cluster.UniqueAddress;
import org.apache.pekko.cluster.sbr.DowningStrategy;
import org.apache.pekko.cluster.sbr.SplitBrainResolverBase;
import org.apache.pekko.remote.artery.ThisActorSystemQuarantinedEvent;
import scala.concurrent.duration.FiniteDuration;

/**
 * Pekko's Split Brain Resolver, deciding on a 100 ms tick instead of its fixed 1 s one.
 *
 * <p>Pekko's {@code SplitBrainResolver} evaluates its decision only on a timer whose interval is hard-coded to one
 * second ({@code SplitBrainResolverBase.tickInterval}), so a node that became unreachable is downed
 * {@code stable-after} plus 0 to 1 s later: on average half a second of every crash failover is spent waiting for
 * that tick (docs/decisions/failover-timing.md). This class is Pekko's own {@code SplitBrainResolver} (same strategy,
 * same {@code stable-after}, same downing through {@link Cluster#down}) with only the tick changed. The decision
 * logic, the strategies and their safety are Pekko's, untouched.
 *
 * <p>The tick is a constant because the base class starts its timer from its constructor, before any field of
 * this class is set.
 */
public final class QuickSplitBrainResolver extends SplitBrainResolverBase {

  static final FiniteDuration TICK = FiniteDuration.create(100, TimeUnit.MILLISECONDS);

  private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(QuickSplitBrainResolver.class);

  private final Cluster cluster;

  public QuickSplitBrainResolver(FiniteDuration stableAfter, DowningStrategy strategy) {
    super(stableAfter, strategy);
    this.cluster = Cluster.get(context().system());
    LOG.info("SBR started (pmm-ha quick tick {}). Config: strategy [{}], stable-after [{}], down-all-when-unstable [{}], "
            + "selfUniqueAddress [{}], selfDc [{}].",
        TICK, strategy.getClass().getSimpleName(), stableAfter, downAllWhenUnstable(), selfUniqueAddress().address(),
        selfDc());
  }

  @Override
  public FiniteDuration tickInterval() {
    return TICK;
  }

  @Override
  public UniqueAddress selfUniqueAddress() {
    return Cluster.get(context().system()).selfUniqueAddress();
  }

  @Override
  public String selfDc() {
    return Cluster.get(context().system()).selfDataCenter();
  }

  @Override
  public void preStart() {
    cluster.subscribe(self(), ClusterEvent.initialStateAsEvents(), ClusterEvent.ClusterDomainEvent.class);
    context().system().eventStream().subscribe(self(), ThisActorSystemQuarantinedEvent.class);
  }

  @Override
  public void postStop() {
    cluster.unsubscribe(self());
    context().system().eventStream().unsubscribe(self(), ThisActorSystemQuarantinedEvent.class);
    super.postStop();
  }

  @Override
  public void down(UniqueAddress node, DowningStrategy.Decision decision) {
    LOG.info("SBR is downing [{}] ({})", node, decision);
    cluster.down(node.address());
  }
}
