package dev.edgediffuse.tokenizer;

import dev.edgediffuse.format.Json;
import dev.edgediffuse.format.ModelFormatException;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.text.Normalizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * CLIP's byte-level BPE tokenizer, matching transformers' python CLIPTokenizer when ftfy is not installed:
 * control characters dropped, whitespace collapsed, CJK ideographs split apart, NFC, lower case, then CLIP's
 * pre-split pattern, bytes mapped to printable characters, and BPE merges by rank with {@code </w>} ending each word.
 * Prompts become {@code [BOS] tokens… [EOS] pad…}, exactly {@link #MAX_LENGTH} ids.
 */
public final class ClipTokenizer {
    public static final int MAX_LENGTH = 77;
    private static final String BOS = "<|startoftext|>", EOS = "<|endoftext|>";
    private static final String RESOURCES = "/dev/edgediffuse/tokenizer/";
    /** Merges past this line are unused by CLIP (its vocabulary is 256 bytes ×2 + merges + 2 specials = 49408). */
    private static final int MERGE_COUNT = 49152 - 256 - 2;
    private static final Pattern PRE_SPLIT = Pattern.compile(
            "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+",
            Pattern.CASE_INSENSITIVE | Pattern.UNICODE_CASE);
    private static final Pattern WHITESPACE = Pattern.compile("[ \\u2028\\u2029]+");
    private static final char[] BYTE_TO_CHAR = byteToChar();
    private static volatile ClipTokenizer builtIn;

    private final Map<String, Integer> vocab;
    private final Map<String, Integer> mergeRanks;
    private final Map<String, int[]> wordCache = new ConcurrentHashMap<>();
    private final int bosId, eosId, padId;
    /**
     * The special tokens cut out of a prompt before anything else, as transformers' tokenizer splits on its added
     * tokens: BOS, EOS and the pad token — so where SD2 pads with "!", a literal "!" in a prompt is the pad id 0,
     * not the word "!</w>", exactly as diffusers encodes it.
     */
    private final Pattern special;

    private ClipTokenizer(Map<String, Integer> vocab, Map<String, Integer> mergeRanks, String pad) {
        this.vocab = vocab;
        this.mergeRanks = mergeRanks;
        this.bosId = vocab.get(BOS);
        this.eosId = vocab.get(EOS);
        this.padId = vocab.get(pad);
        this.special = Pattern.compile(java.util.stream.Stream.of(BOS, EOS, pad).distinct().map(Pattern::quote)
                .collect(java.util.stream.Collectors.joining("|")));
    }

    /** The SD 1.x vocabulary shipped with EdgeDiffuse (OpenAI CLIP, MIT), padding with {@code <|endoftext|>}. */
    public static ClipTokenizer builtIn() {
        ClipTokenizer t = builtIn;
        if (t == null) {
            synchronized (ClipTokenizer.class) {
                if (builtIn == null) {
                    builtIn = fromText(resource("vocab.json"), "vocab.json", resource("merges.txt"), "merges.txt",
                            resource("tokenizer_config.json"), resource("special_tokens_map.json"), "built-in tokenizer");
                }
                t = builtIn;
            }
        }
        return t;
    }

    /**
     * A tokenizer directory (vocab.json, merges.txt, optionally tokenizer_config.json / special_tokens_map.json
     * naming the pad token: SD 1.x pads with {@code <|endoftext|>}, SD 2.x with {@code !}); null means built-in.
     */
    public static ClipTokenizer load(Path dirOrNull) {
        if (dirOrNull == null) return builtIn();
        Path vocab = dirOrNull.resolve("vocab.json"), merges = dirOrNull.resolve("merges.txt");
        return fromText(read(vocab, true), vocab.toString(), read(merges, true), merges.toString(),
                read(dirOrNull.resolve("tokenizer_config.json"), false),
                read(dirOrNull.resolve("special_tokens_map.json"), false), dirOrNull.toString());
    }

    private static ClipTokenizer fromText(String vocabJson, String vocabName, String mergesText, String mergesName,
                                          String configJson, String specialJson, String dirName) {
        Map<String, Integer> vocab = new HashMap<>(65536);
        for (Map.Entry<String, Object> e : Json.parseObject(vocabJson, vocabName).entrySet()) {
            if (!(e.getValue() instanceof Long id) || id < 0 || id > Integer.MAX_VALUE) {
                throw new ModelFormatException(vocabName + ": token \"" + e.getKey() + "\" has a non-integer id " + e.getValue());
            }
            vocab.put(e.getKey(), (int) (long) id);
        }
        for (String s : new String[]{BOS, EOS}) {
            if (!vocab.containsKey(s)) throw new ModelFormatException(vocabName + ": special token " + s + " is missing");
        }
        Map<String, Integer> ranks = new HashMap<>(65536);
        String[] lines = mergesText.strip().split("\n");
        // Line 0 is the "#version" header; a merge's rank is its line number after it.
        for (int k = 1; k < lines.length && k <= MERGE_COUNT; k++) {
            String line = lines[k].strip();
            int space = line.indexOf(' ');
            if (space <= 0 || line.indexOf(' ', space + 1) >= 0) {
                throw new ModelFormatException(mergesName + ": line " + (k + 1) + " is not a pair of symbols: " + line);
            }
            ranks.put(line, k - 1);
        }
        String pad = padToken(configJson, dirName + "/tokenizer_config.json");
        if (pad == null) pad = padToken(specialJson, dirName + "/special_tokens_map.json");
        if (pad == null) pad = EOS;
        if (!vocab.containsKey(pad)) throw new ModelFormatException(dirName + ": pad token \"" + pad + "\" is not in the vocabulary");
        return new ClipTokenizer(vocab, ranks, pad);
    }

    /** pad_token as a plain string or as an AddedToken object {"content": …}; null when absent. */
    private static String padToken(String json, String name) {
        if (json == null) return null;
        Object v = Json.parseObject(json, name).get("pad_token");
        if (v instanceof Map<?, ?> m) v = m.get("content");
        if (v == null) return null;
        if (!(v instanceof String s)) throw new ModelFormatException(name + ": pad_token must be a string, got " + v);
        return s;
    }

    public int bosId() {
        return bosId;
    }

    public int eosId() {
        return eosId;
    }

    public int padId() {
        return padId;
    }

    /** {@code [BOS] tokens [EOS] pad…}: exactly 77 ids; prompts longer than 75 tokens are cut, keeping EOS last. */
    public int[] encode(String prompt) {
        int[] tokens = tokenize(prompt);
        int n = Math.min(tokens.length, MAX_LENGTH - 2);
        int[] ids = new int[MAX_LENGTH];
        Arrays.fill(ids, padId);
        ids[0] = bosId;
        System.arraycopy(tokens, 0, ids, 1, n);
        ids[n + 1] = eosId;
        return ids;
    }

    /** The prompt's BPE token ids, without BOS/EOS, untruncated. */
    public int[] tokenize(String prompt) {
        List<Integer> out = new ArrayList<>();
        // Literal special tokens are cut out first and kept whole (as transformers' added-token split does).
        Matcher special = this.special.matcher(prompt);
        int from = 0;
        while (special.find()) {
            tokenizeText(prompt.substring(from, special.start()), out);
            out.add(vocab.get(special.group()));
            from = special.end();
        }
        tokenizeText(prompt.substring(from), out);
        int[] ids = new int[out.size()];
        for (int k = 0; k < ids.length; k++) ids[k] = out.get(k);
        return ids;
    }

    private void tokenizeText(String text, List<Integer> out) {
        Matcher m = PRE_SPLIT.matcher(normalize(text));
        while (m.find()) {
            for (int id : word(m.group())) out.add(id);
        }
    }

    /** transformers' BasicTokenizer(strip_accents=False, do_split_on_punc=False), CLIP's stand-in for ftfy. */
    static String normalize(String text) {
        StringBuilder b = new StringBuilder(text.length() + 8);
        text.codePoints().forEach(cp -> {
            if (cp == '\t' || cp == '\n' || cp == '\r' || Character.getType(cp) == Character.SPACE_SEPARATOR) {
                b.append(' ');
            } else if (cp == 0 || cp == 0xFFFD || isControl(cp)) {
                // dropped
            } else if (isCjkIdeograph(cp)) {
                b.append(' ').appendCodePoint(cp).append(' ');
            } else {
                b.appendCodePoint(cp);
            }
        });
        String nfc = Normalizer.normalize(b, Normalizer.Form.NFC);
        return String.join(" ", WHITESPACE.split(nfc.strip())).toLowerCase(Locale.ROOT);
    }

    /** Unicode category C* (control, format, surrogate, private use, unassigned). */
    private static boolean isControl(int cp) {
        int t = Character.getType(cp);
        return t == Character.CONTROL || t == Character.FORMAT || t == Character.SURROGATE
                || t == Character.PRIVATE_USE || t == Character.UNASSIGNED;
    }

    /** The CJK Unified Ideograph blocks that BERT-style tokenizers surround with spaces. */
    private static boolean isCjkIdeograph(int cp) {
        return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x20000 && cp <= 0x2A6DF)
                || (cp >= 0x2A700 && cp <= 0x2B73F) || (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B820 && cp <= 0x2CEAF)
                || (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
    }

    /** One pre-split word: its UTF-8 bytes as printable characters, merged by BPE, as vocabulary ids (cached). */
    private int[] word(String word) {
        int[] cached = wordCache.get(word);
        if (cached != null) return cached;
        int[] ids;
        if (word.equals(BOS) || word.equals(EOS)) {
            ids = new int[]{vocab.get(word)};
        } else {
            List<String> symbols = bpe(word.getBytes(StandardCharsets.UTF_8));
            ids = new int[symbols.size()];
            for (int k = 0; k < ids.length; k++) ids[k] = vocab.getOrDefault(symbols.get(k), eosId); // unk = EOS
        }
        if (wordCache.size() < 100_000) wordCache.put(word, ids);
        return ids;
    }

    private List<String> bpe(byte[] utf8) {
        List<String> symbols = new ArrayList<>(utf8.length);
        for (byte value : utf8) symbols.add(String.valueOf(BYTE_TO_CHAR[value & 0xFF]));
        symbols.set(symbols.size() - 1, symbols.getLast() + "</w>");
        while (symbols.size() > 1) {
            // The lowest-ranked adjacent pair is merged everywhere it occurs, left to right.
            int best = Integer.MAX_VALUE;
            String first = null, second = null;
            for (int k = 0; k + 1 < symbols.size(); k++) {
                Integer rank = mergeRanks.get(symbols.get(k) + " " + symbols.get(k + 1));
                if (rank != null && rank < best) {
                    best = rank;
                    first = symbols.get(k);
                    second = symbols.get(k + 1);
                }
            }
            if (first == null) break;
            List<String> merged = new ArrayList<>(symbols.size());
            for (int k = 0; k < symbols.size(); k++) {
                if (k + 1 < symbols.size() && symbols.get(k).equals(first) && symbols.get(k + 1).equals(second)) {
                    merged.add(first + second);
                    k++;
                } else {
                    merged.add(symbols.get(k));
                }
            }
            symbols = merged;
        }
        return symbols;
    }

    /** GPT-2's reversible byte→character table: printable Latin-1 bytes map to themselves, the rest to U+0100 on. */
    private static char[] byteToChar() {
        char[] table = new char[256];
        int next = 256;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            table[b] = (char) (printable ? b : next++);
        }
        return table;
    }

    private static String read(Path path, boolean required) {
        try {
            return Files.readString(path);
        } catch (NoSuchFileException e) {
            if (required) throw new ModelFormatException(path + ": file not found");
            return null;
        } catch (IOException e) {
            throw new ModelFormatException(path + ": cannot read (" + e.getMessage() + ")");
        }
    }

    private static String resource(String name) {
        try (InputStream in = ClipTokenizer.class.getResourceAsStream(RESOURCES + name)) {
            if (in == null) throw new ModelFormatException("built-in tokenizer: resource " + RESOURCES + name + " is missing");
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new ModelFormatException("built-in tokenizer: cannot read " + name + " (" + e.getMessage() + ")");
        }
    }
}
