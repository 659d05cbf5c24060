// tinbao from Java 11 or later (java.net.http, no library): posts a signed dossier event, reads
// its status, and verifies a call-back's signature (docs/api.md "Authentication",
// docs/openapi.yaml "webhooks"). One file, run without compiling first:
//
//   TINBAO_URL=http://127.0.0.1:8080 TINBAO_TOKEN=... TINBAO_HMAC_SECRET=... java TinbaoClient.java
//
// TINBAO_HMAC_SECRET is the client's `hmac_secret` (leave it unset for a client without one).
// EVENT_ID overrides the event id (default: example-java-<unix time>). A real client would build
// and read JSON with its own library (Jackson, Gson); this file keeps to the JDK.

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.Base64;
import java.util.HexFormat;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

public class TinbaoClient {
    private final HttpClient http =
            HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
                    .connectTimeout(Duration.ofSeconds(5)).build();
    private final String url;
    private final String token;
    private final String secret;  // null: the client does not sign

    TinbaoClient(String url, String token, String secret) {
        this.url = url.replaceAll("/+$", "");
        this.token = token;
        this.secret = secret == null || secret.isEmpty() ? null : secret;
    }

    static byte[] hmacSha256(byte[] key, byte[] data) throws Exception {
        Mac mac = Mac.getInstance("HmacSHA256");
        mac.init(new SecretKeySpec(key, "HmacSHA256"));
        return mac.doFinal(data);
    }

