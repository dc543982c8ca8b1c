package dev.pmmha.http.routes;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.pmmha.http.HttpServer;
import dev.pmmha.http.HttpSettings;
import dev.pmmha.http.api.LeaderView;
import dev.pmmha.http.api.NodeControl;
import dev.pmmha.http.api.Observability;
import dev.pmmha.testkit.Chromium;
import java.awt.image.BufferedImage;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.imageio.ImageIO;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.http.javadsl.ServerBinding;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The status page's leadership timeline and fence renewal chart, drawn by a real headless Chromium from a known
 * history (four leaderships: two released with gaps of 1.5 s and 3.25 s, one lost without a release) and
 * metrics whose renewals take 12.5 ms on average. The screenshot is kept in target/status-page-timeline.png.
 */
@Tag("integration")
class StatusPageIT {

  static final Pattern TAG_ATTR = Pattern.compile("([\\w-]+)=\"([^\"]*)\"");
  /** Node colours of the page, in order of first appearance; and the colour of time without a leader. */
  static final int[] NODE_RGB = {0x1f77b4, 0x2ca02c, 0x9467bd, 0xff7f0e};
  static final int GAP_RGB = 0xd62728;
  static final int RENEWAL_RGB = 0xd4a017;

  static ActorTestKit kit;
  static String base;
  /** First election, with nanoseconds as the journal keeps them: the page must show milliseconds only. */
  static final Instant T0 = Instant.now().minusSeconds(80).truncatedTo(ChronoUnit.MILLIS).plusNanos(456_789);
  /** Offsets (ms from T0) of: a elected, a released, b elected, b released, c elected, d elected (c lost). */
  static final long A_ELECTED = 0, A_RELEASED = 20_000, B_ELECTED = 21_500, B_RELEASED = 40_000, C_ELECTED = 43_250,
      D_ELECTED = 60_000;

  static Instant at(long offsetMs) {
    return T0.plusMillis(offsetMs);
  }

  /** A history and metrics as a node would serve them; each scrape has seen 4 more renewals of 12.5 ms. */
  static final class KnownHistory implements Observability {
    final AtomicLong scrapes = new AtomicLong();

    @Override public String scrapeMetrics() {
      long n = 4 * scrapes.incrementAndGet();
      return "# TYPE pmm_ha_fence_renewal_seconds histogram\n"
          + "pmm_ha_fence_renewal_seconds_bucket{le=\"0.01\"} 0\n"
          + "pmm_ha_fence_renewal_seconds_bucket{le=\"0.025\"} " + n + "\n"
          + "pmm_ha_fence_renewal_seconds_bucket{le=\"+Inf\"} " + n + "\n"
          + "pmm_ha_fence_renewal_seconds_count " + n + "\n"
          + "pmm_ha_fence_renewal_seconds_sum " + (n * 0.0125) + "\n"
          + "pmm_ha_time_to_new_leader_seconds_count 2\n"
          + "pmm_ha_time_to_new_leader_seconds_sum 3.0\n";
    }

    @Override public String metricsContentType() {
      return "text/plain; version=0.0.4; charset=utf-8";
    }

    @Override public CompletionStage<List<HistoryEntry>> history(int max) {
      return CompletableFuture.completedFuture(List.of(
          new HistoryEntry("elected", 5, "a", at(A_ELECTED)),
          new HistoryEntry("released", 5, "a", at(A_RELEASED)),
          new HistoryEntry("elected", 6, "b", at(B_ELECTED)),
          new HistoryEntry("released", 6, "b", at(B_RELEASED)),
          new HistoryEntry("elected", 7, "c", at(C_ELECTED)),
          new HistoryEntry("elected", 8, "d", at(D_ELECTED))));
    }

    @Override public void requestServed(String route, int status, long nanos) {}
  }

