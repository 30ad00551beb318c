package dev.edgediffuse.cli;

import picocli.CommandLine.Option;

/** The API key a client sends to an edgediffuse server. */
final class ApiKeyOptions {
    static final String DEFAULT_ENV = "EDGEDIFFUSE_API_KEY";

    @Option(names = "--api-key-env", paramLabel = "VAR", description = "environment variable holding the server's API key (default " + DEFAULT_ENV + ")")
    private String env;

    @Option(names = "--api-key", paramLabel = "KEY", description = "the API key itself (visible to other local users; prefer --api-key-env)")
    private String key;

    /** The key, or null when neither option is given and the default variable is unset (a server without auth). */
    String key() {
        if (key != null) return key;
        String value = System.getenv(env != null ? env : DEFAULT_ENV);
        if (value == null && env != null) throw new UsageException("--api-key-env: $" + env + " is not set");
        return value;
    }
}
