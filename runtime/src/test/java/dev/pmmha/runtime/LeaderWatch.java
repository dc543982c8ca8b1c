package dev.pmmha.runtime;

import dev.pmmha.http.routes.HaRoutes;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * Probes the leader check of every running node every 20 ms, all nodes of a round at once, and keeps each answer
 * with the times its request was sent and its answer received (one monotonic clock). {@link #violations} says what
 * the answers prove about two leaders, the way the failover lab's checker does (bench/lab/checker.py):
 * <ul>
 *   <li>two nodes answered 200 with the same epoch: one fence epoch is held by one node;</li>
 *   <li>a node answered 200 with epoch e1 to a request sent after another node's 200 with a higher epoch e2 was
 *       received: the older leader still answered after the newer one did.</li>
 * </ul>
 * A hand-over that falls between the probes of one round (the old leader's 200, then the new leader's) is no
 * violation: the old leader answered first, with the lower epoch. Every 200 must carry its epoch.
 */
final class LeaderWatch implements AutoCloseable {

  /** One probe: the node, when it was sent and answered (ns), the status (-1: no answer) and the epoch header. */
  record Answer(String node, long sent, long received, int status, long epoch) {}

  private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofMillis(800)).build();
  private final List<Answer> answers = new CopyOnWriteArrayList<>();
  private volatile boolean running = true;
  private final Thread thread;

  LeaderWatch(Supplier<List<NodeProcess>> running) {
    thread = new Thread(() -> {
      while (this.running) {
        List<CompletableFuture<Answer>> round = new ArrayList<>();
        for (NodeProcess n : running.get()) {
          round.add(probe(n));
        }
        for (CompletableFuture<Answer> a : round) {
          try {
            answers.add(a.get(2, TimeUnit.SECONDS));
          } catch (Exception e) {
            // the request's own timeout answers sooner; nothing to record
          }
        }
        try {
          Thread.sleep(20);
        } catch (InterruptedException e) {
          return;
        }
      }
    }, "leader-watch");
    thread.setDaemon(true);
    thread.start();
  }

  private static CompletableFuture<Answer> probe(NodeProcess n) {
    long sent = System.nanoTime();
    return HTTP.sendAsync(HttpRequest.newBuilder(URI.create(n.url("/v1/leaderHealthCheck")))
            .timeout(Duration.ofSeconds(1)).POST(HttpRequest.BodyPublishers.noBody()).build(),
        HttpResponse.BodyHandlers.discarding())
        .handle((r, e) -> r == null ? new Answer(n.name, sent, System.nanoTime(), -1, 0)
            : new Answer(n.name, sent, System.nanoTime(), r.statusCode(),
                r.headers().firstValue(HaRoutes.EPOCH_HEADER).map(Long::parseLong).orElse(0L)));
  }

  /** Every answer so far. */
  List<Answer> answers() {
    return List.copyOf(answers);
  }

  /** What the answers prove about two leaders: one line per violation, empty when there is none. */
  static List<String> violations(List<Answer> answers) {
    // per node and epoch: the first 200 received and the last request sent that got a 200
    record Tenure(String node, long epoch, long firstReceived, long lastSent) {}
    java.util.Map<String, Tenure> tenures = new java.util.TreeMap<>();
    List<String> out = new ArrayList<>();
    for (Answer a : answers) {
      if (a.status != 200) {
        continue;
      }
      if (a.epoch <= 0) {
        out.add(a.node + " answered 200 without its epoch");
        continue;
      }
      tenures.merge(a.node + "@" + a.epoch, new Tenure(a.node, a.epoch, a.received, a.sent),
          (x, y) -> new Tenure(x.node, x.epoch, Math.min(x.firstReceived, y.firstReceived),
              Math.max(x.lastSent, y.lastSent)));
    }
    for (Tenure a : tenures.values()) {
      for (Tenure b : tenures.values()) {
        if (a.node.equals(b.node)) {
          continue;
        }
        if (a.epoch == b.epoch && a.node.compareTo(b.node) < 0) {
          out.add(a.node + " and " + b.node + " both answered 200 for epoch " + a.epoch);
        } else if (a.epoch < b.epoch && a.lastSent > b.firstReceived) {
          out.add(a.node + " answered 200 for epoch " + a.epoch + " " + (a.lastSent - b.firstReceived) / 1_000_000
              + " ms after " + b.node + " had answered 200 for epoch " + b.epoch);
        }
      }
    }
    return out.stream().distinct().toList();
  }

  @Override
  public void close() {
    running = false;
    try {
      thread.join(3000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