  @BeforeAll
  static void bind() throws Exception {
    kit = ActorTestKit.create();
    HaRoutesTest.FakeViews views = new HaRoutesTest.FakeViews();
    views.known = new LeaderView.LeaderInfo("d", 8, at(D_ELECTED));
    ServerBinding b = HttpServer.start(kit.system(), new HttpSettings("127.0.0.1", 0),
        new HaRoutes(views, views, views, new KnownHistory(), Auth.open(), NodeControl.NONE)).toCompletableFuture().get();
    base = "http://127.0.0.1:" + b.localAddress().getPort();
  }

  @AfterAll
  static void unbind() {
    kit.shutdownTestKit();
  }

  static List<Map<String, String>> elements(String dom, String tag, String cls) {
    List<Map<String, String>> out = new ArrayList<>();
    Matcher m = Pattern.compile("<" + tag + " class=\"" + cls + "\"[^>]*>").matcher(dom);
    while (m.find()) {
      Map<String, String> attrs = new HashMap<>();
      Matcher a = TAG_ATTR.matcher(m.group());
      while (a.find()) {
        attrs.put(a.group(1), a.group(2));
      }
      out.add(attrs);
    }
    return out;
  }

  static double num(Map<String, String> e, String attr) {
    return Double.parseDouble(e.get(attr));
  }

  static String clock(long offsetMs) {
    return DateTimeFormatter.ofPattern("HH:mm:ss.SSS").withZone(ZoneOffset.UTC).format(at(offsetMs));
  }

  static String human(long offsetMs) {
    return DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss.SSS 'UTC'").withZone(ZoneOffset.UTC).format(at(offsetMs));
  }

