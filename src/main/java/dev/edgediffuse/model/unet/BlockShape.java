package dev.edgediffuse.model.unet;

/**
 * The settings a down, mid or up block needs beyond its channel counts.
 *
 * @param heads             attention heads of the block's transformers (0 when the block has none)
 * @param transformerLayers BasicTransformerBlocks per transformer
 */
record BlockShape(int heads, int transformerLayers, int timeDim, int contextDim, int groups, double eps) {
    boolean hasAttention() {
        return heads > 0;
    }
}
