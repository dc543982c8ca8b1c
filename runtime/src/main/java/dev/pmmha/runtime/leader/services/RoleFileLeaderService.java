package dev.pmmha.runtime.leader.services;

import com.typesafe.config.Config;
import dev.pmmha.persistence.SettingsException;
import dev.pmmha.runtime.leader.spi.LeaderContext;
import dev.pmmha.runtime.leader.spi.LeaderService;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code PMM_HA_ROLE_FILE}: pmm-ha's side of the warm-standby contract (docs/pmm-integration.md). The file says
 * {@code role=follower} from the node's start and again when leadership ends; while this node may act it says
 * {@code role=leader} with the epoch and a wall-clock {@code lease_until_ms}, rewritten every {@code refresh}. A
 * consumer acts only while its clock is before {@code lease_until_ms}.
 *
 * <p>Why each lease ends {@code safety-margin - guard} after this node's act-until instant
 * ({@link LeaderContext#actUntilNanos()}, read before a true {@code mayAct}): the fence in the store outlives that
 * instant by the safety margin. So every lease written ends at least {@code guard} before any other node can take
 * the fence, whether pmm-ha is paused, cut from the store or dead, and right after a renewal it runs nearly the
 * whole TTL less the guard (1.9 s with the defaults): a consumer rides out a pmm-ha stall that long. Every write is a temp file renamed over the old one: a reader never sees half
 * a file.
 */
public final class RoleFileLeaderService implements LeaderService {

  private static final Logger log = LoggerFactory.getLogger("dev.pmmha.runtime.services.RoleFile");

  private final Path file;
  private final String nodeId;
  private final Duration lease;
  private final Duration refresh;
  private final LongSupplier wallClockMs;
  private final LongSupplier nanoClock; // the clock of LeaderContext.actUntilNanos()
  private final ScheduledExecutorService timer;
  private ScheduledFuture<?> renewing; // guarded by this
  private long epoch; // guarded by this
  private boolean leading; // guarded by this: a renewal queued behind stop() must not write "leader" again
  private boolean lapsedLogged;

  public RoleFileLeaderService(Config c) {
    this(c, System::currentTimeMillis, System::nanoTime);
  }

  RoleFileLeaderService(Config c, LongSupplier wallClockMs, LongSupplier nanoClock) {
    this.file = Path.of(c.getString("path"));
    this.nodeId = c.hasPath("node-id") ? c.getString("node-id") : "";
    this.lease = c.getDuration("lease");
    this.refresh = c.getDuration("refresh");
    this.wallClockMs = wallClockMs;
    this.nanoClock = nanoClock;
    if (lease.toMillis() <= 0) {
      throw new SettingsException("PMM_HA_ROLE_FILE needs PMM_HA_LEASE_SAFETY_MARGIN above "
          + "pmm-ha.leader.role-file-guard: the role file's lease would be " + lease.toMillis() + " ms");
    }
    if (refresh.toMillis() <= 0 || refresh.compareTo(lease) >= 0) {
      throw new SettingsException("pmm-ha.leader.role-file-refresh", refresh.toMillis() + "ms",
          "a positive duration below the role file's lease (" + lease.toMillis() + "ms)");
    }
    Path dir = file.toAbsolutePath().getParent();
    if (dir == null || !Files.isDirectory(dir) || !Files.isWritable(dir)) {
      throw new SettingsException("PMM_HA_ROLE_FILE", file.toString(), "a file in an existing directory this user "
          + "can write (the temp file is written beside it, then renamed over it)");
    }
    this.timer = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "pmm-ha-role-file");
      t.setDaemon(true);
      return t;
    });
    try {
      write("follower", 0, 0);
    } catch (IOException e) {
      throw new SettingsException("PMM_HA_ROLE_FILE", file.toString(), "a writable file (" + e.getMessage() + ")");
    }
    log.info("ROLE FILE {}: follower; while leader a lease of {} ms renewed every {} ms", file, lease.toMillis(),
        refresh.toMillis());
  }

  @Override
  public synchronized void start(LeaderContext ctx) throws IOException {
    epoch = ctx.epoch();
    leading = true;
    lapsedLogged = false;
    renew(ctx); // the first lease before start returns: the consumer may start at once
    long period = refresh.toMillis();
    renewing = timer.scheduleAtFixedRate(() -> {
      try {
        renew(ctx);
      } catch (IOException | RuntimeException e) {
        log.error("ROLE FILE {}: cannot write: {}", file, e.getMessage());
      }
    }, period, period, TimeUnit.MILLISECONDS);
  }

  private synchronized void renew(LeaderContext ctx) throws IOException {
    if (!leading || epoch != ctx.epoch()) {
      return;
    }
    // Both clocks and the act-until instant are read before the check: the lease is counted from a moment at
    // which this node could act, and an act-until read first is never later than the one the check saw.
    long actUntil = ctx.actUntilNanos();
    long nowNanos = nanoClock.getAsLong();
    long nowMs = wallClockMs.getAsLong();
    if (!ctx.mayActNow()) {
      if (!lapsedLogged) {
        lapsedLogged = true;
        log.warn("ROLE FILE {}: epoch {} may not act; its lease is left to run out", file, epoch);
      }
      return;
    }
    lapsedLogged = false;
    write("leader", epoch, nowMs + leaseFrom(actUntil - nowNanos));
  }

  /**
   * The file's lease from now, in ms, given how long this node may still act ({@code actLeftNanos}): the right to
   * act plus {@code lease} (safety margin less the guard), since the fence outlives the right by the margin. Never
   * less than {@code lease} alone (true at any moment the node may act), never more than the act-until ahead.
   */
  private long leaseFrom(long actLeftNanos) {
    return lease.toMillis() + Math.max(0, TimeUnit.NANOSECONDS.toMillis(actLeftNanos));
  }

  @Override
  public synchronized void stop() throws IOException {
    leading = false;
    if (renewing != null) {
      renewing.cancel(false);
      renewing = null;
    }
    write("follower", epoch, 0);
  }

  /** Writes the whole file beside its final name, then renames it over the old one. */
  private void write(String role, long epochNow, long leaseUntilMs) throws IOException {
    String body = "role=" + role + "\n"
        + "epoch=" + epochNow + "\n"
        + "node=" + nodeId + "\n"
        + "lease_until_ms=" + leaseUntilMs + "\n"
        + "written_ms=" + wallClockMs.getAsLong() + "\n";
    Path tmp = file.resolveSibling("." + file.getFileName() + ".tmp");
    Files.writeString(tmp, body, StandardCharsets.UTF_8);
    try {
      Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    } catch (AtomicMoveNotSupportedException e) {
      throw new IOException("the directory of " + file + " does not support an atomic rename", e);
    }
  }

  /** The file this service writes. */
  public Path path() {
    return file;
  }
}
