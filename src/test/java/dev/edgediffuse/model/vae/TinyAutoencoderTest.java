package dev.edgediffuse.model.vae;

import dev.edgediffuse.format.Config;
import dev.edgediffuse.format.ModelFormatException;
import dev.edgediffuse.format.Npy;
import dev.edgediffuse.format.SafeTensors;
import dev.edgediffuse.nn.Weights;
import dev.edgediffuse.tensor.FeatureMap;
import dev.edgediffuse.tensor.Weight;
import dev.edgediffuse.testing.Goldens;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

import static dev.edgediffuse.testing.Goldens.assertRelClose;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** The tiny TAESD of tools/goldens/vae.py against its torch reference, under diffusers and original names. */
class TinyAutoencoderTest {
    private static final String C = "vae/tiny";
    private static SafeTensors file, enc, dec;
    private static Config config;
    private static TinyAutoencoder taesd;

    @BeforeAll
    static void load() {
        Path dir = Goldens.dir(C);
        config = Config.read(dir.resolve("config.json"));
        file = SafeTensors.open(dir.resolve("diffusion_pytorch_model.safetensors"));
        enc = SafeTensors.open(dir.resolve("taesd_encoder.safetensors"));
        dec = SafeTensors.open(dir.resolve("taesd_decoder.safetensors"));
        taesd = new TinyAutoencoder(config, new Weights("tiny", file.tensors()));
    }

    @AfterAll
    static void close() {
        file.close();
        enc.close();
        dec.close();
    }

    private static FeatureMap nchw(String name) {
        Npy.Array a = Goldens.load(C, name);
        return FeatureMap.fromNchw(a.data(), a.shape()[0], a.shape()[1], a.shape()[2], a.shape()[3]);
    }

    @Test
    void decodeMatchesTorch() {
        double rel = assertRelClose("taesd decode", Goldens.load(C, "decode_out").data(), taesd.decode(nchw("decode_latents")).toNchw(), 1e-4);
        System.out.println("TinyAutoencoder decode relative error " + rel);
    }

    @Test
    void encodeMatchesTorch() {
        double rel = assertRelClose("taesd encode", Goldens.load(C, "encode_out").data(), taesd.encode(nchw("encode_image")).toNchw(), 1e-4);
        System.out.println("TinyAutoencoder encode relative error " + rel);
    }

    @Test
    void originalTaesdFilesGiveIdenticalOutput() {
        Map<String, Weight> renamed = TinyAutoencoder.fromOriginal("taesd", enc.tensors(), dec.tensors());
        TinyAutoencoder orig = new TinyAutoencoder(config, new Weights("taesd", renamed));
        FeatureMap z = nchw("decode_latents"), image = nchw("encode_image");
        AutoencoderKLTest.same("decode", taesd.decode(z), orig.decode(z));
        AutoencoderKLTest.same("encode", taesd.encode(image), orig.encode(image));
        TinyAutoencoder decoderOnly = new TinyAutoencoder(config, new Weights("taesd", TinyAutoencoder.fromOriginal("taesd", null, dec.tensors())));
        assertFalse(decoderOnly.canEncode());
        AutoencoderKLTest.same("decoder only", taesd.decode(z), decoderOnly.decode(z));
    }

    @Test
    void missingTensorIsNamed() {
        Map<String, Weight> partial = new LinkedHashMap<>(file.tensors());
        partial.remove("decoder.layers.3.conv.2.bias");
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> new TinyAutoencoder(config, new Weights("taesd.safetensors", partial)));
        assertEquals("taesd.safetensors: tensor decoder.layers.3.conv.2.bias is missing", e.getMessage());
    }
}
