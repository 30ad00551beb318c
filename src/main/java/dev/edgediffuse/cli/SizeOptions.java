package dev.edgediffuse.cli;

import dev.edgediffuse.pipeline.GenerateRequest;
import picocli.CommandLine.Option;

/** --width and --height of generated images; the model's native size when left out. */
final class SizeOptions {
    @Option(names = "--width", paramLabel = "W", description = "image width, a multiple of 8 up to " + GenerateRequest.MAX_SIDE + " (default: the model's, its UNet's sample_size × 8)")
    private Integer width;

    @Option(names = "--height", paramLabel = "H", description = "image height, a multiple of 8 up to " + GenerateRequest.MAX_SIDE + " (default: the model's)")
    private Integer height;

    /** Checks the sizes given before anything is loaded: a size past the limit is refused at once, not after minutes. */
    void check() {
        try {
            if (width != null) GenerateRequest.checkSide("--width", width);
            if (height != null) GenerateRequest.checkSide("--height", height);
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage());
        }
    }

    int width(int modelSize) {
        return width != null ? width : modelSize;
    }

    int height(int modelSize) {
        return height != null ? height : modelSize;
    }
}
