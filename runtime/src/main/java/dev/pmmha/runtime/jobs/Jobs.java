package dev.pmmha.runtime.jobs;

import dev.pmmha.http.api.JobsApi;
import dev.pmmha.persistence.StoreSettings;
import dev.pmmha.persistence.jobs.JobStore;
import dev.pmmha.runtime.cluster.AskAgain;
import dev.pmmha.runtime.cluster.NodeState;
import dev.pmmha.runtime.metrics.PmmHaMetrics;
import java.sql.SQLException;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import dev.pmmha.runtime.shutdown.ShutdownTasks;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeoutException;
import org.apache.pekko.actor.CoordinatedShutdown;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.cluster.sharding.typed.ShardingEnvelope;
import org.apache.pekko.cluster.sharding.typed.ShardingMessageExtractor;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;
import org.apache.pekko.cluster.sharding.typed.javadsl.Entity;
import org.apache.pekko.cluster.typed.ClusterSingleton;
import org.apache.pekko.cluster.typed.SingletonActor;
import org.apache.pekko.pattern.StatusReply;

/**
 * The jobs on one node: the {@link Job} entities' shard region (remember-entities on), the {@link JobKeeper}
 * singleton, and {@link JobsApi} for the routes: writes go to the job's entity wherever it runs, reads to the
 * store.
 */
public final class Jobs implements JobsApi {

  private final ActorSystem<?> system;
  private final ClusterSharding sharding;
  private final JobStore store;
  private final JobSettings settings;

  private Jobs(ActorSystem<?> system, ClusterSharding sharding, JobStore store, JobSettings settings) {
    this.system = system;
    this.sharding = sharding;
    this.store = store;
    this.settings = settings;
  }

  public static Jobs start(ActorSystem<?> system, JobSettings settings, StoreSettings storeSettings, NodeState node,
      PmmHaMetrics metrics) {
    String nodeId = node.nodeId();
    JobStore store = new JobStore(storeSettings, settings.storeConnections());
    JobRunner runner = new JobRunner(nodeId, settings);
    JobMetrics jobMetrics = new JobMetrics(metrics.registry(), nodeId);
    Job.Deps deps = new Job.Deps(nodeId, store, runner, jobMetrics, settings, node::lostAt);
    ClusterSharding sharding = ClusterSharding.get(system);
    sharding.init(Entity.of(Job.TYPE_KEY, ec -> Job.create(ec, deps))
        .withMessageExtractor(new Extractor())
        .withStopMessage(Job.Stop.INSTANCE));
    ClusterSingleton.get(system).init(
        SingletonActor.of(JobKeeper.create(store, sharding, settings.wakeInterval()), "pmm-ha-job-keeper"));
    CoordinatedShutdown.get(system).addTask(CoordinatedShutdown.PhaseBeforeActorSystemTerminate(), "pmm-ha-jobs",
        () -> ShutdownTasks.offTheLoop("pmm-ha-close-jobs", () -> {
          runner.close();
          store.close();
        }));
    return new Jobs(system, sharding, store, settings);
  }

  /** Shard = the number before '|' in the entity id, chosen when the job was registered. */
  static final class Extractor extends ShardingMessageExtractor<ShardingEnvelope<Job.Command>, Job.Command> {
    @Override
    public String entityId(ShardingEnvelope<Job.Command> envelope) {
      return envelope.entityId();
    }

    @Override
    public String shardId(String entityId) {
      return Job.shardOf(entityId);
    }

    @Override
    public Job.Command unwrapMessage(ShardingEnvelope<Job.Command> envelope) {
      return envelope.message();
    }
  }

  /**
   * The jobs of a node with jobs switched off: a definition is still checked (a bad cron is a 400 as with jobs on),
   * then refused as unavailable.
   */
  public static JobsApi disabled() {
    return DISABLED;
  }

  private static final JobsApi DISABLED = new JobsApi() {
    @Override
    public Set<String> actions() {
      return NONE.actions();
    }

    @Override
    public Schedule schedule(String cron, String timezone) {
      return cronSchedule(cron, timezone, System.currentTimeMillis());
    }

    @Override
    public CompletionStage<JobInfo> put(String id, Definition definition) {
      return NONE.put(id, definition);
    }

    @Override
    public CompletionStage<Boolean> delete(String id) {
      return NONE.delete(id);
    }

    @Override
    public CompletionStage<List<JobInfo>> list() {
      return NONE.list();
    }

    @Override
    public CompletionStage<Optional<List<Run>>> runs(String id, int limit) {
      return NONE.runs(id, limit);
    }
  };

