package dev.pmmha.runtime;

import com.typesafe.config.Config;
import dev.pmmha.runtime.config.ClusterConfig;
import dev.pmmha.runtime.config.NodeSettings;
import dev.pmmha.runtime.config.PmmHaConfig;
import dev.pmmha.runtime.config.TlsSettings;
import java.util.Map;

/**
 * What a node makes of a deployment's environment, computed by the runtime's own code: its settings, and the
 * Pekko configuration they turn into (Artery, Management, Cluster Bootstrap, discovery), as {@link PmmHaNode}
 * composes them at start. Lives in the runtime's package because {@link ClusterConfig} is package-private.
 */
public final class DeployedNode {

  public final Config config;
  public final NodeSettings settings;
  /** The effective configuration of the node's actor system (without the store plugin's part). */
  public final Config pekko;

  private DeployedNode(Map<String, String> env) {
    this.config = PmmHaConfig.load(env);
    this.settings = NodeSettings.create(config);
    this.pekko = ClusterConfig.overlay(settings, TlsSettings.create(config)).withFallback(config).resolve();
  }

  public static DeployedNode of(Map<String, String> env) {
    return new DeployedNode(env);
  }
}
