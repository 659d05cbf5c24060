// tinbao from C# (the .NET Framework 4 API: Mono's mcs and mono, or .NET as a console program):
// posts a signed dossier event, reads its status, and verifies a call-back's signature
// (docs/api.md "Authentication", docs/openapi.yaml "webhooks").
//
//   mcs -out:TinbaoClient.exe TinbaoClient.cs
//   TINBAO_URL=http://127.0.0.1:8080 TINBAO_TOKEN=... TINBAO_HMAC_SECRET=... mono TinbaoClient.exe
//
// TINBAO_HMAC_SECRET is the client's `hmac_secret` (leave it unset for a client without one).
// EVENT_ID overrides the event id (default: example-cs-<unix time>). A real client would build
// and read JSON with its own library (System.Text.Json, Newtonsoft.Json); this file keeps to the
// base library, so it builds with nothing but the compiler.

using System;
using System.IO;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

public static class TinbaoClient
{
    static string Hex(byte[] bytes)
    {
        return BitConverter.ToString(bytes).Replace("-", "").ToLowerInvariant();
    }

    static long UnixNow()
    {
        return (long)(DateTime.UtcNow - new DateTime(1970, 1, 1, 0, 0, 0, DateTimeKind.Utc)).TotalSeconds;
    }

    // A request signed with version 2 (method, path and query, timestamp, nonce, the body's
    // SHA-256): valid once, and only for this route. Returns the status; `answer` is the body.
    static int Request(string url, string token, string secret, string method, string path,
                       string json, out string answer)
    {
        byte[] body = json == null ? new byte[0] : Encoding.UTF8.GetBytes(json);
        var req = (HttpWebRequest)WebRequest.Create(url.TrimEnd('/') + path);
        req.Method = method;
        req.Timeout = 10000;
        req.ReadWriteTimeout = 10000;
        req.Headers["Authorization"] = "Bearer " + token;
        if (!string.IsNullOrEmpty(secret))
        {
            string ts = UnixNow().ToString();
            var random = new byte[16];
            using (var rng = RandomNumberGenerator.Create()) rng.GetBytes(random);
            string nonce = Hex(random);
            string bodyHash;
            using (var sha = SHA256.Create()) bodyHash = Hex(sha.ComputeHash(body));
            string text = string.Join("\n", "v2", method, path, ts, nonce, bodyHash);
            string sig;
            using (var mac = new HMACSHA256(Encoding.UTF8.GetBytes(secret)))
                sig = Hex(mac.ComputeHash(Encoding.UTF8.GetBytes(text)));
            req.Headers["X-Tinbao-Timestamp"] = ts;
            req.Headers["X-Tinbao-Nonce"] = nonce;
            req.Headers["X-Tinbao-Signature"] = "v2=" + sig;
        }
        if (json != null)
        {
            req.ContentType = "application/json";
            req.ContentLength = body.Length;
            using (var s = req.GetRequestStream()) s.Write(body, 0, body.Length);
        }
        HttpWebResponse resp;
        try
        {
            resp = (HttpWebResponse)req.GetResponse();
        }
        catch (WebException e)
        {
            resp = e.Response as HttpWebResponse;
            if (resp == null) throw;  // no answer at all (refused, timed out)
        }
        using (resp)
        using (var reader = new StreamReader(resp.GetResponseStream(), Encoding.UTF8))
        {
            answer = reader.ReadToEnd();
            return (int)resp.StatusCode;
        }
    }

    // True when the call-back is genuine: one of the space-separated "v1,<base64>" signatures
    // (two during a secret rotation) is HMAC-SHA256, keyed with the base64-decoded part of the
    // secret after "whsec_", of "<webhook-id>.<webhook-timestamp>.<raw body>", and the timestamp
    // is within 300 s of nowSeconds.
    public static bool VerifyCallback(string secret, string id, string timestamp, byte[] body,
                                      string signatureHeader, long nowSeconds)
    {
        if (Math.Abs(nowSeconds - long.Parse(timestamp)) > 300) return false;
        byte[] key = Convert.FromBase64String(secret.StartsWith("whsec_") ? secret.Substring(6) : secret);
        byte[] prefix = Encoding.UTF8.GetBytes(id + "." + timestamp + ".");
        var signed = new byte[prefix.Length + body.Length];
        Buffer.BlockCopy(prefix, 0, signed, 0, prefix.Length);
        Buffer.BlockCopy(body, 0, signed, prefix.Length, body.Length);
        byte[] expected;
        using (var mac = new HMACSHA256(key)) expected = mac.ComputeHash(signed);
        foreach (string sig in signatureHeader.Split(new[] { ' ' }, StringSplitOptions.RemoveEmptyEntries))
        {
            if (!sig.StartsWith("v1,")) continue;
            byte[] given;
            try { given = Convert.FromBase64String(sig.Substring(3)); }
            catch (FormatException) { continue; }
            if (given.Length != expected.Length) continue;
            int diff = 0;  // constant time: every byte is compared
            for (int i = 0; i < given.Length; i++) diff |= given[i] ^ expected[i];
            if (diff == 0) return true;
        }
        return false;
    }

