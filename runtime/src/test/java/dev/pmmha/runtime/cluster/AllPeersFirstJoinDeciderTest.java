package dev.pmmha.runtime.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import java.net.InetAddress;
import java.time.Duration;
import java.time.LocalDateTime;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.apache.pekko.actor.ActorSystem;
import org.apache.pekko.actor.Address;
import org.apache.pekko.discovery.ServiceDiscovery.ResolvedTarget;
import org.apache.pekko.http.scaladsl.model.Uri;
import org.apache.pekko.management.cluster.bootstrap.ClusterBootstrap;
import org.apache.pekko.management.cluster.bootstrap.ClusterBootstrapSettings;
import org.apache.pekko.management.cluster.bootstrap.JoinDecider;
import org.apache.pekko.management.cluster.bootstrap.JoinDecision;
import org.apache.pekko.management.cluster.bootstrap.JoinSelf$;
import org.apache.pekko.management.cluster.bootstrap.KeepProbing$;
import org.apache.pekko.management.cluster.bootstrap.LowestAddressJoinDecider;
import org.apache.pekko.management.cluster.bootstrap.SeedNodesInformation;
import org.apache.pekko.management.cluster.bootstrap.SeedNodesObservation;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import scala.concurrent.Await;

/**
 * The formation race of three nodes started together: the second node has answers from itself and the third,
 * not yet from the first (lowest) one. Pekko's decider lets it form a cluster, and the first forms its own a
 * moment later; pmm-ha's waits for every peer first.
 */
class AllPeersFirstJoinDeciderTest {

  static final LocalDateTime T0 = LocalDateTime.of(2026, 11, 24, 10, 0);
  static ActorSystem system;
  static ClusterBootstrapSettings settings;

  @BeforeAll
  static void start() {
    Config config = ConfigFactory.parseString("""
        pekko.actor.provider = cluster
        pekko.remote.artery.canonical { hostname = 127.0.0.2, port = 0 }
        pekko.management.cluster.bootstrap.contact-point-discovery {
          required-contact-point-nr = 2
          contact-with-all-contact-points = false
          stable-margin = 1s
        }
        pmm-ha.formation.wait-for-all-peers = 10s
        """).withFallback(ConfigFactory.load());
    system = ActorSystem.create("pmm-ha", config);
    // this node's own contact point is 127.0.0.2:9760, the second of the three peers
    ClusterBootstrap.get(system).setSelfContactPoint(Uri.apply("http://127.0.0.2:9760"));
    settings = ClusterBootstrapSettings.apply(system.settings().config(), system.log());
  }

  @AfterAll
  static void stop() throws Exception {
    system.terminate();
    Await.result(system.whenTerminated(), scala.concurrent.duration.Duration.apply(10, "s"));
  }

  static ResolvedTarget peer(int i) throws Exception {
    String host = "127.0.0." + i;
    return new ResolvedTarget(host, scala.Option.apply((Object) 9760), scala.Option.apply(InetAddress.getByName(host)));
  }

  /** Peers 1 to 3 discovered at T0; {@code answered} of them answered (no cluster yet) at {@code now}. */
  static SeedNodesInformation info(LocalDateTime now, List<Integer> answered) throws Exception {
    Set<ResolvedTarget> peers = new HashSet<>();
    Set<SeedNodesObservation> seen = new HashSet<>();
    for (int i = 1; i <= 3; i++) {
      peers.add(peer(i));
    }
    for (int i : answered) {
      seen.add(new SeedNodesObservation(now.minusNanos(100_000_000), peer(i), new Address("pekko", "pmm-ha", "127.0.0." + i, 9761),
          scala.jdk.javaapi.CollectionConverters.<Address>asScala(new HashSet<Address>()).toSet()));
    }
    return new SeedNodesInformation(now, T0,
        scala.jdk.javaapi.CollectionConverters.asScala(peers).toSet(),
        scala.jdk.javaapi.CollectionConverters.asScala(seen).toSet());
  }

  static JoinDecision decide(JoinDecider decider, SeedNodesInformation info) throws Exception {
    return Await.result(decider.decide(info), scala.concurrent.duration.Duration.apply(5, "s"));
  }

  @Test
  void pekkosDeciderFormsASecondClusterWhenTheLowestPeerHasNotAnsweredYet() throws Exception {
    // the hazard this decider exists for, so that the test below shows a difference
    assertEquals(JoinSelf$.MODULE$,
        decide(new LowestAddressJoinDecider(system, settings), info(T0.plusSeconds(3), List.of(2, 3))));
  }

  @Test
  void waitsForEveryPeerBeforeFormingThenAMajorityMayForm() throws Exception {
    AllPeersFirstJoinDecider decider = new AllPeersFirstJoinDecider(system, settings);
    assertEquals(KeepProbing$.MODULE$, decide(decider, info(T0.plusSeconds(3), List.of(2, 3))),
        "the lowest peer has not answered yet: keep probing");
    assertEquals(KeepProbing$.MODULE$, decide(decider, info(T0.plusSeconds(3), List.of(1, 2, 3))),
        "every peer answered and peer 1 is the lowest: it forms, this node joins it");
    assertEquals(JoinSelf$.MODULE$, decide(decider, info(T0.plusSeconds(11), List.of(2, 3))),
        "after the wait, the lowest of a majority that answered forms (peer 1 is down)");
  }

  @Test
  void theWaitIsMeasuredFromTheLastChangeOfThePeerList() {
    Duration wait = Duration.ofSeconds(10);
    assertEquals(true, AllPeersFirstJoinDecider.allPeersRequired(T0, T0.plusSeconds(9), wait));
    assertEquals(false, AllPeersFirstJoinDecider.allPeersRequired(T0, T0.plusSeconds(10), wait));
  }
}
