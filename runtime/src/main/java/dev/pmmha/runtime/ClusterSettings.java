package dev.pmmha.runtime;

import dev.pmmha.http.api.SettingsApi;
import dev.pmmha.persistence.LeaderState;
import java.time.Duration;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeoutException;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.pattern.StatusReply;

/**
 * {@link SettingsApi} for the routes: reads from this node's replica, writes sent over the cluster to the
 * leader singleton (never over HTTP), which persists them before it replies.
 */
final class ClusterSettings implements SettingsApi {

  private final NodeState node;
  private final ActorRef<Leader.Command> leader;
  private final ActorSystem<?> system;
  private final Duration timeout;
  private final PmmHaMetrics metrics;

  ClusterSettings(
      NodeState node, ActorRef<Leader.Command> leader, ActorSystem<?> system, Duration timeout, PmmHaMetrics metrics) {
    this.metrics = metrics;
    this.node = node;
    this.leader = leader;
    this.system = system;
    this.timeout = timeout;
  }

  @Override
  public Snapshot snapshot() {
    Leader.SettingsSnapshot s = node.settings();
    Map<String, Entry> out = new TreeMap<>();
    for (Map.Entry<String, LeaderState.Setting> e : s.settings().entrySet()) {
      LeaderState.Setting v = e.getValue();
      out.put(e.getKey(), new Entry(v.json(), v.version(), v.updatedAt(), v.updatedBy()));
    }
    return new Snapshot(s.version(), out);
  }

  @Override
  public CompletionStage<WriteAck> put(String key, String json) {
    return write(askLeader(replyTo -> new Leader.PutSetting(key, json, replyTo), System.nanoTime() + timeout.toNanos()));
  }

  @Override
  public CompletionStage<WriteAck> delete(String key) {
    return write(askLeader(replyTo -> new Leader.DeleteSetting(key, replyTo), System.nanoTime() + timeout.toNanos()));
  }

  private static final Duration RETRY_PAUSE = Duration.ofMillis(100);
  static final String LEFT = "this node has left the cluster (it is shutting down); send the write to the leader";

  /**
   * Asks the leader singleton, and asks again while it answers that the leadership is changing (it wrote nothing
   * then, so asking again is safe), until the write timeout: a write made during a hand-over waits for the next
   * leader instead of failing at once. A timeout is not retried (the write may have happened).
   */
  private CompletionStage<StatusReply<Leader.SettingWritten>> askLeader(
      java.util.function.Function<ActorRef<StatusReply<Leader.SettingWritten>>, Leader.Command> command, long deadline) {
    if (node.leftTheCluster()) {
      // the ask would wait out the write timeout, and the HTTP port closes before that: answer now (503; the
      // routes hold it until this node's hand-over has settled, and the load balancer sends the write again)
      return java.util.concurrent.CompletableFuture.completedFuture(StatusReply.error(LEFT));
    }
    Duration left = Duration.ofNanos(deadline - System.nanoTime());
    return AskPattern.<Leader.Command, StatusReply<Leader.SettingWritten>>ask(leader, command::apply, left, system.scheduler())
        .thenCompose(reply -> {
          boolean changing = reply.isError() && Leader.NOT_LEADER.equals(reply.getError().getMessage());
          if (!changing || deadline - System.nanoTime() < RETRY_PAUSE.multipliedBy(2).toNanos()) {
            return java.util.concurrent.CompletableFuture.completedFuture(reply);
          }
          return java.util.concurrent.CompletableFuture.supplyAsync(() -> null,
                  java.util.concurrent.CompletableFuture.delayedExecutor(RETRY_PAUSE.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS))
              .thenCompose(v -> askLeader(command, deadline));
        });
  }

  private CompletionStage<WriteAck> write(CompletionStage<StatusReply<Leader.SettingWritten>> reply) {
    return reply.handle((r, failure) -> {
      metrics.settingsWrite(failure == null && !r.isError() ? "ok"
          : failure instanceof TimeoutException || (failure != null && failure.getCause() instanceof TimeoutException)
              || (r != null && r.isError()) ? "no_leader" : "error");
      if (failure != null) {
        Throwable t = failure instanceof CompletionException && failure.getCause() != null ? failure.getCause() : failure;
        if (t instanceof TimeoutException) {
          throw new NoLeaderException("no leader answered within " + timeout.toMillis()
              + " ms (failover in progress, or no majority of nodes); try again");
        }
        throw new CompletionException(t);
      }
      if (r.isError()) {
        throw new NoLeaderException(r.getError().getMessage());
      }
      Leader.SettingWritten w = r.getValue();
      return new WriteAck(w.key(), w.version(), w.epoch(), w.existed());
    });
  }
}