    // A request signed with version 2 (method, path and query, timestamp, nonce, the body's
    // SHA-256): valid once, and only for this route.
    HttpResponse<String> request(String method, String path, String json) throws Exception {
        byte[] body = json == null ? new byte[0] : json.getBytes(StandardCharsets.UTF_8);
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url + path))
                .timeout(Duration.ofSeconds(10))
                .header("Authorization", "Bearer " + token)
                .method(method, json == null ? HttpRequest.BodyPublishers.noBody()
                                             : HttpRequest.BodyPublishers.ofByteArray(body));
        if (json != null) b.header("Content-Type", "application/json");
        if (secret != null) {
            HexFormat hex = HexFormat.of();
            String ts = Long.toString(System.currentTimeMillis() / 1000);
            byte[] random = new byte[16];
            new SecureRandom().nextBytes(random);
            String nonce = hex.formatHex(random);
            String bodyHash = hex.formatHex(MessageDigest.getInstance("SHA-256").digest(body));
            String text = String.join("\n", "v2", method, path, ts, nonce, bodyHash);
            String sig = hex.formatHex(hmacSha256(secret.getBytes(StandardCharsets.UTF_8),
                                                  text.getBytes(StandardCharsets.UTF_8)));
            b.header("X-Tinbao-Timestamp", ts).header("X-Tinbao-Nonce", nonce)
             .header("X-Tinbao-Signature", "v2=" + sig);
        }
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
    }

    // True when the call-back is genuine: one of the space-separated "v1,<base64>" signatures
    // (two during a secret rotation) is HMAC-SHA256, keyed with the base64-decoded part of the
    // secret after "whsec_", of "<webhook-id>.<webhook-timestamp>.<raw body>", and the timestamp
    // is within 300 s of nowSeconds.
    static boolean verifyCallback(String secret, String id, String timestamp, byte[] body,
                                  String signatureHeader, long nowSeconds) throws Exception {
        if (Math.abs(nowSeconds - Long.parseLong(timestamp)) > 300) return false;
        byte[] key = Base64.getDecoder().decode(secret.replaceFirst("^whsec_", ""));
        byte[] prefix = (id + "." + timestamp + ".").getBytes(StandardCharsets.UTF_8);
        byte[] signed = new byte[prefix.length + body.length];
        System.arraycopy(prefix, 0, signed, 0, prefix.length);
        System.arraycopy(body, 0, signed, prefix.length, body.length);
        byte[] expected = hmacSha256(key, signed);
        for (String sig : signatureHeader.trim().split(" +")) {
            if (!sig.startsWith("v1,")) continue;
            byte[] given;
            try {
                given = Base64.getDecoder().decode(sig.substring(3));
            } catch (IllegalArgumentException e) {
                continue;
            }
            if (MessageDigest.isEqual(given, expected)) return true;
        }
        return false;
    }

    static String field(String json, String name) {
        Matcher m = Pattern.compile("\"" + name + "\"\\s*:\\s*\"([^\"]*)\"").matcher(json);
        return m.find() ? m.group(1) : null;
    }

    public static void main(String[] args) throws Exception {
        String url = System.getenv().getOrDefault("TINBAO_URL", "http://127.0.0.1:8080");
        TinbaoClient api = new TinbaoClient(url, System.getenv("TINBAO_TOKEN"),
                                            System.getenv("TINBAO_HMAC_SECRET"));
        String eventId = System.getenv("EVENT_ID");
        if (eventId == null || eventId.isEmpty())
            eventId = "example-java-" + System.currentTimeMillis() / 1000;
        String event = "{\"event_id\": \"" + eventId + "\","
                + " \"dossier\": {\"code\": \"000.00.12.H62-261120-0007\", \"status\": \"received\","
                + " \"appointment_at\": \"2026-11-30T14:00:00+07:00\"},"
                + " \"applicant\": {\"name\": \"Nguyễn Văn An\", \"phone\": \"0912345678\"}}";

        HttpResponse<String> posted = api.request("POST", "/v1/events", event);
        System.out.println("POST /v1/events: " + posted.statusCode() + " " + posted.body());
        if (posted.statusCode() != 202 && posted.statusCode() != 200) System.exit(1);

        HttpResponse<String> record = api.request("GET", "/v1/events/" + eventId, null);
        System.out.println("GET /v1/events/" + eventId + ": " + record.statusCode() + " state="
                           + field(record.body(), "state"));
        if (record.statusCode() != 200) System.exit(1);

        String secret = "whsec_dGluYmFvLXNhbXBsZS1rZXktZm9yLWRvY3MtMDEyMyE=";
        String id = "msg_2f6c1b0e9a7d4c3e";
        String ts = "1795749402";
        String body = "{\"kind\":\"message.delivered\",\"event_id\":\"igate-2026-000123-result_ready\","
                + "\"dossier_code\":\"000.00.12.H62-261120-0007\",\"message_id\":\"mq3b2d6lkcx5yb4ffo2xqjq7aa\","
                + "\"channel\":\"sms\",\"state\":\"delivered\",\"sequence\":2}";
        String header = "v1,bm90IHRoZSBvbGQgc2VjcmV0J3Mgc2lnbmF0dXJlIQ== "
                + "v1,ey/5pfkmleHgJV1W3QyFz7vjwv1jHNI+jZ/+iwNj3p8=";
        // Or a call-back that tinbaod sent, given in the environment (README.md).
        if (System.getenv("CALLBACK_BODY") != null && !System.getenv("CALLBACK_BODY").isEmpty()) {
            secret = System.getenv("CALLBACK_SECRET");
            id = System.getenv("CALLBACK_ID");
            ts = System.getenv("CALLBACK_TIMESTAMP");
            body = System.getenv("CALLBACK_BODY");
            header = System.getenv("CALLBACK_SIGNATURE");
        }
        long now = Long.parseLong(ts);
        boolean good = verifyCallback(secret, id, ts, body.getBytes(StandardCharsets.UTF_8),
                                      header, now);
        boolean bad = verifyCallback(secret, id, ts, (body + " ").getBytes(StandardCharsets.UTF_8),
                                     header, now);
        System.out.println("sample call-back: " + (good ? "valid" : "invalid")
                           + "; altered body: " + (bad ? "valid" : "invalid"));
        System.exit(good && !bad ? 0 : 1);
    }
}
