package dev.pmmha.testkit;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A page loaded in a real headless Chromium, as an operator's browser would load it: its DOM once the page's
 * scripts have run for a virtual time budget, and a PNG screenshot. Chromium is installed by scripts/test.sh.
 */
public final class Chromium {

  private static final Path BIN = Path.of("/usr/bin/chromium");

  private Chromium() {}

  /**
   * Takes a screenshot of {@code url} into {@code screenshot}, then returns the DOM of a second load. Each load
   * lets the page's timers run for {@code virtualMillis} of virtual time (fetches pause it, so polls complete).
   */
  public static String load(String url, Path screenshot, int virtualMillis, int width, int height) throws Exception {
    if (!Files.isExecutable(BIN)) {
      throw new AssertionError("chromium is not installed: scripts/test.sh installs it (apt-get install chromium)");
    }
    Path profile = Files.createTempDirectory("pmm-ha-chromium");
    List<String> common = List.of(BIN.toString(), "--headless", "--no-sandbox", "--disable-gpu",
        "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
        "--disable-quic", "--hide-scrollbars", "--user-data-dir=" + profile,
        "--virtual-time-budget=" + virtualMillis, "--window-size=" + width + "," + height);
    try {
      run(concat(common, "--screenshot=" + screenshot.toAbsolutePath(), url));
      return run(concat(common, "--dump-dom", url));
    } finally {
      try (var walk = Files.walk(profile)) {
        walk.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
      }
    }
  }

  private static List<String> concat(List<String> a, String... more) {
    List<String> out = new ArrayList<>(a);
    out.addAll(List.of(more));
    return out;
  }

  /**
   * Runs the browser with a time limit. Its output goes to a file, not a pipe: reading a pipe blocks until the
   * browser exits, so a browser that hangs (a CI run saw `--screenshot` never return) would hang the suite. A
   * hung browser, and every process it started, is killed and started once more; a second hang fails the test.
   */
  private static String run(List<String> cmd) throws IOException, InterruptedException {
    for (int attempt = 1; ; attempt++) {
      Path out = Files.createTempFile("pmm-ha-chromium", ".out");
      try {
        Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.DISCARD)
            .redirectOutput(out.toFile()).start();
        if (p.waitFor(60, TimeUnit.SECONDS)) {
          if (p.exitValue() != 0) {
            throw new AssertionError("chromium exited with " + p.exitValue() + ": " + cmd);
          }
          return Files.readString(out, StandardCharsets.UTF_8);
        }
        p.descendants().forEach(ProcessHandle::destroyForcibly);
        p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        if (attempt == 2) {
          throw new AssertionError("chromium did not finish within 60 s, twice: " + cmd);
        }
      } finally {
        Files.deleteIfExists(out);
      }
    }
  }
}
