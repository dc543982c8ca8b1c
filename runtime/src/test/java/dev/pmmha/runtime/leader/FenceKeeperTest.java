package dev.pmmha.runtime.leader;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.ConfigFactory;
import dev.pmmha.persistence.StoreSettings;
import dev.pmmha.persistence.fence.Fence;
import dev.pmmha.persistence.schema.Schema;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** The lease keeper renews on the fence thread by itself, and reports a lost lease once. */
class FenceKeeperTest {

  private static final AtomicInteger STORES = new AtomicInteger();

  static StoreSettings store() {
    StoreSettings s = StoreSettings.create(ConfigFactory.parseString(
            "pmm-ha.store { url = \"jdbc:h2:mem:keeper" + STORES.incrementAndGet() + ";DB_CLOSE_DELAY=-1\", "
                + "username = sa, password = \"\", startup-wait = 3s }")
        .withFallback(ConfigFactory.defaultReference()).resolve());
    Schema.ensure(s);
    return s;
  }

  static final class Recorder implements FenceClient.KeeperListener {
    final List<Fence.Lease> renewed = new CopyOnWriteArrayList<>();
    final List<String> failed = new CopyOnWriteArrayList<>();
    final CountDownLatch lost = new CountDownLatch(1);
    final AtomicInteger lostCalls = new AtomicInteger();

    @Override public void renewed(Fence.Lease lease) { renewed.add(lease); }
    @Override public void lost(Fence.Lease last) { lostCalls.incrementAndGet(); lost.countDown(); }
    @Override public void failed(Fence.Lease last, String error) { failed.add(error); }
  }

  @Test
  void keepsALeaseAliveLongPastItsTtlWithNoActorInvolved() throws Exception {
    StoreSettings s = store();
    try (FenceClient keeperSide = new FenceClient(new Fence(s, Duration.ofMillis(400)));
        Fence other = new Fence(s, Duration.ofMillis(400))) {
      Fence.Lease first = keeperSide.acquire("a", 0).toCompletableFuture().get(5, TimeUnit.SECONDS).lease().orElseThrow();
      Recorder r = new Recorder();
      FenceClient.Keeper k = keeperSide.keep(first, Duration.ofMillis(50), r);
      try {
        Thread.sleep(1200); // three TTLs
        assertTrue(r.renewed.size() >= 10, "renewed every 50 ms: " + r.renewed.size());
        assertTrue(r.renewed.stream().allMatch(l -> l.epoch() == first.epoch()), "one epoch throughout");
        assertTrue(k.latest().sentNanos() > first.sentNanos(), "the newest lease is the one the keeper holds");
        assertTrue(other.acquire("b", 0).isEmpty(), "the kept lease cannot be taken");
        assertEquals(0, r.lostCalls.get());
        assertEquals(List.of(), r.failed);
      } finally {
        k.cancel();
      }
      int after = r.renewed.size();
      Thread.sleep(300);
      assertTrue(r.renewed.size() <= after + 1, "cancel stops the renewals (one under way may finish)");
    }
  }

  @Test
  void reportsALostLeaseOnceAndStops() throws Exception {
    StoreSettings s = store();
    try (FenceClient keeperSide = new FenceClient(new Fence(s, Duration.ofMillis(300)));
        Fence other = new Fence(s, Duration.ofMillis(300))) {
      Fence.Lease first = keeperSide.acquire("a", 0).toCompletableFuture().get(5, TimeUnit.SECONDS).lease().orElseThrow();
      Recorder r = new Recorder();
      // renews only every 2 s: the 300 ms lease expires first and another holder takes the fence
      FenceClient.Keeper k = keeperSide.keep(first, Duration.ofMillis(2000), r);
      try {
        Thread.sleep(400);
        Fence.Lease taken = other.acquire("b", 0).orElseThrow();
        assertTrue(taken.epoch() > first.epoch());
        assertTrue(r.lost.await(5, TimeUnit.SECONDS), "the keeper reports the lost lease");
        Thread.sleep(2500);
        assertEquals(1, r.lostCalls.get(), "reported once, then the keeper stops");
        assertFalse(r.renewed.stream().anyMatch(l -> l.epoch() == first.epoch() && l.sentNanos() > first.sentNanos()),
            "no renewal of the lost lease");
      } finally {
        k.cancel();
      }
    }
  }

  @Test
  void renewsALeaseTakenAWhileAgoAtOnceNotOneIntervalAfterTheKeeperStarts() throws Exception {
    StoreSettings s = store();
    try (FenceClient keeperSide = new FenceClient(new Fence(s, Duration.ofMillis(1000)))) {
      Fence.Lease first = keeperSide.acquire("a", 0).toCompletableFuture().get(5, TimeUnit.SECONDS).lease().orElseThrow();
      Thread.sleep(800); // the leader recovered its journal meanwhile: 200 ms of the 1 s lease are left
      Recorder r = new Recorder();
      // a first renewal one 500 ms interval after the keeper starts would come after the lease ran out
      FenceClient.Keeper k = keeperSide.keep(first, Duration.ofMillis(500), r);
      try {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(1);
        while (r.renewed.isEmpty() && r.lostCalls.get() == 0 && System.nanoTime() < deadline) {
          Thread.sleep(10);
        }
        assertEquals(0, r.lostCalls.get(), "the lease was renewed before it ran out, not lost");
        assertFalse(r.renewed.isEmpty(), "renewed");
        assertEquals(first.epoch(), r.renewed.get(0).epoch());
      } finally {
        k.cancel();
      }
    }
  }

  @Test
  void theFirstRenewalComesOneIntervalAfterTheLeaseWasAskedFor() {
    Duration interval = Duration.ofMillis(250);
    Fence.Lease lease = new Fence.Lease(1, "a", 1_000_000_000L, Duration.ofSeconds(2));
    long ms = 1_000_000L;
    assertEquals(250 * ms, FenceClient.firstRenewalDelay(lease, interval, 1_000_000_000L), "a fresh lease");
    assertEquals(150 * ms, FenceClient.firstRenewalDelay(lease, interval, 1_000_000_000L + 100 * ms));
    assertEquals(0, FenceClient.firstRenewalDelay(lease, interval, 1_000_000_000L + 1200 * ms), "an old one: at once");
    assertEquals(250 * ms, FenceClient.firstRenewalDelay(lease, interval, 1_000_000_000L - 50 * ms),
        "never more than one interval");
  }
}
