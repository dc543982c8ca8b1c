package dev.pmmha.runtime.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.pmmha.runtime.config.ClusterConfig;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import org.apache.pekko.actor.Address;
import org.apache.pekko.cluster.Member;
import org.apache.pekko.cluster.MemberStatus;
import org.apache.pekko.cluster.UniqueAddress;
import org.apache.pekko.util.Version;
import org.junit.jupiter.api.Test;
import scala.jdk.javaapi.CollectionConverters;

public class LeaderPlacementTest {

  /** A member called pmm-N, Up as the N-th (lower: older). */
  public static Member member(int n, MemberStatus status, boolean mayLead) {
    Set<String> roles = new HashSet<>(Set.of("dc-default", ClusterConfig.NODE_ROLE_PREFIX + "pmm-" + n));
    if (mayLead) {
      roles.add(ClusterConfig.MAY_LEAD_ROLE);
    }
    return new Member(new UniqueAddress(new Address("pekko", "pmm-ha", "127.0.0." + n, 9095), n), n, status,
        CollectionConverters.asScala(roles).toSet(), Version.Zero());
  }

  static final Member LEADER = member(1, MemberStatus.up(), true);

  @Test
  void theNextLeaderIsTheOldestOtherMemberThatMayLeadAndIsUp() {
    Member two = member(2, MemberStatus.up(), true);
    Member three = member(3, MemberStatus.up(), true);
    assertEquals(Optional.of("pmm-2"), LeaderPlacement.next(List.of(LEADER, three, two), LEADER));
    // nofailover, leaving or joining members are passed over
    assertEquals(Optional.of("pmm-3"),
        LeaderPlacement.next(List.of(LEADER, member(2, MemberStatus.up(), false), three), LEADER));
    assertEquals(Optional.of("pmm-3"),
        LeaderPlacement.next(List.of(LEADER, member(2, MemberStatus.leaving(), true), three), LEADER));
    assertEquals(Optional.empty(), LeaderPlacement.next(List.of(LEADER, member(2, MemberStatus.joining(), true)), LEADER));
  }

  @Test
  void aNodeIsNextOnlyWhenNoOlderMemberInLineStandsBeforeItTheLeaderAside() {
    Member two = member(2, MemberStatus.up(), true);
    Member three = member(3, MemberStatus.up(), true);
    List<Member> all = List.of(LEADER, two, three);
    assertTrue(LeaderPlacement.hostsOrIsNext(all, two, "pmm-1"));
    assertFalse(LeaderPlacement.hostsOrIsNext(all, three, "pmm-1"), "pmm-2 is older and Up");
    assertFalse(LeaderPlacement.hostsOrIsNext(all, two, ""), "with no leader known, pmm-1 stands before it");
    assertTrue(LeaderPlacement.hostsOrIsNext(all, LEADER, ""), "the oldest hosts the singleton");
    // a Leaving older member still holds its place (the singleton manager counts it until Exiting); an Exiting one not
    assertFalse(LeaderPlacement.hostsOrIsNext(List.of(LEADER, member(2, MemberStatus.leaving(), true), three), three,
        "pmm-1"));
    assertTrue(LeaderPlacement.hostsOrIsNext(List.of(LEADER, member(2, MemberStatus.exiting(), true), three), three,
        "pmm-1"));
    // a node that is not Up, or may not lead, is never next
    Member leavingTwo = member(2, MemberStatus.leaving(), true);
    assertFalse(LeaderPlacement.hostsOrIsNext(List.of(LEADER, leavingTwo, three), leavingTwo, "pmm-1"));
    Member nofailover = member(2, MemberStatus.up(), false);
    assertFalse(LeaderPlacement.hostsOrIsNext(List.of(LEADER, nofailover, three), nofailover, "pmm-1"));
    assertTrue(LeaderPlacement.hostsOrIsNext(List.of(LEADER, nofailover, three), three, "pmm-1"));
  }

  @Test
  void aHandOverHasSomeoneToWaitForOnlyWhenAnotherMemberMayLeadAndIsUpOrWeaklyUp() {
    assertTrue(LeaderPlacement.anotherMayLead(List.of(LEADER, member(2, MemberStatus.weaklyUp(), true)), LEADER));
    assertTrue(LeaderPlacement.anotherMayLead(List.of(LEADER, member(2, MemberStatus.up(), true)), LEADER));
    assertFalse(LeaderPlacement.anotherMayLead(List.of(LEADER), LEADER), "alone");
    assertFalse(LeaderPlacement.anotherMayLead(List.of(LEADER, member(2, MemberStatus.up(), false),
        member(3, MemberStatus.leaving(), true), member(4, MemberStatus.joining(), true)), LEADER),
        "nofailover, leaving and joining members do not count");
  }
}
