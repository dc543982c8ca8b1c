package dev.pmmha.http.api;

import java.time.Instant;
import java.util.List;
import java.util.concurrent.CompletionStage;

/** What the operator routes need from the runtime: metrics text, leadership history, request accounting. */
public interface Observability {

  /** The Prometheus text exposition of every metric. */
  String scrapeMetrics();

  /** Content type of {@link #scrapeMetrics()}. */
  String metricsContentType();

  /** The latest leadership changes, newest last, read from the journal. */
  CompletionStage<List<HistoryEntry>> history(int max);

  /** Called once per answered request with the route's template (not the raw path) and the status code. */
  void requestServed(String route, int status, long nanos);

  /** {@code reason}: why a leadership began (after which end) or ended (stop, switchover, ...). */
  record HistoryEntry(String event, long epoch, String nodeId, Instant at, String reason) {
    public HistoryEntry(String event, long epoch, String nodeId, Instant at) {
      this(event, epoch, nodeId, at, "");
    }
  }

  /** Nothing recorded, no metrics: for tests of the other routes. */
  Observability NONE = new Observability() {
    @Override
    public String scrapeMetrics() {
      return "";
    }

    @Override
    public String metricsContentType() {
      return "text/plain; version=0.0.4; charset=utf-8";
    }

    @Override
    public CompletionStage<List<HistoryEntry>> history(int max) {
      return java.util.concurrent.CompletableFuture.completedFuture(List.of());
    }

    @Override
    public void requestServed(String route, int status, long nanos) {}
  };
}
