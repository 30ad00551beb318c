package dev.edgediffuse.server;

/** A request that ends in an HTTP error: status, a one-line message for the client, optional Retry-After seconds. */
final class ApiError extends RuntimeException {
    final int status;
    final int retryAfterSeconds;

    ApiError(int status, String message) {
        this(status, message, -1);
    }

    ApiError(int status, String message, int retryAfterSeconds) {
        super(message, null, false, false);
        this.status = status;
        this.retryAfterSeconds = retryAfterSeconds;
    }

    static ApiError badRequest(String message) {
        return new ApiError(400, message);
    }
}
