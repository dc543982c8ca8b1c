package dev.pmmha.runtime.settings;

import com.fasterxml.jackson.databind.JsonNode;
import dev.pmmha.http.api.SettingsApi;
import dev.pmmha.http.routes.Json;
import dev.pmmha.runtime.cluster.AskAgain;
import dev.pmmha.runtime.cluster.NodeState;
import dev.pmmha.runtime.leader.Leader;
import dev.pmmha.runtime.metrics.PmmHaMetrics;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Function;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
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

  public static final String NOT_CURRENT = "this node's copy of the settings is not known to be current yet (no leader "
      + "has said which version is current since this node started or since the last leader was lost); try again";

  @Override
  public CompletionStage<Snapshot> read() {
    if (node.settingsCurrent()) {
      return CompletableFuture.completedFuture(node.settings());
    }
    return node.whenSettingsCurrent()
        .completeOnTimeout(null, timeout.toMillis(), TimeUnit.MILLISECONDS)
        .thenApply(v -> {
          if (!node.settingsCurrent()) {
            throw new NotCurrentException(NOT_CURRENT);
          }
          return node.settings();
        });
  }

  @Override
  public CompletionStage<Snapshot> latest() {
    return AskPattern.<Leader.Command, Leader.SettingsSnapshot>ask(leader, Leader.GetSettings::new, timeout,
            system.scheduler())
        .handle((snapshot, failure) -> {
          if (failure != null) {
            throw new NotCurrentException("the leader did not answer within " + timeout.toMillis()
                + " ms to confirm which settings exist (failover in progress, or no majority of nodes); try again");
          }
          return snapshot.toApi();
        });
  }

  @Override
  public CompletionStage<WriteAck> put(String key, JsonNode value) {
    String json = Json.write(value);
    return write(replyTo -> new Leader.PutSetting(key, json, replyTo));
  }

  @Override
  public CompletionStage<WriteAck> delete(String key) {
    return write(replyTo -> new Leader.DeleteSetting(key, replyTo));
  }

  public static final String LEFT = "this node has left the cluster (it is shutting down); send the write to the leader";

  /**
   * Asks the leader singleton, again while it answers that the leadership is changing ({@link AskAgain}), until
   * the write timeout.
   */
  private CompletionStage<Leader.SettingWritten> askLeader(
      Function<ActorRef<StatusReply<Leader.SettingWritten>>, Leader.Command> command) {
    if (node.leftTheCluster()) {
      // the ask would wait out the write timeout, and the HTTP port closes before that: answer now (503; the
      // routes hold it until this node's hand-over has settled, and the load balancer sends the write again)
      return CompletableFuture.failedFuture(new NoLeaderException(LEFT));
    }
    return AskAgain.whileMoving(left -> AskPattern.askWithStatus(leader, command::apply, left, system.scheduler()),
        (written, failure) -> failure instanceof StatusReply.ErrorMessage e && Leader.NOT_LEADER.equals(e.getMessage()),
        timeout, system);
  }

  /**
   * The leader's answer as the routes need it, given once this node's copy has the write (so that a read here
   * after the answer sees it). The copy comes over the leader topic; if it has not come by the write's deadline
   * the answer is given anyway: the write is persisted, and the leader's next announcement brings the copy.
   */
  private CompletionStage<WriteAck> write(
      Function<ActorRef<StatusReply<Leader.SettingWritten>>, Leader.Command> command) {
    long deadline = System.nanoTime() + timeout.toNanos();
    return acknowledged(askLeader(command)).thenCompose(ack -> node.settingsAt(ack.version())
        .completeOnTimeout(null, Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS)
        .thenApply(reached -> ack));
  }

  private CompletionStage<WriteAck> acknowledged(CompletionStage<Leader.SettingWritten> reply) {
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
