package dev.pmmha.runtime.settings;

import dev.pmmha.http.api.SettingsApi;
import dev.pmmha.runtime.cluster.NodeState;
import dev.pmmha.runtime.leader.Leader;
import dev.pmmha.runtime.leader.LeaderState;
import dev.pmmha.runtime.metrics.PmmHaMetrics;
import java.time.Duration;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeoutException;
import java.util.function.Function;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.pattern.Patterns;
import org.apache.pekko.pattern.StatusReply;

/**
 * {@link SettingsApi} for the routes: reads from this node's replica, writes sent over the cluster to the
 * leader singleton (never over HTTP), which persists them before it replies.
 */
public final class ClusterSettings implements SettingsApi {

  private final NodeState node;
  private final ActorRef<Leader.Command> leader;
  private final ActorSystem<?> system;
  private final Duration timeout;
  private final PmmHaMetrics metrics;

  public ClusterSettings(
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
    return write(askLeader(replyTo -> new Leader.PutSetting(key, json, replyTo)));
  }

  @Override
  public CompletionStage<WriteAck> delete(String key) {
    return write(askLeader(replyTo -> new Leader.DeleteSetting(key, replyTo)));
  }

  private static final Duration RETRY_PAUSE = Duration.ofMillis(100);
  public static final String LEFT = "this node has left the cluster (it is shutting down); send the write to the leader";

  /**
   * Asks the leader singleton, and asks again while it answers that the leadership is changing (it wrote nothing
   * then, so asking again is safe), until the write timeout: a write made during a hand-over waits for the next
   * leader instead of failing at once. A timeout is not retried (the write may have happened).
   */
  private CompletionStage<Leader.SettingWritten> askLeader(
      Function<ActorRef<StatusReply<Leader.SettingWritten>>, Leader.Command> command) {
    if (node.leftTheCluster()) {
      // the ask would wait out the write timeout, and the HTTP port closes before that: answer now (503; the
      // routes hold it until this node's hand-over has settled, and the load balancer sends the write again)
      return CompletableFuture.failedFuture(new NoLeaderException(LEFT));
    }
    long deadline = System.nanoTime() + timeout.toNanos();
    int attempts = (int) Math.max(1, timeout.toMillis() / RETRY_PAUSE.toMillis());
    return Patterns.retry(
        () -> AskPattern.askWithStatus(leader, command::apply, Duration.ofNanos(Math.max(1, deadline - System.nanoTime())),
            system.scheduler()),
        (written, failure) -> failure instanceof StatusReply.ErrorMessage e && Leader.NOT_LEADER.equals(e.getMessage())
            && deadline - System.nanoTime() >= RETRY_PAUSE.multipliedBy(2).toNanos(),
        attempts, RETRY_PAUSE, system);
  }

  private CompletionStage<WriteAck> write(CompletionStage<Leader.SettingWritten> reply) {
    return reply.handle((w, failure) -> {
      Throwable t = failure instanceof CompletionException && failure.getCause() != null ? failure.getCause() : failure;
      metrics.settingsWrite(t == null ? "ok"
          : t instanceof TimeoutException || t instanceof StatusReply.ErrorMessage || t instanceof NoLeaderException
              ? "no_leader" : "error");
      if (t instanceof TimeoutException) {
        throw new NoLeaderException("no leader answered within " + timeout.toMillis()
            + " ms (failover in progress, or no majority of nodes); try again");
      }
      if (t instanceof StatusReply.ErrorMessage e) {
        throw new NoLeaderException(e.getMessage());
      }
      if (t != null) {
        throw t instanceof CompletionException c ? c : new CompletionException(t);
      }
      return new WriteAck(w.key(), w.version(), w.epoch(), w.existed());
    });
  }
}
