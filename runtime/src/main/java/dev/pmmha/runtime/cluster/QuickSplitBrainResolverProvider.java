package dev.pmmha.runtime.cluster;

import org.apache.pekko.actor.ActorSystem;
import org.apache.pekko.actor.Props;
import org.apache.pekko.cluster.Cluster;
import org.apache.pekko.cluster.DowningProvider;
import org.apache.pekko.cluster.sbr.KeepMajority;
import org.apache.pekko.cluster.sbr.SplitBrainResolverProvider;
import org.apache.pekko.cluster.sbr.SplitBrainResolverSettings;
import scala.Option;
import scala.concurrent.duration.FiniteDuration;

/**
 * {@code pekko.cluster.downing-provider-class} for pmm-ha: Pekko's Split Brain Resolver with the keep-majority
 * strategy, run by {@link QuickSplitBrainResolver} (100 ms decision tick). Any other configured strategy is left
 * to Pekko's own provider unchanged. The removal margin is Pekko's rule: {@code down-removal-margin} when set,
 * else {@code stable-after}.
 */
public final class QuickSplitBrainResolverProvider extends DowningProvider {

  private final ActorSystem system;
  private final SplitBrainResolverSettings settings;

  public QuickSplitBrainResolverProvider(ActorSystem system) {
    this.system = system;
    this.settings = new SplitBrainResolverSettings(system.settings().config());
  }

  @Override
  public FiniteDuration downRemovalMargin() {
    FiniteDuration margin = Cluster.get(system).settings().DownRemovalMargin();
    return margin.toMillis() > 0 ? margin : settings.DowningStableAfter();
  }

  @Override
  public Option<Props> downingActorProps() {
    if (!SplitBrainResolverSettings.KeepMajorityName().equals(settings.DowningStrategy())) {
      return new SplitBrainResolverProvider(system).downingActorProps();
    }
    Cluster cluster = Cluster.get(system);
    KeepMajority strategy = new KeepMajority(cluster.selfDataCenter(), settings.keepMajorityRole(), cluster.selfUniqueAddress());
    return Option.apply(Props.create(QuickSplitBrainResolver.class, settings.DowningStableAfter(), strategy));
  }
}
