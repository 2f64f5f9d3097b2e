// Primes microbenchmark (Java twin of primes-python): count the primes below n (sieve of Eratosthenes).
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;

public class Primes {
    static final int MAX_N = 50_000_000;

    static int countPrimes(int n) {
        if (n < 3) return 0;
        boolean[] composite = new boolean[n];
        composite[0] = composite[1] = true;
        for (long p = 2; p * p < n; p++) {
            if (!composite[(int) p]) {
                for (long i = p * p; i < n; i += p) composite[(int) i] = true;
            }
        }
        int count = 0;
        for (boolean c : composite) if (!c) count++;
        return count;
    }

    public static JsonObject main(JsonObject args) {
        JsonElement v = args.get("n");
        int n = 100_000;
        if (v != null) {
            double d = v.isJsonPrimitive() && v.getAsJsonPrimitive().isNumber() ? v.getAsDouble() : -1;
            if (d != Math.rint(d) || d < 0 || d > MAX_N) {
                JsonObject error = new JsonObject();
                error.addProperty("error", "parameter 'n' is " + v + "; use an integer from 0 to " + MAX_N + ", e.g. 100000");
                return error;
            }
            n = (int) d;
        }
        JsonObject result = new JsonObject();
        result.addProperty("n", n);
        result.addProperty("count", countPrimes(n));
        return result;
    }
}