  /** The schedule of {@code cron} in {@code timezone}, parsed as {@link Job} will run it, seen at {@code nowMs}. */
  static JobsApi.Schedule cronSchedule(String cron, String timezone, long nowMs) {
    Cron parsed;
    try {
      parsed = Cron.parse(cron, timezone);
    } catch (Cron.InvalidCron e) {
      throw new JobsApi.InvalidScheduleException(e.getMessage());
    }
    long first = parsed.next(nowMs);
    return new JobsApi.Schedule(parsed.expression(), parsed.zone().getId(),
        Duration.ofMillis(parsed.next(first) - first));
  }

  @Override
  public Set<String> actions() {
    return settings.actions().keySet();
  }

  @Override
  public JobsApi.Schedule schedule(String cron, String timezone) {
    return cronSchedule(cron, timezone, System.currentTimeMillis());
  }

  @Override
  public CompletionStage<JobsApi.JobInfo> put(String id, Definition definition) {
    Job.Spec spec = JobView.spec(definition);
    return stored(store.async(s -> s.register(id, settings.shards(), System.currentTimeMillis())))
        .thenCompose(shard -> AskAgain.whileMoving(left -> sharding.entityRefFor(Job.TYPE_KEY, Job.entityId(shard, id))
                .<StatusReply<Job.Defined>>ask(replyTo -> new Job.Define(spec, replyTo), left),
                // the entity is being stopped and wrote nothing: the shard starts a new incarnation for the next ask
                (reply, failure) -> reply != null && reply.isError() && reply.getError().getMessage().endsWith(Job.MOVING),
                settings.writeTimeout(), system)
            .handle((reply, failure) -> {
              check(id, failure);
              if (reply.isError()) {
                throw new UnavailableException(reply.getError().getMessage());
              }
              Job.Defined d = reply.getValue();
              return new JobsApi.JobInfo(id, JobView.definition(d.spec()), d.node(), null, Optional.empty());
            }));
  }

  @Override
  public CompletionStage<Boolean> delete(String id) {
    return stored(store.async(s -> s.find(id))).thenCompose(found -> {
      if (found.isEmpty()) {
        return CompletableFuture.completedFuture(false);
      }
      return sharding.entityRefFor(Job.TYPE_KEY, Job.entityId(found.get().shard(), id))
          .<StatusReply<Job.Removed>>ask(Job.Remove::new, settings.writeTimeout())
          .handle((reply, failure) -> {
            check(id, failure);
            if (reply.isError()) {
              throw new UnavailableException(reply.getError().getMessage());
            }
            return found.get().spec() != null || reply.getValue().existed();
          });
    });
  }

  @Override
  public CompletionStage<List<JobsApi.JobInfo>> list() {
    return stored(store.background(s -> s.list().stream().map(JobView::job).toList()));
  }

  @Override
  public CompletionStage<Optional<List<Run>>> runs(String id, int limit) {
    return stored(store.background(s -> {
      if (s.find(id).filter(r -> r.spec() != null).isEmpty()) {
        return Optional.<List<Run>>empty();
      }
      return Optional.of(s.runs(id, limit).stream().map(JobView::run).toList());
    }));
  }

  private void check(String id, Throwable failure) {
    if (failure == null) {
      return;
    }
    Throwable t = failure instanceof CompletionException && failure.getCause() != null ? failure.getCause() : failure;
    if (t instanceof TimeoutException) {
      throw new UnavailableException("job " + id + " did not answer within " + settings.writeTimeout().toMillis()
          + " ms (its shard may be moving after a node left or failed); try again");
    }
    throw new CompletionException(t);
  }

  /** A store that fails or does not answer is a 503 with its reason, not a 500. */
  private static <T> CompletionStage<T> stored(CompletableFuture<T> work) {
    return work.orTimeout(10, java.util.concurrent.TimeUnit.SECONDS).handle((v, failure) -> {
      if (failure == null) {
        return v;
      }
      Throwable t = failure instanceof CompletionException && failure.getCause() != null ? failure.getCause() : failure;
      if (t instanceof SQLException || t instanceof TimeoutException) {
        throw new UnavailableException("the store did not answer: " + JobView.describe(t));
      }
      throw new CompletionException(t);
    });
  }

}
