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
}
