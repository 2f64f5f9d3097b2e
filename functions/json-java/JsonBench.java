// JSON microbenchmark (Java twin of json-python, Gson): generate items records, serialise+parse rounds times.
import com.google.gson.Gson;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.nio.charset.StandardCharsets;

public class JsonBench {
    static final int MAX_ITEMS = 200_000;
    static final int MAX_ROUNDS = 1_000;

    static JsonObject bad(String name, JsonElement value, String allowed) {
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

    static JsonObject makeDocument(int items) {
        JsonArray coordinates = new JsonArray();
        for (int i = 0; i < items; i++) {
            JsonObject c = new JsonObject();
            c.addProperty("id", i);
            c.addProperty("name", "item-" + i);
            c.addProperty("x", i * 37 % 1000);
            c.addProperty("y", i * 91 % 1000);
            c.addProperty("z", i * 13 % 1000);
            JsonArray tags = new JsonArray();
            tags.add("t" + (i % 7));
            tags.add("t" + (i % 11));
            c.add("tags", tags);
            coordinates.add(c);
        }
        JsonObject document = new JsonObject();
        document.add("coordinates", coordinates);
        return document;
    }

    public static JsonObject main(JsonObject args) {
        Integer items = whole(args, "items", 1000);
        Integer rounds = whole(args, "rounds", 1);
        if (items == null || items < 0 || items > MAX_ITEMS) return bad("items", args.get("items"), "use an integer from 0 to " + MAX_ITEMS);
        if (rounds == null || rounds < 1 || rounds > MAX_ROUNDS) return bad("rounds", args.get("rounds"), "use an integer from 1 to " + MAX_ROUNDS);
        Gson gson = new Gson();
        JsonObject document = makeDocument(items);
        String text = "";
        JsonObject parsed = new JsonObject();
        for (int i = 0; i < rounds; i++) {
            text = gson.toJson(document);
            parsed = JsonParser.parseString(text).getAsJsonObject();
        }
        JsonArray coords = parsed.getAsJsonArray("coordinates");
        JsonObject sums = new JsonObject();
        for (String axis : new String[] {"x", "y", "z"}) {
            long sum = 0;
            for (JsonElement c : coords) sum += c.getAsJsonObject().get(axis).getAsLong();
            sums.addProperty(axis, sum);
        }
        JsonObject result = new JsonObject();
        result.addProperty("items", coords.size());
        result.addProperty("bytes", text.getBytes(StandardCharsets.UTF_8).length);
        result.addProperty("rounds", rounds);
        result.add("sums", sums);
        return result;
    }
}
