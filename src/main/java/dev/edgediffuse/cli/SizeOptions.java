package dev.edgediffuse.cli;

import picocli.CommandLine.Option;

/** --width and --height of generated images; the model's native size when left out. */
final class SizeOptions {
    @Option(names = "--width", paramLabel = "W", description = "image width, a multiple of 8 (default: the model's, its UNet's sample_size × 8)")
    private Integer width;

    @Option(names = "--height", paramLabel = "H", description = "image height, a multiple of 8 (default: the model's)")
    private Integer height;

    int width(int modelSize) {
        return width != null ? width : modelSize;
    }

    int height(int modelSize) {
        return height != null ? height : modelSize;
    }
}