    public static int Main()
    {
        string url = Environment.GetEnvironmentVariable("TINBAO_URL") ?? "http://127.0.0.1:8080";
        string token = Environment.GetEnvironmentVariable("TINBAO_TOKEN");
        string secret = Environment.GetEnvironmentVariable("TINBAO_HMAC_SECRET");
        string eventId = Environment.GetEnvironmentVariable("EVENT_ID");
        if (string.IsNullOrEmpty(eventId)) eventId = "example-cs-" + UnixNow();
        string ev = "{\"event_id\": \"" + eventId + "\","
            + " \"dossier\": {\"code\": \"000.00.12.H62-261120-0007\", \"status\": \"received\","
            + " \"appointment_at\": \"2026-11-30T14:00:00+07:00\"},"
            + " \"applicant\": {\"name\": \"Nguyễn Văn An\", \"phone\": \"0912345678\"}}";

        string answer;
        int status = Request(url, token, secret, "POST", "/v1/events", ev, out answer);
        Console.WriteLine("POST /v1/events: " + status + " " + answer);
        if (status != 202 && status != 200) return 1;

        status = Request(url, token, secret, "GET", "/v1/events/" + eventId, null, out answer);
        Match state = Regex.Match(answer, "\"state\"\\s*:\\s*\"([^\"]*)\"");
        Console.WriteLine("GET /v1/events/" + eventId + ": " + status + " state=" + state.Groups[1].Value);
        if (status != 200) return 1;

        string sampleSecret = "whsec_dGluYmFvLXNhbXBsZS1rZXktZm9yLWRvY3MtMDEyMyE=";
        string sampleId = "msg_2f6c1b0e9a7d4c3e";
        string sampleTs = "1795749402";
        string sampleBody = "{\"kind\":\"message.delivered\",\"event_id\":\"igate-2026-000123-result_ready\","
            + "\"dossier_code\":\"000.00.12.H62-261120-0007\",\"message_id\":\"mq3b2d6lkcx5yb4ffo2xqjq7aa\","
            + "\"channel\":\"sms\",\"state\":\"delivered\",\"sequence\":2}";
        string sampleSig = "v1,bm90IHRoZSBvbGQgc2VjcmV0J3Mgc2lnbmF0dXJlIQ== "
            + "v1,ey/5pfkmleHgJV1W3QyFz7vjwv1jHNI+jZ/+iwNj3p8=";
        // Or a call-back that tinbaod sent, given in the environment (README.md).
        if (!string.IsNullOrEmpty(Environment.GetEnvironmentVariable("CALLBACK_BODY"))) {
            sampleSecret = Environment.GetEnvironmentVariable("CALLBACK_SECRET");
            sampleId = Environment.GetEnvironmentVariable("CALLBACK_ID");
            sampleTs = Environment.GetEnvironmentVariable("CALLBACK_TIMESTAMP");
            sampleBody = Environment.GetEnvironmentVariable("CALLBACK_BODY");
            sampleSig = Environment.GetEnvironmentVariable("CALLBACK_SIGNATURE");
        }
        long now = long.Parse(sampleTs);
        bool good = VerifyCallback(sampleSecret, sampleId, sampleTs, Encoding.UTF8.GetBytes(sampleBody), sampleSig, now);
        bool bad = VerifyCallback(sampleSecret, sampleId, sampleTs,
                                  Encoding.UTF8.GetBytes(sampleBody + " "), sampleSig, now);
        Console.WriteLine("sample call-back: " + (good ? "valid" : "invalid") + "; altered body: " + (bad ? "valid" : "invalid"));
        return good && !bad ? 0 : 1;
    }
}