  @Test
  void theTimelineDrawsEachLeadershipAndEachGapToScaleWithMillisecondTimes() throws Exception {
    Path shot = Path.of("target", "status-page-timeline.png");
    Files.createDirectories(shot.getParent());
    String dom = Chromium.load(base + "/", shot, 9000, 1100, 1000);

    List<Map<String, String>> bars = elements(dom, "rect", "leadership");
    assertEquals(4, bars.size(), "one bar per leadership: " + bars);
    long t0 = T0.toEpochMilli();
    long[] starts = {A_ELECTED, B_ELECTED, C_ELECTED, D_ELECTED};
    String[] ends = {String.valueOf(t0 + A_RELEASED), String.valueOf(t0 + B_RELEASED), String.valueOf(t0 + D_ELECTED), null};
    String[] ended = {"released", "released", "unrecorded", "now"};
    for (int i = 0; i < 4; i++) {
      Map<String, String> bar = bars.get(i);
      assertEquals(String.valueOf((char) ('a' + i)), bar.get("data-node"));
      assertEquals(String.valueOf(5 + i), bar.get("data-epoch"));
      assertEquals(String.valueOf(t0 + starts[i]), bar.get("data-start"));
      assertEquals(ended[i], bar.get("data-ended"), bar.toString());
      if (ends[i] != null) {
        assertEquals(ends[i], bar.get("data-end"));
      }
    }
    // one scale for the whole timeline: every bar's and gap's width is its duration times that scale
    Map<String, String> svg = elements(dom, "svg", "timeline-svg").get(0);
    double scale = 960 / (num(svg, "data-to") - num(svg, "data-from"));
    assertEquals(t0, (long) num(svg, "data-from"));
    for (Map<String, String> bar : bars) {
      assertEquals((num(bar, "data-end") - num(bar, "data-start")) * scale, num(bar, "width"), 0.01, bar.toString());
      assertEquals(10 + (num(bar, "data-start") - t0) * scale, num(bar, "x"), 0.01, bar.toString());
    }
    List<Map<String, String>> gaps = elements(dom, "rect", "gap");
    assertEquals(2, gaps.size(), "a gap after each release, none after the lost leader: " + gaps);
    assertEquals("1500", gaps.get(0).get("data-ms"));
    assertEquals("3250", gaps.get(1).get("data-ms"));
    for (int i = 0; i < 2; i++) {
      Map<String, String> gap = gaps.get(i);
      Map<String, String> before = bars.get(i), after = bars.get(i + 1);
      assertEquals(num(before, "x") + num(before, "width"), num(gap, "x"), 0.01, "the gap starts where the leader released");
      assertEquals(num(after, "x"), num(gap, "x") + num(gap, "width"), 0.01, "and ends at the next election");
      assertEquals(num(gap, "data-ms") * scale, num(gap, "width"), 0.01);
    }
    assertTrue(dom.contains(">1500 ms</text>") && dom.contains(">3250 ms</text>"), "gap labels: " + svgOf(dom, "timeline"));
    for (long s : starts) {
      assertTrue(dom.contains(">" + clock(s) + "</text>"), "tick label " + clock(s) + ": " + svgOf(dom, "timeline"));
    }

    // failovers, newest first: the lost leader's is unknown, the released ones are measured
    String failovers = tableOf(dom, "failovers");
    assertEquals(List.of(
            List.of("epoch 7 → 8", "c", "d", "not recorded", human(D_ELECTED), "unknown: lost without a release (crash or partition)"),
            List.of("epoch 6 → 7", "b", "c", human(B_RELEASED), human(C_ELECTED), "3250 ms"),
            List.of("epoch 5 → 6", "a", "b", human(A_RELEASED), human(B_ELECTED), "1500 ms")),
        rows(failovers), failovers);
    assertTrue(dom.contains("waited for a new leader 2 times, 1500 ms on average"), "time to new leader metric");

    // people read milliseconds: the history table and the leader line too; no nanoseconds anywhere
    // the members, with the tag of a node that never leads (PMM_HA_NOFAILOVER)
    assertEquals(List.of(List.of("a", "leader", "alive", ""), List.of("b", "follower", "suspect", "nofailover")),
        rows(tableOf(dom, "members")));
    List<List<String>> history = rows(tableOf(dom, "history"));
    assertEquals(6, history.size());
    assertEquals(List.of(human(D_ELECTED), "elected", "8", "d"), history.get(0));
    assertEquals(List.of(human(A_ELECTED), "elected", "5", "a"), history.get(5));
    assertTrue(dom.contains("id=\"leader-since\">" + human(D_ELECTED) + "<"), "leader since");
    Matcher nanos = Pattern.compile("\\d\\d:\\d\\d:\\d\\d\\.\\d{4,}").matcher(dom);
    assertFalse(nanos.find(), () -> "a timestamp with more than milliseconds: " + nanos.group());

    // the renewal chart: one point per poll that saw renewals, at its mean latency on the chart's scale
    List<Map<String, String>> points = elements(dom, "circle", "renewal");
    assertTrue(points.size() >= 2, "samples kept between polls: " + svgOf(dom, "renewals"));
    double max = num(elements(dom, "svg", "renewals-svg").get(0), "data-max-ms");
    for (Map<String, String> p : points) {
      assertEquals(12.5, num(p, "data-ms"), 1e-9, p.toString());
      assertEquals(0, (long) num(p, "data-n") % 4, "whole scrapes of renewals: " + p);
      assertEquals(132 - 12.5 * 120 / max, num(p, "cy"), 0.01, p.toString());
    }
    assertTrue(dom.contains("mean 12.50 ms over") && dom.contains("slowest ≤ 25 ms"), svgOf(dom, "renewals"));

    checkScreenshot(ImageIO.read(shot.toFile()));
  }

