<?php
// tinbao from PHP 7.4 or later, no extension beyond the defaults (json, hash, the http stream
// wrapper): posts a signed dossier event, reads its status, and verifies a call-back's signature
// (docs/api.md "Authentication", docs/openapi.yaml "webhooks").
//
//   TINBAO_URL=http://127.0.0.1:8080 TINBAO_TOKEN=... TINBAO_HMAC_SECRET=... php tinbao_client.php
//
// TINBAO_HMAC_SECRET is the client's `hmac_secret` (leave it unset for a client without one).
// EVENT_ID overrides the event id (default: example-php-<unix time>).

// A request signed with version 2 (method, path and query, timestamp, nonce, the body's SHA-256):
// valid once, and only for this route. Returns [status, decoded JSON body].
function tinbao_request(string $url, string $token, ?string $secret, string $method, string $path,
                        ?array $document = null): array
{
    $body = $document === null ? '' : json_encode($document, JSON_UNESCAPED_UNICODE);
    $headers = ['Authorization: Bearer ' . $token];
    if ($document !== null) {
        $headers[] = 'Content-Type: application/json';
    }
    if ($secret !== null && $secret !== '') {
        $ts = (string) time();
        $nonce = bin2hex(random_bytes(16));
        $text = implode("\n", ['v2', $method, $path, $ts, $nonce, hash('sha256', $body)]);
        $headers[] = 'X-Tinbao-Timestamp: ' . $ts;
        $headers[] = 'X-Tinbao-Nonce: ' . $nonce;
        $headers[] = 'X-Tinbao-Signature: v2=' . hash_hmac('sha256', $text, $secret);
    }
    $context = stream_context_create(['http' => [
        'method' => $method,
        'header' => implode("\r\n", $headers),
        'content' => $body,
        'timeout' => 10,
        'ignore_errors' => true,  // read the body of a 4xx/5xx too
        'protocol_version' => 1.1,
    ]]);
    $answer = @file_get_contents(rtrim($url, '/') . $path, false, $context);
    if ($answer === false) {
        fwrite(STDERR, "no answer from $url\n");
        exit(1);
    }
    // $http_response_header is set by the http stream wrapper: its first line is the status.
    preg_match('#^HTTP/\S+ (\d{3})#', $http_response_header[0], $m);
    return [(int) $m[1], json_decode($answer, true)];
}

// True when the call-back is genuine: one of the space-separated "v1,<base64>" signatures (two
// during a secret rotation) is HMAC-SHA256, keyed with the base64-decoded part of the secret
// after "whsec_", of "<webhook-id>.<webhook-timestamp>.<raw body>", and the timestamp is within
// 300 s of $now. $body is the raw body as received (file_get_contents('php://input')).
function tinbao_verify_callback(string $secret, string $id, string $timestamp, string $body,
                                string $signatureHeader, int $now): bool
{
    if (abs($now - (int) $timestamp) > 300) {
        return false;
    }
    $key = base64_decode(preg_replace('/^whsec_/', '', $secret), true);
    $expected = base64_encode(hash_hmac('sha256', "$id.$timestamp.$body", $key, true));
    foreach (preg_split('/ +/', trim($signatureHeader)) as $sig) {
        if (strncmp($sig, 'v1,', 3) === 0 && hash_equals($expected, substr($sig, 3))) {
            return true;
        }
    }
    return false;
}

$url = getenv('TINBAO_URL') ?: 'http://127.0.0.1:8080';
$token = getenv('TINBAO_TOKEN');
$secret = getenv('TINBAO_HMAC_SECRET') ?: null;
$eventId = getenv('EVENT_ID') ?: 'example-php-' . time();
$event = [
    'event_id' => $eventId,
    'dossier' => ['code' => '000.00.12.H62-261120-0007', 'status' => 'received',
                  'appointment_at' => '2026-11-30T14:00:00+07:00'],
    'applicant' => ['name' => 'Nguyễn Văn An', 'phone' => '0912345678'],
];

[$status, $answer] = tinbao_request($url, $token, $secret, 'POST', '/v1/events', $event);
echo "POST /v1/events: $status " . json_encode($answer) . "\n";
if ($status !== 202 && $status !== 200) {
    exit(1);
}
[$status, $record] = tinbao_request($url, $token, $secret, 'GET', '/v1/events/' . $eventId);
echo "GET /v1/events/$eventId: $status state=" . ($record['state'] ?? '') . "\n";
if ($status !== 200) {
    exit(1);
}

$sampleSecret = 'whsec_dGluYmFvLXNhbXBsZS1rZXktZm9yLWRvY3MtMDEyMyE=';
$sampleId = 'msg_2f6c1b0e9a7d4c3e';
$sampleTs = '1795749402';
$sampleBody = '{"kind":"message.delivered","event_id":"igate-2026-000123-result_ready",'
    . '"dossier_code":"000.00.12.H62-261120-0007","message_id":"mq3b2d6lkcx5yb4ffo2xqjq7aa",'
    . '"channel":"sms","state":"delivered","sequence":2}';
$sampleSig = 'v1,bm90IHRoZSBvbGQgc2VjcmV0J3Mgc2lnbmF0dXJlIQ== v1,ey/5pfkmleHgJV1W3QyFz7vjwv1jHNI+jZ/+iwNj3p8=';
// Or a call-back that tinbaod sent, given in the environment (README.md).
if (getenv('CALLBACK_BODY') !== false && getenv('CALLBACK_BODY') !== '') {
    $sampleSecret = getenv('CALLBACK_SECRET');
    $sampleId = getenv('CALLBACK_ID');
    $sampleTs = getenv('CALLBACK_TIMESTAMP');
    $sampleBody = getenv('CALLBACK_BODY');
    $sampleSig = getenv('CALLBACK_SIGNATURE');
}
$good = tinbao_verify_callback($sampleSecret, $sampleId, $sampleTs, $sampleBody, $sampleSig, (int) $sampleTs);
$bad = tinbao_verify_callback($sampleSecret, $sampleId, $sampleTs,
                              $sampleBody . ' ', $sampleSig, (int) $sampleTs);
echo 'sample call-back: ' . ($good ? 'valid' : 'invalid') . '; altered body: ' . ($bad ? 'valid' : 'invalid') . "\n";
exit($good && !$bad ? 0 : 1);
