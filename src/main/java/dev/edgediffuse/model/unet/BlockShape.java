package dev.edgediffuse.model.unet;

/**
 * The settings a down, mid or up block needs beyond its channel counts.
 *
 * @param heads             attention heads of the block's transformers (0 when the block has none)
 * @param transformerLayers BasicTransformerBlocks per transformer
 * @param widths            inner widths a pruning pass left (none: every module at full width)
 */
record BlockShape(int heads, int transformerLayers, int timeDim, int contextDim, int groups, double eps, PrunedWidths widths) {
    boolean hasAttention() {
        return heads > 0;
    }
}
