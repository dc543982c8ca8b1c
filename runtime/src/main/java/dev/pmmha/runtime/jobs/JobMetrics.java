package dev.pmmha.runtime.jobs;

import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The jobs' metrics on {@code /metrics}: jobs running on this node, runs by result, lost and skipped ticks, claims
 * refused because another node held the tick, scheduling delay (claim time minus tick time) and how late a job was
 * when it started on a new node after a move.
 */
final class JobMetrics {

  private final AtomicInteger active = new AtomicInteger();
  private final Counter runs;
  private final Counter lost;
  private final Counter skipped;
  private final Counter claims;
  private final Histogram delay;
  private final Histogram timerDelay;
  private final Histogram duration;
  private final Histogram moved;
  private final Histogram start;

  JobMetrics(PrometheusRegistry registry, String nodeId) {
    GaugeWithCallback.builder().name("pmm_ha_jobs_running")
        .help("Jobs started (scheduled) on this node now").labelNames("node_id")
        .callback(cb -> cb.call(active.get(), nodeId)).register(registry);
    runs = Counter.builder().name("pmm_ha_job_runs_total")
        .help("Job runs on this node by result (ok, failed, timeout, error)").labelNames("result").register(registry);
    lost = Counter.builder().name("pmm_ha_job_lost_ticks_total")
        .help("Claimed ticks whose runner died before it recorded an end, found by this node; never run again")
        .register(registry);
    skipped = Counter.builder().name("pmm_ha_job_skipped_ticks_total")
        .help("Ticks not run because the job's previous run was still going").register(registry);
    claims = Counter.builder().name("pmm_ha_job_claims_refused_total")
        .help("Ticks not run here: already claimed elsewhere (taken) or the claim failed (error)")
        .labelNames("reason").register(registry);
    delay = Histogram.builder().name("pmm_ha_job_schedule_delay_seconds")
        .help("From a tick's scheduled time to its claim, just before the action starts")
        .classicUpperBounds(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10).register(registry);
    timerDelay = Histogram.builder().name("pmm_ha_job_timer_delay_seconds")
        .help("From a tick's scheduled time to the job actor handling it (before the claim): the node's own lag")
        .classicUpperBounds(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10).register(registry);
    duration = Histogram.builder().name("pmm_ha_job_run_seconds").help("Job run time, by result")
        .labelNames("result")
        .classicUpperBounds(0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300).register(registry);
    moved = Histogram.builder().name("pmm_ha_job_rebalance_seconds")
        .help("For a job that moved to this node: how long after its next due tick it started here")
        .classicUpperBounds(0.1, 0.5, 1, 2, 3, 5, 7.5, 10, 15, 30, 60).register(registry);
    start = Histogram.builder().name("pmm_ha_job_start_seconds")
        .help("How long a job took to start on this node, by phase: recovery (its entity created to its journal "
            + "replayed) and take_over (the registry updated and the earlier runs read)")
        .labelNames("phase")
        .classicUpperBounds(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 7.5, 10, 30).register(registry);
  }

  void recovered(long nanos) {
    start.labelValues("recovery").observe(nanos / 1e9);
  }

  void tookOver(long nanos) {
    start.labelValues("take_over").observe(nanos / 1e9);
  }

  void jobStarted() {
    active.incrementAndGet();
  }

  void jobStopped() {
    active.decrementAndGet();
  }

  int running() {
    return active.get();
  }

  void started(long delayMs) {
    delay.observe(Math.max(0, delayMs) / 1e3);
  }

  void due(long lateMs) {
    timerDelay.observe(Math.max(0, lateMs) / 1e3);
  }

  void finished(String result, long ms) {
    runs.labelValues(result).inc();
    duration.labelValues(result).observe(ms / 1e3);
  }

  void lostTick() {
    lost.inc();
  }

  void skippedBusy() {
    skipped.inc();
  }

  void claimTaken() {
    claims.labelValues("taken").inc();
  }

  void claimFailed() {
    claims.labelValues("error").inc();
  }

  void moved(long lateMs) {
    moved.observe(lateMs / 1e3);
  }
}
