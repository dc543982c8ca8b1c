package dev.pmmha.persistence.fence;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Optional;
import org.junit.jupiter.api.Test;

/** The notice's payload: what the release sends is what the listener reads; anything else is not a notice. */
class FenceNoticesTest {

  @Test
  void thePayloadCarriesTheEpochAndTheNextNode() {
    assertEquals(Optional.of(new FenceNotices.Released("pmm-server-2", 17)),
        FenceNotices.parse(FenceNotices.payload("pmm-server-2", 17)));
    assertEquals(Optional.of(new FenceNotices.Released("a b", 3)), FenceNotices.parse("3 a b"),
        "everything after the first space is the node id");
  }

  @Test
  void whatIsNotANoticeIsIgnored() {
    for (String p : new String[] {null, "", "17", "17 ", " node", "x node", "1.5 node"}) {
      assertTrue(FenceNotices.parse(p).isEmpty(), "not a notice: " + p);
    }
  }

  @Test
  void aHandOversPayloadCarriesEpochTimeLeaseAndHolderAndIsNotAReleaseNotice() {
    String payload = "handed 18 1764900000123 600 pmm-server-2/ab12cd34";
    assertEquals(Optional.of(new FenceNotices.HandedOver("pmm-server-2/ab12cd34", 18, 1764900000123L, 600)),
        FenceNotices.parseHandedOver(payload));
    assertTrue(FenceNotices.parse(payload).isEmpty(), "not read as a release's notice (old nodes ignore it)");
    assertTrue(FenceNotices.parseHandedOver(FenceNotices.payload("pmm-server-2", 17)).isEmpty());
    for (String p : new String[] {null, "", "handed", "handed 18 1 600", "handed 18 1 600 ", "handed x 1 600 h",
        "handed 18 1 6.5 h", "handedx 18 1 600 h"}) {
      assertTrue(FenceNotices.parseHandedOver(p).isEmpty(), "not a hand-over's notice: " + p);
    }
  }
}
