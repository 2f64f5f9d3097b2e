// base64 microbenchmark (Java twin of base64-python): encode then decode text*repeat, rounds times.
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.nio.charset.StandardCharsets;
import java.util.Base64;

public class Base64Bench {
    static final int MAX_BYTES = 512 * 1024;
    static final int MAX_ROUNDS = 100_000;

    static JsonObject bad(String name, String value, String allowed) {
        JsonObject error = new JsonObject();
        error.addProperty("error", "parameter '" + name + "' is " + value + "; " + allowed);
        return error;
    }

    static Integer whole(JsonObject args, String key, int fallback) {
        JsonElement v = args.get(key);
        if (v == null) return fallback;
        if (!v.isJsonPrimitive() || !v.getAsJsonPrimitive().isNumber()) return null;
        double d = v.getAsDouble();
        return d == Math.rint(d) && Math.abs(d) < Integer.MAX_VALUE ? (int) d : null;
    }

    public static JsonObject main(JsonObject args) {
        JsonElement t = args.get("text");
        if (t != null && !(t.isJsonPrimitive() && t.getAsJsonPrimitive().isString())) {
            return bad("text", t.toString(), "use a string");
        }
        String text = t == null ? "Hello, OpenWhisk!" : t.getAsString();
        Integer repeat = whole(args, "repeat", 1);
        Integer rounds = whole(args, "rounds", 1);
        if (repeat == null || repeat < 1) return bad("repeat", String.valueOf(args.get("repeat")), "use an integer >= 1");
        if (rounds == null || rounds < 1 || rounds > MAX_ROUNDS) {
            return bad("rounds", String.valueOf(args.get("rounds")), "use an integer from 1 to " + MAX_ROUNDS);
        }
        byte[] payload = text.repeat(repeat).getBytes(StandardCharsets.UTF_8);
        if (payload.length > MAX_BYTES) {
            return bad("text", "'<" + payload.length + " bytes after repeat>'", "keep text * repeat under " + MAX_BYTES + " bytes");
        }
        byte[] encoded = new byte[0];
        byte[] decoded = payload;
        for (int i = 0; i < rounds; i++) {
            encoded = Base64.getEncoder().encode(payload);
            decoded = Base64.getDecoder().decode(encoded);
        }
        JsonObject result = new JsonObject();
        result.addProperty("decoded", new String(decoded, StandardCharsets.UTF_8));
        result.addProperty("length", payload.length);
        result.addProperty("encoded_length", encoded.length);
        result.addProperty("rounds", rounds);
        return result;
    }
}
