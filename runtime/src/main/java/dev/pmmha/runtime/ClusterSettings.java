package dev.pmmha.runtime;

import dev.pmmha.http.SettingsApi;
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
    return write(AskPattern.<Leader.Command, StatusReply<Leader.SettingWritten>>ask(
        leader, replyTo -> new Leader.PutSetting(key, json, replyTo), timeout, system.scheduler()));
  }

  @Override
  public CompletionStage<WriteAck> delete(String key) {
    return write(AskPattern.<Leader.Command, StatusReply<Leader.SettingWritten>>ask(
        leader, replyTo -> new Leader.DeleteSetting(key, replyTo), timeout, system.scheduler()));
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
