package dev.pmmha.runtime.metrics;

import dev.pmmha.http.api.ClusterView;
import dev.pmmha.http.api.Observability;
import dev.pmmha.runtime.cluster.NodeState;
import dev.pmmha.runtime.leader.LeaderEvent;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.instrumentation.jvm.JvmMetrics;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.persistence.jdbc.query.javadsl.JdbcReadJournal;
import org.apache.pekko.persistence.query.EventEnvelope;
import org.apache.pekko.persistence.query.Offset;
import org.apache.pekko.persistence.query.PersistenceQuery;
import org.apache.pekko.stream.javadsl.Sink;

/**
 * The node's metrics, in Prometheus text format on {@code GET /metrics}, with PMM's HA metric names so that
 * existing dashboards and alerts keep working ({@code pmm_ha_leader_status}, {@code pmm_ha_raft_term},
 * {@code pmm_ha_up}, {@code pmm_ha_expected_nodes}), plus membership, leadership changes, time to a new leader,
 * fence renewal latency, settings writes, HTTP requests and the JVM. Also serves the leadership history from the
 * journal.
 */
public final class PmmHaMetrics implements Observability {

  /** Tag on leadership events (elected, released), so their history is read without the settings events. */
  public static final String LEADERSHIP_TAG = "pmm-ha-leadership";

  private final PrometheusRegistry registry = new PrometheusRegistry();
  private final PrometheusTextFormatWriter writer = new PrometheusTextFormatWriter(false);
  private final Counter leadershipChanges;
  private final Histogram timeToNewLeader;
  private final Histogram fenceRenewal;
  private final Counter settingsWrites;
  private final Counter httpRequests;
  private final Histogram httpDuration;
  private volatile ActorSystem<?> system;
  private volatile CachedHistory cachedHistory = new CachedHistory(0, List.of());

  private record CachedHistory(long atNanos, List<HistoryEntry> entries) {}

  public PmmHaMetrics(NodeState node) {
    String id = node.nodeId();
    GaugeWithCallback.builder().name("pmm_ha_leader_status")
        .help("1 on the leader (it holds the fence and answers the leader health check), 0 elsewhere")
        .labelNames("node_id").callback(cb -> cb.call(node.isLeader() ? 1 : 0, id)).register(registry);
    GaugeWithCallback.builder().name("pmm_ha_raft_term")
        .help("The leader epoch this node knows (PMM's Raft term; the name is kept for dashboards)")
        .labelNames("node_id")
        .callback(cb -> cb.call(node.currentLeader().map(l -> l.epoch()).orElse(0L), id)).register(registry);
    GaugeWithCallback.builder().name("pmm_ha_up")
        .help("1 while this node runs, labelled with its role")
        .labelNames("node_id", "role")
        .callback(cb -> cb.call(1, id, node.isLeader() ? "leader" : "follower")).register(registry);
    GaugeWithCallback.builder().name("pmm_ha_expected_nodes")
        .help("The cluster's size: the nodes in PMM_HA_PEERS, or the replicas on Kubernetes (PMM's metric, which the "
            + "node-unreachable and quorum alerts compare with)")
        .labelNames("node_id").callback(cb -> cb.call(node.expectedNodes(), id)).register(registry);
    GaugeWithCallback.builder().name("pmm_ha_members_may_lead")
        .help("Up members, reachable from this node, that may lead (without PMM_HA_NOFAILOVER); 0: no leader possible")
        .labelNames("node_id").callback(cb -> cb.call(node.membersMayLead(), id)).register(registry);
    GaugeWithCallback.builder().name("pmm_ha_members")
        .help("Cluster members this node knows, by PMM status (alive, suspect, dead, left)")
        .labelNames("status")
        .callback(cb -> {
          Map<String, Integer> counts = new TreeMap<>(Map.of("alive", 0, "suspect", 0, "dead", 0, "left", 0));
          for (ClusterView.NodeStatus n : node.nodes()) {
            counts.merge(n.status(), 1, Integer::sum);
          }
          counts.forEach((status, count) -> cb.call(count, status));
        }).register(registry);
    GaugeWithCallback.builder().name("pmm_ha_ready")
        .help("1 when this node is Up in the cluster and its store answers").labelNames("node_id")
        .callback(cb -> cb.call(node.readiness().ready() ? 1 : 0, id)).register(registry);
    leadershipChanges = Counter.builder().name("pmm_ha_leadership_changes_total")
        .help("New leader epochs this node has seen").register(registry);
    timeToNewLeader = Histogram.builder().name("pmm_ha_time_to_new_leader_seconds")
        .help("From losing sight of the leader to hearing of the next one, on this node")
        .classicUpperBounds(0.5, 1, 2, 3, 4, 5, 7.5, 10, 15, 30, 60).register(registry);
    fenceRenewal = Histogram.builder().name("pmm_ha_fence_renewal_seconds")
        .help("Latency of the leader's fence lease renewals")
        .classicUpperBounds(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5).register(registry);
    settingsWrites = Counter.builder().name("pmm_ha_settings_writes_total")
        .help("Settings writes received by this node, by result (ok, no_leader, error)")
        .labelNames("result").register(registry);
    httpRequests = Counter.builder().name("pmm_ha_http_requests_total")
        .help("HTTP requests answered, by route template and status").labelNames("route", "status")
        .register(registry);
    httpDuration = Histogram.builder().name("pmm_ha_http_request_duration_seconds")
        .help("HTTP answer time by route template").labelNames("route")
        .classicUpperBounds(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1, 5).register(registry);
    JvmMetrics.builder().register(registry);
  }

