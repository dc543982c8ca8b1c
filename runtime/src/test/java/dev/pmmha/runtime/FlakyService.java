package dev.pmmha.runtime;

import dev.pmmha.runtime.leader.spi.LeaderContext;
import dev.pmmha.runtime.leader.spi.LeaderService;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/** A leader service whose first three starts fail; records each attempt's time. */
public final class FlakyService implements LeaderService {

  public static final List<Long> ATTEMPTS = new CopyOnWriteArrayList<>();
  public static final List<Long> STARTED = new CopyOnWriteArrayList<>();

  @Override
  public void start(LeaderContext context) {
    ATTEMPTS.add(System.nanoTime());
    if (ATTEMPTS.size() <= 3) {
      throw new IllegalStateException("flaky start " + ATTEMPTS.size());
    }
    STARTED.add(System.nanoTime());
  }

  @Override
  public void stop() {}
}