  /** The PNG shows the bars in the node colours, their widths and the gaps between them to scale. */
  static void checkScreenshot(BufferedImage img) {
    int[] firstRow = {-1};
    for (int y = 0; y < img.getHeight() && firstRow[0] < 0; y++) {
      for (int x = 0; x < img.getWidth(); x++) {
        if ((img.getRGB(x, y) & 0xffffff) == NODE_RGB[0]) {
          firstRow[0] = y;
          break;
        }
      }
    }
    assertTrue(firstRow[0] >= 0, "no pixel of the first leader's colour in the screenshot");
    int row = firstRow[0] + 25; // below the bar's top edge and its white label, inside the 30 px bar
    int[][] spans = new int[4][];
    for (int i = 0; i < 4; i++) {
      spans[i] = span(img, row, NODE_RGB[i]);
      assertTrue(spans[i] != null, "leader " + i + "'s colour on row " + row);
    }
    int[] gap1 = span(img, row, GAP_RGB, spans[0][1], spans[1][0]);
    int[] gap2 = span(img, row, GAP_RGB, spans[1][1], spans[2][0]);
    assertTrue(gap1 != null && gap2 != null, "the gaps in red between the leaders");
    double pxPerMs = (spans[0][1] - spans[0][0] + 1) / (double) (A_RELEASED - A_ELECTED);
    assertEquals((B_RELEASED - B_ELECTED) * pxPerMs, spans[1][1] - spans[1][0] + 1, 3, "b's bar to scale");
    assertEquals((D_ELECTED - C_ELECTED) * pxPerMs, spans[2][1] - spans[2][0] + 1, 3, "c's bar to scale");
    assertEquals((B_ELECTED - A_RELEASED) * pxPerMs, gap1[1] - gap1[0] + 1, 3, "the first gap to scale");
    assertEquals((C_ELECTED - B_RELEASED) * pxPerMs, gap2[1] - gap2[0] + 1, 3, "the second gap to scale");
    assertTrue(spans[0][1] < gap1[0] && gap1[1] < spans[1][0] && spans[1][1] < gap2[0] && gap2[1] < spans[2][0]
        && spans[2][1] < spans[3][0], "in time order");
    boolean chart = false;
    for (int y = row + 60; y < img.getHeight() && !chart; y++) {
      chart = span(img, y, RENEWAL_RGB) != null;
    }
    assertTrue(chart, "the renewal latency line below the timeline");
  }

  /** First and last x on row y with exactly this colour, between x0 and x1; null if none. */
  static int[] span(BufferedImage img, int y, int rgb, int x0, int x1) {
    int first = -1, last = -1;
    for (int x = Math.max(0, x0); x <= Math.min(img.getWidth() - 1, x1); x++) {
      if ((img.getRGB(x, y) & 0xffffff) == rgb) {
        if (first < 0) {
          first = x;
        }
        last = x;
      }
    }
    return first < 0 ? null : new int[] {first, last};
  }

  static int[] span(BufferedImage img, int y, int rgb) {
    return span(img, y, rgb, 0, img.getWidth() - 1);
  }

  static String svgOf(String dom, String id) {
    Matcher m = Pattern.compile("<svg [^>]*id=\"" + id + "\".*?</svg>", Pattern.DOTALL).matcher(dom);
    return m.find() ? m.group() : "(no svg " + id + ")";
  }

  static String tableOf(String dom, String id) {
    Matcher m = Pattern.compile("<table id=\"" + id + "\".*?</table>", Pattern.DOTALL).matcher(dom);
    assertTrue(m.find(), "table " + id);
    return m.group();
  }

  static List<List<String>> rows(String table) {
    List<List<String>> out = new ArrayList<>();
    Matcher tr = Pattern.compile("<tr>(.*?)</tr>", Pattern.DOTALL).matcher(table.substring(table.indexOf("<tbody>")));
    while (tr.find()) {
      List<String> cells = new ArrayList<>();
      Matcher td = Pattern.compile("<td[^>]*>(.*?)</td>").matcher(tr.group(1));
      while (td.find()) {
        cells.add(td.group(1));
      }
      out.add(cells);
    }
    return out;
  }

  @Test
  void thePageLoadsNothingFromElsewhere() throws Exception {
    String page = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create(base + "/")).build(),
        HttpResponse.BodyHandlers.ofString()).body();
    assertTrue(page.contains("id=\"timeline\""), "the page served is the status page");
    for (String external : List.of("(?i)<script[^>]*\\ssrc\\s*=", "(?i)<link\\b", "(?i)@import", "(?i)@font-face",
        "(?i)url\\s*\\(", "(?i)(src|href)\\s*=\\s*[\"']?\\s*(https?:)?//", "(?i)<iframe\\b", "(?i)<img\\b")) {
      Matcher m = Pattern.compile(external).matcher(page);
      assertFalse(m.find(), () -> "the page refers to something outside it: " + m.group());
    }
  }
}
