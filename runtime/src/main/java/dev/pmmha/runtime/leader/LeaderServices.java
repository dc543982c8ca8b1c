package dev.pmmha.runtime.leader;

import dev.pmmha.runtime.leader.spi.ActingRight;
import dev.pmmha.runtime.leader.spi.LeaderContext;
import dev.pmmha.runtime.leader.spi.LeaderService;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Starts the configured leader services in order when this node gains leadership and stops them in reverse
 * order when it loses it. Each service runs on a thread of its own with start and stop timeouts; one that fails
 * is restarted with exponential backoff while the leadership lasts, without holding up the others. Called only
 * from the leader actor, one call at a time.
 */
public final class LeaderServices {

  private static final Logger log = LoggerFactory.getLogger(LeaderServices.class);

  /** A configured service with its limits. */
  public record Entry(String name, LeaderService service, Duration startTimeout, Duration stopTimeout) {}

  private final List<Slot> slots = new ArrayList<>();
  private final ScheduledExecutorService scheduler;
  /** Runs starts, stops and restarts one at a time, in the order they were asked for. */
  private final ExecutorService control = Executors.newSingleThreadExecutor(daemon("pmm-ha-services"));
  private final Duration minBackoff;
  private final Duration maxBackoff;
  private long generation;

  public LeaderServices(List<Entry> entries, Duration minBackoff, Duration maxBackoff) {
    this.minBackoff = minBackoff;
    this.maxBackoff = maxBackoff;
    this.scheduler = Executors.newSingleThreadScheduledExecutor(daemon("pmm-ha-services-timer"));
    for (Entry e : entries) {
      slots.add(new Slot(e));
    }
  }

  boolean isEmpty() {
    return slots.isEmpty();
  }

  /** Starts every service in order for a new leadership; returns when each start finished, failed or timed out. */
  CompletableFuture<Void> startAll(String nodeId, long epoch, ActingRight right) {
    long gen;
    synchronized (this) {
      gen = ++generation;
    }
    return CompletableFuture.runAsync(() -> {
      for (Slot s : slots) {
        s.start(gen, nodeId, epoch, right);
      }
    }, control);
  }

  /**
   * Stops every running service in reverse order; returns when each stop finished or timed out. With no services it
   * is complete at once (no hop through the control thread, which a hand-over would wait for).
   */
  public CompletableFuture<Void> stopAll() {
    synchronized (this) {
      generation++;
    }
    if (slots.isEmpty()) {
      return CompletableFuture.completedFuture(null);
    }
    return CompletableFuture.runAsync(() -> {
      for (int i = slots.size() - 1; i >= 0; i--) {
        slots.get(i).stop(true);
      }
    }, control);
  }

  private synchronized boolean current(long gen) {
    return gen == generation;
  }

  public void close() {
    scheduler.shutdownNow();
    control.shutdownNow();
    for (Slot s : slots) {
      s.executor.shutdownNow();
    }
  }

  /** One service: its own thread, whether it runs, and its pending restart. */
  private final class Slot {
    final Entry entry;
    final ExecutorService executor;
    boolean running; // guarded by this slot
    int failures;
    ScheduledFuture<?> restart;

    Slot(Entry entry) {
      this.entry = entry;
      this.executor = Executors.newSingleThreadExecutor(daemon("pmm-ha-service-" + entry.name()));
    }

    void start(long gen, String nodeId, long epoch, ActingRight right) {
      synchronized (this) {
        if (!current(gen) || running) {
          return;
        }
      }
      LeaderContext ctx = new LeaderContext(nodeId, epoch, right, failure -> failed(gen, nodeId, epoch, right, failure));
      Future<?> f = executor.submit(() -> {
        entry.service().start(ctx);
        return null;
      });
      try {
        f.get(entry.startTimeout().toMillis(), TimeUnit.MILLISECONDS);
        synchronized (this) {
          running = true;
          failures = 0;
        }
        log.info("SERVICE started: {} (epoch {})", entry.name(), epoch);
        if (!current(gen)) {
          stop(true); // leadership ended while it was starting
        }
      } catch (TimeoutException e) {
        f.cancel(true);
        failed(gen, nodeId, epoch, right, new TimeoutException("start took longer than " + entry.startTimeout()));
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      } catch (Exception e) {
        failed(gen, nodeId, epoch, right, e.getCause() != null ? e.getCause() : e);
      }
    }

    void failed(long gen, String nodeId, long epoch, ActingRight right, Throwable failure) {
      Duration delay;
      synchronized (this) {
        failures++;
        long ms = Math.min(maxBackoff.toMillis(), minBackoff.toMillis() * (1L << Math.min(20, failures - 1)));
        delay = Duration.ofMillis(ms);
      }
      log.error("SERVICE failed: {} (epoch {}): {}; restarting in {} ms", entry.name(), epoch,
          String.valueOf(failure.getMessage()), delay.toMillis());
      if (!current(gen)) {
        return;
      }
      synchronized (this) {
        restart = scheduler.schedule(() -> {
          if (!current(gen)) {
            return;
          }
          control.submit(() -> {
            stop(false);
            start(gen, nodeId, epoch, right);
          });
        }, delay.toMillis(), TimeUnit.MILLISECONDS);
      }
    }

    void stop(boolean endOfLeadership) {
      synchronized (this) {
        if (endOfLeadership) {
          if (restart != null) {
            restart.cancel(false);
            restart = null;
          }
          failures = 0;
        }
      }
      Future<?> f = executor.submit(this::stopQuietly);
      try {
        f.get(entry.stopTimeout().toMillis(), TimeUnit.MILLISECONDS);
      } catch (TimeoutException e) {
        f.cancel(true);
        log.error("SERVICE stop of {} took longer than {}; moving on", entry.name(), entry.stopTimeout());
        synchronized (this) {
          running = false;
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      } catch (Exception e) {
        log.error("SERVICE stop of {} failed: {}", entry.name(), String.valueOf(e.getMessage()));
      }
    }

    /** Runs on the slot's thread. */
    private void stopQuietly() {
      synchronized (this) {
        if (!running) {
          return;
        }
        running = false;
      }
      try {
        entry.service().stop();
        log.info("SERVICE stopped: {}", entry.name());
      } catch (Exception e) {
        log.error("SERVICE stop of {} failed: {}", entry.name(), String.valueOf(e.getMessage()));
      }
    }
  }

  static java.util.concurrent.ThreadFactory daemon(String name) {
    return r -> {
      Thread t = new Thread(r, name);
      t.setDaemon(true);
      return t;
    };
  }
}
