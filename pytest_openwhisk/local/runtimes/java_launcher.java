// The Java launcher of the embedded OpenWhisk (driven by java_ruby_proxy.py, actionloop style).
//
// Usage: java -cp <launcher classes>:gson.jar JavaLauncher. Boots, then reads {"init": {"dir", "main", "env"}}
// on stdin, where main is "pkg.Class" or "pkg.Class#method" (default method "main"), as OpenWhisk's java
// runtime takes it; loads the action from DIR/action.jar (or DIR/classes), finds `public static JsonObject
// main(JsonObject)`, answers {"ok":true} on the result fd ($__OW_RESULT_FD) or {"error": ...}; then for
// every JSON line on stdin: exposes the keys other
// than "value" as __OW_<KEY> environment variables (System.getenv, like OpenWhisk's runtime does), calls
// the method, flushes System.out/err and writes the result as one JSON line. A failure (an exception, a null
// result) is the line "!" + message, which the proxy answers with 502 {"error": message} (a developer error,
// as OpenWhisk's java8action answers it): "An error has occurred while invoking the action (see logs for
// details): ..." (stack trace on stderr); an OutOfMemoryError prints the OOM marker and exits 137.
import com.google.gson.Gson;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.BufferedReader;
import java.io.File;
import java.io.FileOutputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.lang.reflect.Field;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

final class JavaLauncher {
    static final String OOM_MARKER = "MemoryError: the action exhausted its memory limit";

    private JavaLauncher() {}

    public static void main(String[] args) throws Exception {
        int fd = Integer.parseInt(System.getenv().getOrDefault("__OW_RESULT_FD", "3"));
        PrintStream out = new PrintStream(new FileOutputStream("/proc/self/fd/" + fd), true, "UTF-8");
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        // booted before the action is known (a stem cell): the first line is {"init": {"dir", "main", "env"}}
        String first = in.readLine();
        if (first == null) {
            return;
        }
        Method method;
        try {
            JsonObject init = JsonParser.parseString(first).getAsJsonObject().getAsJsonObject("init");
            Map<String, String> env = new HashMap<>();
            for (Map.Entry<String, JsonElement> e : init.getAsJsonObject("env").entrySet()) {
                env.put(e.getKey(), e.getValue().getAsString());
            }
            setEnv(env);
            method = load(init.get("dir").getAsString(), init.get("main").getAsString());
        } catch (Throwable t) {
            System.err.println("An error has occurred (see logs for details): " + t);
            t.printStackTrace();
            System.err.flush();
            JsonObject error = new JsonObject();
            error.addProperty("error", t.toString());
            out.println(error.toString());
            System.exit(1);
            return;
        }
        out.println("{\"ok\":true}");
        Gson gson = new Gson();
        String line;
        while ((line = in.readLine()) != null) {
            String answer;
            try {
                JsonObject request = JsonParser.parseString(line).getAsJsonObject();
                Map<String, String> env = new HashMap<>();
                for (Map.Entry<String, JsonElement> e : request.entrySet()) {
                    if (!e.getKey().equals("value")) {
                        JsonElement v = e.getValue();
                        String text = v.isJsonPrimitive() && v.getAsJsonPrimitive().isString() ? v.getAsString() : v.toString();
                        env.put("__OW_" + e.getKey().toUpperCase(), text);
                    }
                }
                setEnv(env);
                JsonElement value = request.has("value") ? request.get("value") : new JsonObject();
                Object result;
                if (value.isJsonArray()) { // as java8action: an array payload calls main(JsonArray)
                    Method forArray = method.getDeclaringClass().getMethod(method.getName(), JsonArray.class);
                    if (!Modifier.isStatic(forArray.getModifiers())) {
                        throw new NoSuchMethodException(method.getName());
                    }
                    result = forArray.invoke(null, value.getAsJsonArray());
                } else {
                    result = method.invoke(null, value.isJsonObject() ? value.getAsJsonObject() : new JsonObject());
                }
                if (result == null) {
                    throw new NullPointerException("The action returned null");
                }
                answer = gson.toJson(result);
            } catch (InvocationTargetException e) {
                Throwable cause = e.getCause();
                if (cause instanceof OutOfMemoryError) {
                    oom();
                }
                cause.printStackTrace();
                answer = "!An error has occurred while invoking the action (see logs for details): " + cause;
            } catch (OutOfMemoryError e) {
                oom();
                return;
            } catch (Exception e) {
                e.printStackTrace();
                answer = "!An error has occurred (see logs for details): " + e;
            }
            System.out.flush();
            System.err.flush();
            out.println(answer);
        }
    }

    static void oom() {
        System.err.println(OOM_MARKER);
        System.err.flush();
        Runtime.getRuntime().halt(137);
    }

    static Method load(String actionDir, String entry) throws Exception {
        if (entry.isEmpty()) {
            throw new IllegalArgumentException("no main class given; set the action's main to the class name");
        }
        String className = entry;
        String methodName = "main";
        int hash = entry.indexOf('#');
        if (hash >= 0) {
            className = entry.substring(0, hash);
            methodName = entry.substring(hash + 1);
        }
        List<URL> urls = new ArrayList<>();
        File jar = new File(actionDir, "action.jar");
        File classes = new File(actionDir, "classes");
        if (jar.isFile()) {
            urls.add(jar.toURI().toURL());
        }
        if (classes.isDirectory()) {
            urls.add(classes.toURI().toURL());
        }
        ClassLoader loader = new URLClassLoader(urls.toArray(new URL[0]), JavaLauncher.class.getClassLoader());
        Thread.currentThread().setContextClassLoader(loader);
        Class<?> cls = Class.forName(className, true, loader);
        Method method = cls.getMethod(methodName, JsonObject.class);
        if (!Modifier.isStatic(method.getModifiers())) {
            throw new NoSuchMethodException(className + "." + methodName + " must be static");
        }
        return method;
    }

    /** Put __OW_* entries into System.getenv() (the map is unmodifiable: reach into it, as OpenWhisk does). */
    @SuppressWarnings("unchecked")
    static void setEnv(Map<String, String> extra) throws Exception {
        Map<String, String> env = System.getenv();
        Field field = env.getClass().getDeclaredField("m");
        field.setAccessible(true);
        ((Map<String, String>) field.get(env)).putAll(extra);
    }
}
