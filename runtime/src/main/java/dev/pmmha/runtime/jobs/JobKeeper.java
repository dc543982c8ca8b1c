package dev.pmmha.runtime.jobs;

import dev.pmmha.persistence.jobs.JobStore;
import java.time.Duration;
import java.util.Map;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;

/**
 * A singleton that wakes every job in the registry, a few seconds after it starts and then every
 * {@code wake-interval}: after a full cluster restart its first round starts every job (the remembered shards are
 * kept in memory only); otherwise remember-entities has restarted them already and the wake-up is a no-op. Holds
 * nothing that must survive a hand-over.
 */
final class JobKeeper {

  private enum Sweep {
    INSTANCE
  }

  private record Found(Map<String, Integer> jobs, String error) {}

  private JobKeeper() {}

  static Behavior<Object> create(JobStore store, ClusterSharding sharding, Duration every) {
    return Behaviors.setup(ctx -> Behaviors.withTimers(timers -> {
      timers.startTimerWithFixedDelay(Sweep.INSTANCE, Duration.ofSeconds(3), every);
      return Behaviors.receive(Object.class)
          .onMessageEquals(Sweep.INSTANCE, () -> {
            ctx.pipeToSelf(store.async(JobStore::ids),
                (ids, failure) -> new Found(ids, failure == null ? null : JobView.describe(failure)));
            return Behaviors.same();
          })
          .onMessage(Found.class, found -> {
            if (found.error() != null) {
              ctx.getLog().warn("Job keeper: cannot read the job registry: {}", found.error());
              return Behaviors.same();
            }
            found.jobs().forEach((id, shard) ->
                sharding.entityRefFor(Job.TYPE_KEY, Job.entityId(shard, id)).tell(Job.Wake.INSTANCE));
            ctx.getLog().debug("Job keeper woke {} jobs", found.jobs().size());
            return Behaviors.same();
          })
          .build();
    }));
  }
}
