package dev.pmmha.deploy;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** A Dockerfile's instructions (continuation lines joined, comments dropped), grouped by build stage. */
final class Dockerfile {

  record Instruction(String keyword, String args) {}

  record Stage(String from, String name, List<Instruction> instructions) {
    List<Instruction> all(String keyword) {
      return instructions.stream().filter(i -> i.keyword().equals(keyword)).toList();
    }
  }

  final List<Instruction> preamble = new ArrayList<>();
  final List<Stage> stages = new ArrayList<>();
  final String text;

  private Dockerfile(String text) {
    this.text = text;
  }

  static Dockerfile parse(Path file) {
    String text = Repo.read(file);
    Dockerfile df = new Dockerfile(text);
    StringBuilder pending = new StringBuilder();
    for (String line : text.split("\n")) {
      String t = line.strip();
      if (pending.length() == 0 && (t.isEmpty() || t.startsWith("#"))) {
        continue;
      }
      if (pending.length() > 0 && t.startsWith("#")) {
        continue; // comment lines inside a continued instruction are dropped
      }
      if (t.endsWith("\\")) {
        pending.append(t, 0, t.length() - 1).append(' ');
        continue;
      }
      pending.append(t);
      String full = pending.toString().strip();
      pending.setLength(0);
      int sp = full.indexOf(' ');
      Instruction ins = new Instruction(full.substring(0, sp).toUpperCase(), full.substring(sp + 1).strip());
      if (ins.keyword().equals("FROM")) {
        String[] p = ins.args().split("\\s+");
        df.stages.add(new Stage(p[0], p.length >= 3 && p[1].equalsIgnoreCase("AS") ? p[2] : null, new ArrayList<>()));
      } else if (df.stages.isEmpty()) {
        df.preamble.add(ins);
      } else {
        df.stages.get(df.stages.size() - 1).instructions().add(ins);
      }
    }
    return df;
  }

  Stage last() {
    return stages.get(stages.size() - 1);
  }

  /** The value of an ARG default from the preamble ({@code ARG NAME=value}). */
  String arg(String name) {
    for (Instruction i : preamble) {
      if (i.keyword().equals("ARG") && i.args().startsWith(name + "=")) {
        return i.args().substring(name.length() + 1);
      }
    }
    return null;
  }

  /** A stage's FROM with ${ARG} defaults filled in. */
  String image(Stage s) {
    String from = s.from();
    if (from.startsWith("${") && from.endsWith("}")) {
      return arg(from.substring(2, from.length() - 1));
    }
    return from;
  }

  /** Whether the final stage copies source (from the build context) to destination. */
  boolean copies(String source, String destination) {
    for (Instruction i : last().all("COPY")) {
      List<String> words = new ArrayList<>(List.of(i.args().split("\\s+")));
      words.removeIf(w -> w.startsWith("--chmod") || w.startsWith("--chown") || w.startsWith("--link"));
      if (words.stream().anyMatch(w -> w.startsWith("--from"))) {
        continue;
      }
      if (words.size() == 2 && words.get(0).equals(source) && words.get(1).equals(destination)) {
        return true;
      }
    }
    return false;
  }
}
