package dev.edgediffuse.cli;

import dev.edgediffuse.checkpoint.BuiltInModel;
import dev.edgediffuse.checkpoint.SamplingDefaults;
import dev.edgediffuse.format.Images;
import dev.edgediffuse.format.Npy;
import dev.edgediffuse.format.Png;
import dev.edgediffuse.pipeline.GenerateRequest;
import dev.edgediffuse.pipeline.GenerateResult;
import dev.edgediffuse.pipeline.Pipeline;

import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** edgediffuse generate: prompt → PNG with its settings in a "parameters" text chunk. */
final class GenerateCommand {
    static final String HELP = """
            usage: edgediffuse generate --prompt TEXT [options]
              --model DIR|FILE       diffusers folder or single-file .safetensors (default: the built-in model)
              --config DIR           component configs for a single-file checkpoint (default: SD1.5)
              --vae DIR              replacement VAE folder (AutoencoderKL or AutoencoderTiny/TAESD)
              --negative-prompt TEXT
              --steps N              denoising steps (default 20)
              --cfg X                classifier-free guidance scale (default 7.5; <= 1 disables guidance)
              --cfg-max-timestep T   guide only the steps at timesteps <= T of 1000 (default 1000: all); the
                                     noisier steps use the prompt alone and skip the unconditional UNet pass
              --scheduler NAME       ddim | euler | euler_a | dpmpp_2m | dpmpp_2m_karras | lcm (default euler_a)
                                     (these four default to the model folder's sampling_defaults.json where it
                                     has one, as the built-in model does)
              --seed N               (default 0)
              --width W --height H   multiples of 8 (default: the UNet's sample_size × 8)
              --init-latents F.npy   start from these latents (NCHW float32) instead of seeded noise
              --save-latents F.npy   write the final latents (NCHW float32)
              --init-image F.png     img2img source image (its size must match --width/--height)
              --strength X           img2img denoising strength in (0, 1] (default 0.75)
              --threads N            worker threads (default: all cores)
              --out FILE.png         output image (default out.png)
              --low-memory           decode the VAE in 288-pixel tiles; the launcher then runs in a 280 MB heap
              --quiet                no progress bar
            hybrid (the server runs the first K steps on its model, this device the rest on --model):
              --hybrid URL           server base URL, e.g. https://host:7860 (falls back to all-local on any failure)
              --split K,M            K steps on the server, M on the device (total K+M); or --steps K,M
              --remote-model NAME    the server's model (default: the server's first)
              --remote-embeddings    use the server's prompt embeddings instead of this model's text encoder
              --hybrid-timeout S     deadline for the server's part in seconds (default 120)
              --api-key-env VAR      environment variable holding the API key (default EDGEDIFFUSE_API_KEY)
              --api-key KEY          the API key itself (visible to other local users; prefer --api-key-env)
              --tls-truststore F     PKCS12 truststore for a self-signed server (password: $EDGEDIFFUSE_TRUSTSTORE_PASSWORD)""";

    private static final Set<String> VALUED = Set.of("--model", "--config", "--vae", "--prompt", "--negative-prompt", "--steps",
            "--cfg", "--cfg-max-timestep", "--scheduler", "--seed", "--width", "--height", "--init-latents", "--save-latents", "--init-image",
            "--strength", "--threads", "--out", "--hybrid", "--split", "--remote-model", "--hybrid-timeout", "--api-key-env",
            "--api-key", "--tls-truststore");

    private GenerateCommand() {}

    /** The request the options ask for; what they leave out comes from the model's sampling defaults. */
    static GenerateRequest request(Args a, int defaultSize, int steps, SamplingDefaults d) {
        return new GenerateRequest(a.get("--prompt", ""), a.get("--negative-prompt", ""),
                steps, a.getFloat("--cfg", d.cfg()), a.getInt("--cfg-max-timestep", d.cfgMaxTimestep()), a.get("--scheduler", d.scheduler()), a.getLong("--seed", 0),
                a.getInt("--width", defaultSize), a.getInt("--height", defaultSize),
                a.has("--init-latents") ? Npy.read(a.path("--init-latents")).data() : null,
                a.has("--init-image") ? Images.read(a.path("--init-image")) : null, a.getFloat("--strength", 0.75f));
    }

    static int run(List<String> argv, PrintStream out, PrintStream err) {
        if (argv.contains("--help")) {
            out.println(HELP);
            return 0;
        }
        Args a = new Args(argv, VALUED, Set.of("--quiet", "--low-memory", "--remote-embeddings"));
        if (!a.has("--prompt")) throw new Args.UsageException("--prompt is required");
        if (a.has("--threads")) dev.edgediffuse.kernels.Parallel.setThreads(a.getInt("--threads", 1));
        Path outPath = Path.of(a.get("--out", "out.png"));
        Path model = a.has("--model") ? a.path("--model") : BuiltInModel.path(err);
        if (a.has("--hybrid")) return HybridGenerate.run(a, model, outPath, out, err);

        try (Pipeline p = Pipeline.load(model, new Pipeline.Options(a.path("--config"), a.path("--vae"), a.has("--low-memory")))) {
            GenerateRequest req = request(a, p.defaultImageSize(), a.getInt("--steps", p.samplingDefaults().steps()), p.samplingDefaults());
            GenerateResult r = p.generate(req, a.has("--quiet") ? null : err);
            byte[] rgb = Images.toRgb(r.image(), 0);
            if (a.has("--save-latents")) Npy.write(a.path("--save-latents"), r.latentsNchw(), r.latentShape());
            Png.write(outPath, rgb, r.image().width(), r.image().height(), Map.of("parameters", req.parametersText(p.modelName())));
            out.println("wrote " + outPath + " (" + r.image().width() + "x" + r.image().height() + ")");
            err.println(r.timings().summary());
            return 0;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