  /** The registry other parts of the node add their metrics to (the jobs). */
  public PrometheusRegistry registry() {
    return registry;
  }

  /** The actor system whose journal the history is read from; set once it runs. */
  public void attach(ActorSystem<?> system) {
    this.system = system;
  }

  public void leadershipChanged() {
    leadershipChanges.inc();
  }

  public void timeToNewLeader(Duration d) {
    timeToNewLeader.observe(d.toNanos() / 1e9);
  }

  public void fenceRenewed(long nanos) {
    fenceRenewal.observe(nanos / 1e9);
  }

  public void settingsWrite(String result) {
    settingsWrites.labelValues(result).inc();
  }

  @Override
  public void requestServed(String route, int status, long nanos) {
    httpRequests.labelValues(route, Integer.toString(status)).inc();
    httpDuration.labelValues(route).observe(nanos / 1e9);
  }

  @Override
  public String scrapeMetrics() {
    ByteArrayOutputStream out = new ByteArrayOutputStream(16 * 1024);
    try {
      writer.write(out, registry.scrape());
    } catch (IOException e) {
      throw new IllegalStateException("cannot render metrics", e);
    }
    return out.toString(StandardCharsets.UTF_8);
  }

  @Override
  public String metricsContentType() {
    return PrometheusTextFormatWriter.CONTENT_TYPE;
  }

  /** Leadership events from the journal, cached for two seconds (status pages poll it). */
  @Override
  public CompletionStage<List<HistoryEntry>> history(int max) {
    CachedHistory c = cachedHistory;
    if (System.nanoTime() - c.atNanos() < 2_000_000_000L && c.atNanos() != 0) {
      return CompletableFuture.completedFuture(tail(c.entries(), max));
    }
    ActorSystem<?> sys = system;
    if (sys == null) {
      return CompletableFuture.completedFuture(List.of());
    }
    var journal = PersistenceQuery.get(sys).getReadJournalFor(
        org.apache.pekko.persistence.jdbc.query.javadsl.JdbcReadJournal.class, JdbcReadJournal.Identifier());
    return journal.currentEventsByTag(LEADERSHIP_TAG, Offset.noOffset())
        .map(EventEnvelope::event)
        .map(e -> (LeaderEvent) e)
        .runWith(Sink.seq(), sys)
        .thenApply(events -> {
          List<HistoryEntry> all = withReasons(events);
          cachedHistory = new CachedHistory(System.nanoTime(), List.copyOf(all));
          return tail(all, max);
        });
  }

  /**
   * The history with the reason of each change: a release says why (recorded when it was written; rows from before
   * that say "hand-over"), an election what came before it.
   */
  static List<HistoryEntry> withReasons(List<LeaderEvent> events) {
    List<HistoryEntry> out = new java.util.ArrayList<>();
    LeaderEvent previous = null;
    for (LeaderEvent e : events) {
      if (e instanceof LeaderEvent.LeaderElected el) {
        String why;
        if (previous == null) {
          why = "first leader";
        } else if (previous instanceof LeaderEvent.LeaderReleased r) {
          why = "after " + r.nodeId() + " handed over epoch " + r.epoch();
        } else {
          LeaderEvent.LeaderElected lost = (LeaderEvent.LeaderElected) previous;
          why = "after " + lost.nodeId() + " (epoch " + lost.epoch() + ") was lost without a hand-over: a crash, a "
              + "cut-off, a step-aside or a lease that ran out";
        }
        out.add(new HistoryEntry("elected", el.epoch(), el.nodeId(), el.at(), why));
      } else if (e instanceof LeaderEvent.LeaderReleased r) {
        out.add(new HistoryEntry("released", r.epoch(), r.nodeId(), r.at(), r.reason() == null ? "hand-over" : r.reason()));
      }
      previous = e;
    }
    return out;
  }

  private static <T> List<T> tail(List<T> all, int max) {
    return List.copyOf(all.subList(Math.max(0, all.size() - max), all.size()));
  }
}
