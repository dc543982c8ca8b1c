package dev.pmmha.runtime.leader;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.pmmha.runtime.cluster.LeaderPlacementTest;
import org.apache.pekko.cluster.ClusterEvent;
import org.apache.pekko.cluster.Member;
import org.apache.pekko.cluster.MemberStatus;
import org.junit.jupiter.api.Test;

class FenceWarmerTest {

  static final Member LEAVING = LeaderPlacementTest.member(2, MemberStatus.leaving(), true);
  static final Member DOWN = LeaderPlacementTest.member(2, MemberStatus.down(), true);
  static final Member UP = LeaderPlacementTest.member(2, MemberStatus.up(), true);

  @Test
  void aFollowerReadsTheFenceWhenAnotherMemberMayBeGoingAway() {
    assertTrue(FenceWarmer.warms(new ClusterEvent.MemberLeft(LEAVING), false));
    assertTrue(FenceWarmer.warms(new ClusterEvent.MemberDowned(DOWN), false));
    assertTrue(FenceWarmer.warms(new ClusterEvent.UnreachableMember(UP), false));
  }

  @Test
  void nothingIsReadOnOtherEventsOrByTheLeader() {
    assertFalse(FenceWarmer.warms(new ClusterEvent.MemberUp(UP), false), "a member coming up takes nothing over");
    assertFalse(FenceWarmer.warms(new ClusterEvent.ReachableMember(UP), false));
    assertFalse(FenceWarmer.warms(new ClusterEvent.MemberLeft(LEAVING), true),
        "a leader renews on its connection anyway; a read would queue before the next renewal");
    assertFalse(FenceWarmer.warms(new ClusterEvent.UnreachableMember(UP), true));
  }
}
