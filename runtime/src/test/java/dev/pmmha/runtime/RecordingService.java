package dev.pmmha.runtime;

import dev.pmmha.runtime.leader.spi.LeaderContext;
import dev.pmmha.runtime.leader.spi.LeaderService;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/** A leader service that records every start and stop, with node and epoch, for the tests in this JVM. */
public final class RecordingService implements LeaderService {

  public record Call(String what, String nodeId, long epoch, long atNanos) {}

  public static final List<Call> CALLS = new CopyOnWriteArrayList<>();
  private volatile LeaderContext ctx;

  @Override
  public void start(LeaderContext context) {
    ctx = context;
    if (!context.mayActNow()) {
      throw new IllegalStateException("started without the fence");
    }
    CALLS.add(new Call("start", context.nodeId(), context.epoch(), System.nanoTime()));
  }

  @Override
  public void stop() {
    CALLS.add(new Call("stop", ctx.nodeId(), ctx.epoch(), System.nanoTime()));
  }
}
